"""Suite files: parsing and its one-line errors, the calib/test draw, the hash, the CLI."""

from __future__ import annotations

import json
import os

import pytest
from cli_helpers import one_error_line
from click.testing import CliRunner
from formats.fixtures import (
    dump,
    load_json_file,
    one_dataset,
    write_seed_suite,
    write_suite,
    write_tallyqa,
    write_textvqa,
    write_vqav2,
)

from vlmprune.export.cli import main
from vlmprune.export.errors import VlmpruneError
from vlmprune.export.tasks.base import Split, TaskType
from vlmprune.export.tasks.file_dataset import load_suite
from vlmprune.export.tasks.metrics import Metric
from vlmprune.export.tasks.sampling import apportion
from vlmprune.export.tasks.suite_file import parse_suite

SEED_NAMES = [
    "coco_2014_vqa",
    "text_vqa",
    "okvqa",
    "science_qa_img",
    "st_qa",
    "doc_qa",
    "tally_qa",
    "coco_caption",
]


@pytest.fixture
def seed_suite(tmp_path):
    return write_seed_suite(tmp_path)


def test_the_seed_suite_loads_with_format_defaults(seed_suite):
    suite = load_suite(seed_suite)
    assert list(suite.datasets) == SEED_NAMES
    types = {d.name: d.task_type for d in suite.select()}
    assert types["doc_qa"] is TaskType.DOC_QA and types["tally_qa"] is TaskType.EXACT_MATCH
    assert len(set(types.values())) == 6  # the seed's six task types
    for dataset in suite.select():
        calib, test = dataset.draw().calib, dataset.draw().test
        assert (len(calib), len(test)) == (2, 3)
        assert not {r.key for r in calib} & {r.key for r in test}
        examples = list(dataset.examples(Split.TEST, limit=2))
        assert len(examples) == 2 and all(e.image.mode == "RGB" for e in examples)
        assert dataset.split_size(Split.CALIB) == 2


def test_overrides(tmp_path):
    ds = one_dataset(
        tmp_path,
        write_textvqa(tmp_path),
        task_type="vqa",
        metric="anls",
        prompt="Q: {question} A:",
        max_new_tokens=5,
        skill="mine",
    )
    assert (ds.task_type, ds.metric, ds.max_new_tokens, ds.skill) == (
        TaskType.VQA,
        Metric.ANLS,
        5,
        "mine",
    )
    assert next(ds.examples("test")).prompt.startswith("Q: what does sign")


def test_draw_is_seeded_disjoint_and_limit_is_a_prefix(tmp_path):
    table = write_tallyqa(tmp_path, n=40)
    first = one_dataset(tmp_path, table, calib=10, test=10)
    again = one_dataset(tmp_path, table, calib=10, test=10)
    assert [r.key for r in first.draw().test] == [r.key for r in again.draw().test]
    other = one_dataset(tmp_path, table, calib=10, test=10, seed=7)
    assert [r.key for r in other.draw().test] != [r.key for r in first.draw().test]
    assert [r.key for r in first.draw(seed=7).test] == [r.key for r in other.draw().test]
    calib = {r.key for r in first.draw().calib}
    assert len(calib) == 10 and not calib & {r.key for r in first.draw().test}
    keys = [e.key for e in first.examples("test")]
    assert [e.key for e in first.examples("test", limit=3)] == keys[:3]
    assert [d.key for d in first.drafts("test")] == keys  # prompts without images


def test_apportion_is_proportional_and_capped():
    assert apportion(5, {"a": 6, "b": 3, "c": 1}) == {"a": 3, "b": 2, "c": 0}
    assert apportion(10, {"a": 6, "b": 3, "c": 1}) == {"a": 6, "b": 3, "c": 1}
    assert sum(apportion(7, {"x": 3, "y": 3, "z": 3}).values()) == 7


