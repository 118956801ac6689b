"""Tiny benchmarks in their official file layouts, and suite files over them.

Each `write_<format>` writes its files under `root/<folder>` with tiny images and returns
the suite table (format and paths relative to `root`, where the suite file goes).
`write_seed_suite` writes the seed's eight datasets and their suite file in one call.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

COLORS = ("red", "green", "blue", "yellow", "white", "black", "orange", "purple")


def image(path: Path, index: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 12), COLORS[index % len(COLORS)]).save(path)


def dump(path: Path, payload: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))
    return path


def vqa_answers(*pairs: tuple[str, int]) -> list[dict]:
    """[("red", 2), ("blue", 8)] -> the 10 answer dicts of a VQA v2 annotation."""
    words = [w for w, n in pairs for _ in range(n)]
    return [
        {"answer": w, "answer_confidence": "yes", "answer_id": i + 1} for i, w in enumerate(words)
    ]


def default_vqa(n: int) -> list[dict]:
    """n questions: (question, answers as (word, count) pairs, answer_type, question_type)."""
    kinds = [("yes/no", "is the", (("yes", 10),)), ("number", "how many", (("2", 7), ("3", 3)))]
    kinds.append(("other", "what color", (("red", 2), ("blue", 8))))
    return [
        {"question": f"Question {i}?", "answers": kinds[i % 3][2], "answer_type": kinds[i % 3][0]}
        | {"question_type": kinds[i % 3][1]}
        for i in range(n)
    ]


def write_vqav2(root: Path, folder: str = "vqav2", subtype: str = "val2014", rows=None, n: int = 6):
    rows = rows if rows is not None else default_vqa(n)
    questions, annotations = [], []
    for i, row in enumerate(rows):
        qid, image_id = 1000 + i, 500 + i // 2  # two questions per image, as in VQA
        questions.append({"question_id": qid, "image_id": image_id, "question": row["question"]})
        annotations.append(
            {
                "question_id": qid,
                "image_id": image_id,
                "question_type": row["question_type"],
                "answer_type": row["answer_type"],
                "answers": vqa_answers(*row["answers"]),
                "multiple_choice_answer": row["answers"][0][0],
            }
        )
        image(root / "coco" / subtype / f"COCO_{subtype}_{image_id:012d}.jpg", i)
    q = dump(
        root / folder / f"OpenEnded_mscoco_{subtype}_questions.json",
        {"data_subtype": subtype, "task_type": "Open-Ended", "questions": questions},
    )
    a = dump(
        root / folder / f"mscoco_{subtype}_annotations.json",
        {"data_subtype": subtype, "annotations": annotations},
    )
    return {
        "format": "vqav2",
        "questions": _rel(q, root),
        "annotations": _rel(a, root),
        "images": f"coco/{subtype}",
    }


def write_textvqa(root: Path, n: int = 6, split: str = "val"):
    data = []
    for i in range(n):
        answers = ["stop"] + ["go"] * 9 if i == 0 else [f"word{i}"] * 10
        data.append(
            {
                "question_id": 34000 + i,
                "question": f"what does sign {i} say?",
                "image_id": f"img{i:04x}",
                "answers": answers,
                "set_name": split,
            }
        )
        image(root / "textvqa" / "train_images" / f"img{i:04x}.jpg", i)
    path = dump(
        root / "textvqa" / f"TextVQA_0.5.1_{split}.json",
        {
            "dataset_type": split,
            "dataset_name": "textvqa",
            "dataset_version": "0.5.1",
            "data": data,
        },
    )
    return {"format": "textvqa", "annotations": _rel(path, root), "images": "textvqa/train_images"}


def write_stvqa(root: Path, n: int = 6):
    data = []
    for i in range(n):
        file_path = f"coco-text/COCO_train2014_{i:012d}.jpg"
        data.append(
            {
                "question_id": 7000 + i,
                "question": f"what brand is shown {i}?",
                "answers": ["coffee"] if i == 0 else [f"brand{i}", f"Brand {i}"],
                "file_path": file_path,
                "dataset": "coco-text",
            }
        )
        image(root / "stvqa" / "train" / file_path, i)
    path = dump(root / "stvqa" / "train_task_3.json", {"data": data})
    return {"format": "stvqa", "annotations": _rel(path, root), "images": "stvqa/train"}


def write_docvqa(root: Path, n: int = 6, split: str = "val"):
    data = []
    for i in range(n):
        answers = ["$1,234", "1234"] if i == 0 else [f"answer {i}"]
        data.append(
            {
                "questionId": 9000 + i,
                "question": f"what is the total {i}?",
                "image": f"documents/doc{i}.png",
                "docId": i,
                "answers": answers,
                "data_split": split,
            }
        )
        image(root / "docvqa" / split / "documents" / f"doc{i}.png", i)
    path = dump(
        root / "docvqa" / split / f"{split}_v1.0.json",
        {"dataset_name": "docvqa", "dataset_split": split, "dataset_version": "1.0", "data": data},
    )
    return {"format": "docvqa", "annotations": _rel(path, root), "images": f"docvqa/{split}"}


def write_chartqa(root: Path, n: int = 3, split: str = "test"):
    tables = []
    for source in ("human", "augmented"):
        rows = [
            {"imgname": f"chart{i}.png", "query": f"{source} value {i}?", "label": str(14 + i)}
            for i in range(n)
        ]
        tables.append(_rel(dump(root / "chartqa" / split / f"{split}_{source}.json", rows), root))
    for i in range(n):
        image(root / "chartqa" / split / "png" / f"chart{i}.png", i)
    return {"format": "chartqa", "annotations": tables, "images": f"chartqa/{split}/png"}


def write_scienceqa(root: Path, n: int = 8):
    problems, splits = {}, {"train": [], "val": [], "test": []}
    for i in range(n):
        pid, split = str(i + 1), ("train", "val", "test")[i % 3]
        has_image = i % 4 != 3  # every fourth problem has no image: ScienceQA-IMG skips it
        problems[pid] = {
            "question": f"Which color is object {i}?",
            "choices": ["red", "green", "brown"],
            "answer": 2,
            "hint": "Look closely." if i % 2 else "",
            "image": "image.png" if has_image else None,
            "split": split,
            "subject": ("natural science", "social science")[i % 2],
            "grade": "grade3",
            "category": "Colors",
            "task": "closed choice",
        }
        splits[split].append(pid)
        if has_image:
            image(root / "scienceqa" / "images" / split / pid / "image.png", i)
    p = dump(root / "scienceqa" / "problems.json", problems)
    s = dump(root / "scienceqa" / "pid_splits.json", splits)
    return {
        "format": "scienceqa",
        "problems": _rel(p, root),
        "splits": _rel(s, root),
        "images": "scienceqa/images",
    }


def write_ai2d(root: Path, n: int = 3):
    for i in range(n):
        name = f"{i}.png"
        questions = {
            f"What is {letter} in diagram {i}?": {
                "abcLabel": True,
                "answerTexts": ["ears", "nose", "mouth", "face"],
                "correctAnswer": 3,
                "questionId": f"{name}-{k}",
            }
            for k, letter in enumerate("AB")
        }
        dump(
            root / "ai2d" / "questions" / f"{name}.json",
            {"imageName": name, "questions": questions},
        )
        image(root / "ai2d" / "images" / name, i)
    return {"format": "ai2d", "questions": "ai2d/questions", "images": "ai2d/images"}


def write_tallyqa(root: Path, n: int = 6):
    rows = []
    for i in range(n):
        rows.append(
            {
                "answer": 4 if i == 0 else i,
                "data_source": "amt" if i % 2 else "imported_genome",
                "image": f"VG_100K_2/{2410400 + i}.jpg",
                "image_id": 92410400 + i,
                "issimple": i % 2 == 0,
                "question": f"How many cars {i}?",
                "question_id": 30095770 + i,
            }
        )
        image(root / "tallyqa" / "images" / "VG_100K_2" / f"{2410400 + i}.jpg", i)
    path = dump(root / "tallyqa" / "test.json", rows)
    return {"format": "tallyqa", "annotations": _rel(path, root), "images": "tallyqa/images"}


def write_coco_captions(root: Path, n: int = 6, subtype: str = "val2014"):
    images, annotations = [], []
    for i in range(n):
        file_name = f"COCO_{subtype}_{i:012d}.jpg"
        images.append({"id": i, "file_name": file_name, "height": 12, "width": 16})
        captions = (
            ["a dog", "a dog"] if i == 0 else (["a cat"] if i == 1 else [f"thing {i} here"] * 2)
        )
        annotations += [
            {"id": 100 * i + k, "image_id": i, "caption": c} for k, c in enumerate(captions)
        ]
        image(root / "coco" / subtype / file_name, i)
    path = dump(
        root / "coco_captions" / f"captions_{subtype}.json",
        {"info": {}, "images": images, "annotations": annotations, "licenses": []},
    )
    return {"format": "coco_captions", "annotations": _rel(path, root), "images": f"coco/{subtype}"}


def write_karpathy(root: Path, n: int = 6):
    entries = []
    for i in range(n):
        split = ("train", "restval", "val", "test")[i % 4]
        folder = "val2014" if split != "train" else "train2014"
        filename = f"COCO_{folder}_{i:012d}.jpg"
        entries.append(
            {
                "filepath": folder,
                "filename": filename,
                "split": split,
                "cocoid": i,
                "imgid": i,
                "sentences": [{"raw": f"A photo number {i}.", "tokens": []}],
            }
        )
        image(root / "coco" / folder / filename, i)
    path = dump(root / "karpathy" / "dataset_coco.json", {"dataset": "coco", "images": entries})
    return {"format": "coco_captions", "annotations": _rel(path, root), "images": "coco"}


SEED_WRITERS = {
    "coco_2014_vqa": write_vqav2,
    "text_vqa": write_textvqa,
    "okvqa": lambda root: write_vqav2(root, folder="okvqa") | {"format": "okvqa"},
    "science_qa_img": write_scienceqa,
    "st_qa": write_stvqa,
    "doc_qa": write_docvqa,
    "tally_qa": write_tallyqa,
    "coco_caption": write_coco_captions,
}


def write_seed_suite(
    root: Path, calib: int = 2, test: int = 3, name: str = "suite.toml", **extra: object
) -> Path:
    """The seed's eight datasets (tiny), and a suite file drawing calib + test from each
    (`extra`: more keys for every table, e.g. max_new_tokens)."""
    tables = {
        ds: writer(root) | {"calib": calib, "test": test, **extra}
        for ds, writer in SEED_WRITERS.items()
    }
    return write_suite(root / name, tables)


def write_suite(path: Path, tables: dict[str, dict], **top: object) -> Path:
    lines = ["schema_version = 1"] + [f"{k} = {_toml(v)}" for k, v in top.items()]
    for name, table in tables.items():
        lines.append(f"\n[datasets.{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in table.items() if value is not None]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def one_dataset(root: Path, table: dict, calib: int = 1, test: int = 1, **extra: object):
    """A suite of one dataset `ds` over `table`, loaded: its FileDataset."""
    from vlmprune.export.tasks.file_dataset import load_suite

    path = write_suite(root / "suite.toml", {"ds": table | {"calib": calib, "test": test} | extra})
    return load_suite(path).datasets["ds"]


def record(dataset, key: str):
    """The record with `key` among all the dataset's records (whatever the draw)."""
    return next(r for r in dataset.pool().records if r.key == key)


