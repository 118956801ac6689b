"""`vlmprune.export.train.loop` in one process: a tiny run writes a loadable model and resumes."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import vlmprune.export
from vlmprune.export.errors import ModelLoadError
from vlmprune.export.models.loading import load_vlm
from vlmprune.export.train.loop import TrainConfig, _rewarm, train


def _tiny(tmp_path, name, **overrides):
    settings = dict(
        out=str(tmp_path / name / "model"),
        checkpoint=str(tmp_path / name / "ckpt"),
        size="tiny",
        total_steps=2,
        batch_size=4,
        workers=0,
        eval_every=0,
        tokenizer_examples=20,
        warmup_steps=1,
    )
    return TrainConfig(**{**settings, **overrides})


def test_tiny_run_writes_a_model_and_resumes_where_it_stopped(tmp_path):
    messages = []
    out = train(_tiny(tmp_path, "run", total_steps=2), log=messages.append)
    assert json.loads((out / "training.json").read_text())["step"] == 2
    assert load_vlm(str(out)).num_blocks == 4
    train(_tiny(tmp_path, "run", total_steps=4), log=messages.append)
    assert "resumed weights and optimizer at step 2" in messages
    assert json.loads((tmp_path / "run" / "ckpt" / "state.json").read_text())["step"] == 4


def test_init_from_starts_from_that_models_weights_and_tokenizer(tmp_path):
    source = train(_tiny(tmp_path, "source"), log=lambda _: None)
    messages = []
    # lr 0: AdamW (decoupled weight decay included) leaves the weights where they started.
    out = train(_tiny(tmp_path, "next", init_from=str(source), lr=0.0), log=messages.append)
    assert any(m.startswith("initialised from") for m in messages)
    assert (out / "tokenizer.json").read_text() == (source / "tokenizer.json").read_text()
    start, end = load_file(source / "model.safetensors"), load_file(out / "model.safetensors")
    assert start.keys() == end.keys()
    assert all(torch.equal(start[name], end[name]) for name in start)


def test_init_from_a_model_of_another_size_is_one_clear_error(tmp_path):
    demo = Path(vlmprune.export.__file__).parent / "models" / "demo"
    with pytest.raises(ModelLoadError, match=r"--init-from .*demo: not a model of this size"):
        train(_tiny(tmp_path, "bad", init_from=str(demo)), log=lambda _: None)


def test_learning_rate_warms_up_again_after_a_resume_without_optimizer_state():
    cfg = TrainConfig(out="o", checkpoint="c", warmup_steps=4)
    assert [_rewarm(step, 10, cfg) for step in range(10, 15)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert _rewarm(3, None, cfg) == 1.0