def test_test_skips_records_repeating_a_calib_one(tmp_path):
    table = write_tallyqa(tmp_path, n=4)
    rows = load_json_file(tmp_path / table["annotations"])
    rows += [dict(r, question_id=r["question_id"] + 100) for r in rows]  # same content, new ids
    dump(tmp_path / table["annotations"], rows)
    ds = one_dataset(tmp_path, table, calib=2, test=2, stratify="none")
    calib, test = ds.draw().calib, ds.draw().test
    content = {(r.image.identity, r.fields["question"]) for r in calib}
    assert not content & {(r.image.identity, r.fields["question"]) for r in test}
    with pytest.raises(VlmpruneError, match=r"ds: calib and test would overlap"):
        one_dataset(tmp_path, table, calib=4, test=4, stratify="none").draw()


def test_no_train_split_for_file_datasets(tmp_path):
    ds = one_dataset(tmp_path, write_tallyqa(tmp_path))
    with pytest.raises(VlmpruneError, match=r"ds: a suite dataset has no train split"):
        list(ds.examples(Split.TRAIN, limit=1))
    with pytest.raises(VlmpruneError, match=r"unknown split 'dev'; expected calib or test"):
        ds.split_size("dev")


def _table(root, **change):
    table = write_vqav2(root) | {"calib": 1, "test": 1}
    return {k: v for k, v in (table | change).items() if v is not None}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "vqa2"}, r"\[datasets.ds\]: Unknown format 'vqa2'. Did you mean 'vqav2'"),
        ({"format": None}, r"\[datasets.ds\]: 'format' must name a format"),
        (
            {"metric": "vqa_acc"},
            r"\[datasets.ds\] metric: Unknown metric 'vqa_acc'. Did you mean 'vqa_accuracy'",
        ),
        (
            {"task_type": "vq"},
            r"\[datasets.ds\] task_type: unknown task_type 'vq'. Did you mean 'vqa'",
        ),
        (
            {"questions": "vqav2/nope.json"},
            r"\[datasets.ds\] questions: file 'vqav2/nope.json' not found",
        ),
        (
            {"questions": "vqav2/*.txt"},
            r"\[datasets.ds\] questions: no file matches 'vqav2/\*.txt'",
        ),
        ({"images": "coco/val2015"}, r"\[datasets.ds\] images: folder 'coco/val2015' not found"),
        ({"annotations": None}, r"\[datasets.ds\]: missing 'annotations'"),
        ({"calib": "3"}, r"\[datasets.ds\] calib: must be an integer, got '3'"),
        ({"test": -1}, r"\[datasets.ds\] test: must be at least 0, got -1"),
        ({"calib": 0, "test": 0}, r"\[datasets.ds\]: calib and test are both 0"),
        (
            {"calib": 5, "test": 2},
            r"ds: calib 5 \+ test 2 = 7 examples requested, but the files hold 6",
        ),
        ({"annotation": "x.json"}, r"unknown key 'annotation'. Did you mean 'annotations'"),
        (
            {"prompt": "{question} {hint}"},
            r"prompt: unknown placeholder \{hint\}; this format offers: \{question\}",
        ),
        ({"prompt": "{question"}, r"prompt: .*write \{\{ and \}\} for braces"),
        (
            {"stratify": "grade"},
            r"stratify: format 'vqav2' has no stratum 'grade'; use one of: answer_type, question_type, none",
        ),
        (
            {"split": "validation"},
            r"ds: split 'validation' is not in the files \(they have: val2014\)",
        ),
        ({"split": "train+"}, r"split: 'train\+' has an empty name"),
        ({"max_new_tokens": 0}, r"max_new_tokens: must be at least 1"),
    ],
)
def test_bad_tables_are_one_line_naming_table_and_key(tmp_path, change, message):
    path = write_suite(tmp_path / "suite.toml", {"ds": _table(tmp_path, **change)})
    with pytest.raises(VlmpruneError, match=message):
        load_suite(path).datasets["ds"].draw()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema_version = 1\n[datasets.a\n", r"suite.toml: not valid TOML \(.*line 2"),
        ("[datasets.a]\nformat = 'vqav2'\n", r"suite.toml: schema_version is missing; expected 1"),
        ("schema_version = 2\n", r"schema_version is 2; expected 1"),
        ("schema_version = 1\n", r"suite.toml: no \[datasets.<name>\] tables"),
        (
            "schema_version = 1\nsed = 3\n[datasets.a]\n",
            r"top level: unknown key 'sed'. Did you mean 'seed'",
        ),
    ],
)
def test_bad_suite_files(tmp_path, text, message):
    (tmp_path / "suite.toml").write_text(text)
    with pytest.raises(VlmpruneError, match=message):
        parse_suite(tmp_path / "suite.toml")
    with pytest.raises(VlmpruneError, match=r"nope.toml: no such suite file"):
        parse_suite(tmp_path / "nope.toml")