def score(dataset, key: str, prediction: str) -> float:
    """The dataset's metric for one prediction on record `key` (not for CIDEr-D: corpus idf)."""
    from vlmprune.export.tasks.metrics import score_examples

    return score_examples(dataset.metric, [prediction], [record(dataset, key).answers])[0]


def load_json_file(path: Path) -> object:
    return json.loads(path.read_text())


# --- lmms-lab parquet copies (column names per hf_presets.py) ----------------------------


def _png(index: int) -> Image.Image:
    return Image.new("RGB", (16, 12), COLORS[index % len(COLORS)])


def _lmms_rows(preset: str, i: int) -> dict:
    vqa = {"question": f"Question {i}?", "question_id": 100 + i}
    rows = {
        "lmms-lab/VQAv2": lambda: (
            vqa
            | {
                "answers": vqa_answers(("red", 2), ("blue", 8)),
                "answer_type": ("yes/no", "other")[i % 2],
            }
        ),
        "lmms-lab/OK-VQA": lambda: vqa | {"answers": ["fish"] * 10},
        "lmms-lab/textvqa": lambda: vqa | {"answers": ["stop"] + ["go"] * 9},
        "lmms-lab/DocVQA": lambda: {
            "question": f"Total {i}?",
            "questionId": f"q{i}",
            "answers": ["$1,234", "1234"],
            "data_split": "val",
        },
        "lmms-lab/ChartQA": lambda: {
            "question": f"Value {i}?",
            "answer": "14",
            "type": ("human_test", "augmented_test")[i % 2],
        },
        "lmms-lab/ai2d": lambda: {
            "question": f"What is A {i}?",
            "options": ["ears", "nose", "face"],
            "answer": "2",
        },
        "lmms-lab/ScienceQA-IMG": lambda: {
            "question": f"Which color {i}?",
            "choices": ["red", "blue"],
            "answer": 1,
            "hint": "Look." if i % 2 else "",
        },
        "lmms-lab/COCO-Caption": lambda: {
            "question_id": f"COCO_val2014_{i:012d}.jpg",
            "answer": ["a dog"] * 5 if i == 0 else [f"thing {i}"] * 5,
        },
    }
    return rows[preset]() | {"image": _png(i)}


def write_lmms_parquet(root: Path, preset: str, n: int = 4, split: str = "validation") -> dict:
    """`n` rows of the preset's lmms-lab copy as <split>-00000-of-00001.parquet."""
    import datasets

    rows = [_lmms_rows(preset, i) for i in range(n)]
    table = {key: [r[key] for r in rows] for key in rows[0]}
    ds = datasets.Dataset.from_dict(table).cast_column("image", datasets.Image())
    folder = root / preset.split("/")[1] / "data"
    folder.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    return {
        "format": "hf",
        "preset": preset,
        "data_files": f"{folder.relative_to(root).as_posix()}/*.parquet",
    }
