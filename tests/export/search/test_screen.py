"""`vlmprune search --screen nll|kl --verify-top M` on the tiny model: the teacher-forced
measures against a direct computation, the shortlist against exact mode, and bad input."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vlmprune.export.cli import main

DATASETS = "shapes_vqa,bar_charts"


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _log_probs(vlm, row, prompt_len, blocks):
    """(A + 1, V) log-probs after the prompt's last token and each fed answer token."""
    with torch.no_grad(), vlm.adapter.removed(vlm.model, blocks):
        hidden = vlm.adapter.decoder(vlm.model)(inputs_embeds=row).last_hidden_state
        logits = vlm.adapter.lm_head(vlm.model)(hidden[0, prompt_len - 1 :])
    return torch.log_softmax(logits.float(), -1)


@pytest.mark.parametrize("measure", ["nll", "kl"])
def test_teacher_forced_values_equal_a_direct_computation(tiny_vlm, measure):
    from vlmprune.export.evaluation.evaluate import Evaluator
    from vlmprune.export.evaluation.teacher_forced import TeacherForced, scored_reference
    from vlmprune.export.tasks.base import Split
    from vlmprune.export.tasks.catalog import as_dataset

    vlm, removed = tiny_vlm, (1,)
    evaluator = Evaluator(vlm, batch_size=3)  # 4 examples: a full batch and a partial one
    prepared = evaluator.prepare(as_dataset("shapes_vqa"), Split.CALIB, 4)
    got = TeacherForced(evaluator, measure).per_example(prepared, removed)

    expected = []
    greedy = evaluator.greedy_ids(prepared, ()) if measure == "kl" else None
    embeds = torch.cat([b[0] for b in prepared.batches])
    mask = torch.cat([b[1] for b in prepared.batches])
    for i in range(prepared.n):
        real = mask[i].bool()
        if measure == "nll":
            text = scored_reference(prepared.references[i], "x")
            answer = vlm.tokenizer.encode(" " + text, add_special_tokens=False).ids + [vlm.eos_id]
        else:
            answer = greedy[i] + ([vlm.eos_id] if len(greedy[i]) < prepared.max_new_tokens else [])
        fed = vlm.model.get_input_embeddings()(torch.tensor(answer[:-1], dtype=torch.long))
        row = torch.cat([embeds[i][real], fed])[None]  # no padding at all

        pruned = _log_probs(vlm, row, int(real.sum()), removed)
        if measure == "nll":
            expected.append(float(-pruned[torch.arange(len(answer)), answer].mean()))
        else:
            ref = _log_probs(vlm, row, int(real.sum()), ())
            expected.append(float((ref.exp() * (ref - pruned)).sum(-1).mean()))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert (got > 0).all()


def _search(tiny_model_dir, tmp_path, *extra):
    scores = tmp_path / "scores"
    result = _run(
        "search", "--model", tiny_model_dir, "--datasets", DATASETS, "--limit", 4,
        "--max-remove", 3, "--beam-width", 2, "--scores-dir", scores,
        "--cache-dir", tmp_path / "cache", "--json", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.output), scores / tiny_model_dir.name


def test_screening_verifies_fewer_sets_and_a_wide_shortlist_equals_exact(tiny_model_dir, tmp_path):
    exact, folder = _search(tiny_model_dir, tmp_path / "exact")
    assert "screen" not in json.loads((folder / "generic.json").read_text())["search"]
    narrow, folder = _search(
        tiny_model_dir, tmp_path / "narrow", "--screen", "nll", "--verify-top", 1
    )
    recorded = json.loads((folder / "generic.json").read_text())["search"]["screen"]
    assert recorded["measure"] == "nll" and recorded["verify_top"] == 1
    assert recorded["verified"] < recorded["candidates"]
    assert narrow["stats"]["computed"] < exact["stats"]["computed"]
    assert narrow["stats"]["teacher_forced_passes"] > 0
    # M at least the children of any beam entry (4 blocks): every candidate is verified
    wide, _ = _search(tiny_model_dir, tmp_path / "wide", "--screen", "kl", "--verify-top", 4)
    assert wide["best"] == exact["best"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--verify-top", 2], "--verify-top"),
        (["--screen", "nll", "--verify-top", 0], "--verify-top"),
        (["--screen", "nll", "--exhaustive"], "--exhaustive"),
    ],
)
def test_bad_screen_options_are_one_line(tiny_model_dir, tmp_path, extra, message):
    result = _run(
        "search", "--model", tiny_model_dir, "--datasets", DATASETS, "--limit", 2,
        "--scores-dir", tmp_path / "s", "--cache-dir", tmp_path / "c", *extra,
    )  # fmt: skip
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "s").exists()