def test_suite_hash_follows_the_suite_and_its_data_files(seed_suite, tmp_path):
    first = load_suite(seed_suite).hash
    assert load_suite(seed_suite).hash == first
    annotations = tmp_path / "tallyqa" / "test.json"
    stat = annotations.stat()
    os.utime(annotations, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched = load_suite(seed_suite).hash
    assert touched != first
    # Images count by their folder's path only: replacing one changes nothing.
    (tmp_path / "tallyqa" / "images" / "VG_100K_2" / "2410400.jpg").write_bytes(b"x")
    assert load_suite(seed_suite).hash == touched
    seed_suite.write_text(seed_suite.read_text() + "\n# a comment\n")
    assert load_suite(seed_suite).hash != touched


def _run(*args):
    return CliRunner().invoke(main, list(args))


def test_tasks_lists_the_suite(seed_suite):
    text = _run("tasks", "--suite", str(seed_suite))
    assert text.exit_code == 0, text.output
    assert (
        "science_qa_img   scienceqa" in text.output
        and "8 datasets over 6 task types" in text.output
    )
    result = _run("tasks", "--suite", str(seed_suite), "--json")
    payload = json.loads(result.output)
    assert payload["suite_hash"] == load_suite(seed_suite).hash
    rows = {r["name"]: r for r in payload["datasets"]}
    assert list(rows) == SEED_NAMES
    assert rows["science_qa_img"]["skipped"] == 2 and rows["coco_caption"]["metric"] == "cider_d"
    assert all(r["splits"] == {"calib": 2, "test": 3} for r in rows.values())


def test_validate_reports_every_problem_one_line_each(seed_suite, tmp_path):
    ok = _run("suite", "validate", str(seed_suite))
    assert ok.exit_code == 0 and "8 datasets ok" in ok.output
    (tmp_path / "coco" / "val2014" / "COCO_val2014_000000000003.jpg").unlink()
    (tmp_path / "textvqa" / "train_images" / "img0001.jpg").unlink()
    vqa = tmp_path / "vqav2" / "mscoco_val2014_annotations.json"
    annotations = load_json_file(vqa)
    del annotations["annotations"][0]
    dump(vqa, annotations)
    (tmp_path / "docvqa" / "val" / "val_v1.0.json").write_text("{not json")
    bad = _run("suite", "validate", str(seed_suite))
    assert bad.exit_code == 1
    lines = [line for line in bad.output.splitlines() if ": " in line and "problem" not in line]
    assert sorted(lines) == sorted(
        [
            "coco_2014_vqa: OpenEnded_mscoco_val2014_questions.json question_id 1000: "
            "no annotation for this question in mscoco_val2014_annotations.json",
            "text_vqa: TextVQA_0.5.1_val.json question_id 34001: image "
            f"'{tmp_path / 'textvqa' / 'train_images' / 'img0001.jpg'}' not found",
            "doc_qa: val_v1.0.json: not valid JSON (Expecting property name enclosed in "
            "double quotes at line 1 column 2)",
            "coco_caption: captions_val2014.json image id 3: image "
            f"'{tmp_path / 'coco' / 'val2014' / 'COCO_val2014_000000000003.jpg'}' not found",
        ]
    )
    assert "4 problems in" in bad.output


def test_eval_on_the_seed_suite_end_to_end(seed_suite, one_torch_thread):
    result = _run(
        "eval",
        "--model",
        "demo",
        "--suite",
        str(seed_suite),
        "--split",
        "test",
        "--limit",
        "2",
        "--json",
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["suite"] == str(seed_suite) and len(payload["suite_hash"]) == 64
    rows = {r["dataset"]: r for r in payload["results"]}
    assert list(rows) == SEED_NAMES
    assert all(r["n"] == 2 and 0.0 <= r["score"] for r in rows.values())
    assert (
        rows["coco_caption"]["metric"] == "cider_d" and rows["tally_qa"]["metric"] == "exact_match"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--datasets", "text_vqaa"], "Unknown suite dataset 'text_vqaa'. Did you mean 'text_vqa'"),
        (["--split", "calib", "--datasets", "tally_qa"], "tally_qa: calib 2 + test 3"),
    ],
)
def test_eval_bad_suite_input_is_one_line(tmp_path, args, message):
    path = write_seed_suite(tmp_path, calib=2, test=3)
    if "tally_qa" in args:
        (tmp_path / "tallyqa" / "test.json").write_text(json.dumps([]))
        message = "tally_qa: calib 2 + test 3 = 5 examples requested, but the files hold 0"
    result = _run("eval", "--model", "demo", "--suite", str(path), "--limit", "1", *args)
    one_error_line(result, message)


def test_eval_of_an_empty_split_names_the_suite_file_and_key(tmp_path):
    path = write_seed_suite(tmp_path, calib=2, test=0)
    result = _run(
        "eval", "--model", "demo", "--suite", str(path), "--split", "test", "--limit", "1"
    )
    one_error_line(
        result,
        "coco_2014_vqa: the test split has 0 example(s); vlmprune eval needs at least 1 "
        f"({path}: [datasets.coco_2014_vqa] test)",
    )


def test_the_documented_seed_suite_uses_only_known_formats_and_keys():
    import re
    from pathlib import Path

    import tomllib

    from vlmprune.export.tasks.formats.catalog import get_format
    from vlmprune.export.tasks.suite_file import COMMON_KEYS

    doc = (Path(__file__).parents[3] / "docs" / "datasets.md").read_text()
    block = re.search(r"## The seed's eight datasets.*?```toml\n(.*?)```", doc, re.S).group(1)
    suite = tomllib.loads(block)
    assert list(suite["datasets"]) == SEED_NAMES
    for table in suite["datasets"].values():
        fmt = get_format(table["format"])
        allowed = set(COMMON_KEYS) | {p.name for p in fmt.paths} | set(fmt.options)
        assert set(table) <= allowed, set(table) - allowed
        assert table["calib"] == 3000


def test_dataset_fingerprint_follows_its_own_table_only(tmp_path):
    path = write_seed_suite(tmp_path)
    before = {n: d.fingerprint for n, d in load_suite(path).datasets.items()}
    path.write_text(
        path.read_text().replace(
            'images = "tallyqa/images"\ncalib = 2', 'images = "tallyqa/images"\ncalib = 1'
        )
    )
    after = {n: d.fingerprint for n, d in load_suite(path).datasets.items()}
    assert [n for n in SEED_NAMES if before[n] != after[n]] == ["tally_qa"]


def test_a_drawn_image_that_is_missing_stops_the_run(tmp_path):
    table = write_tallyqa(tmp_path, n=2)
    (tmp_path / "tallyqa" / "images" / "VG_100K_2" / "2410401.jpg").unlink()
    ds = one_dataset(tmp_path, table, calib=1, test=1)
    with pytest.raises(
        VlmpruneError, match=r"ds: test.json question_id 30095771: image '.*2410401.jpg' not found"
    ):
        ds.draw()
