"""`vlmprune.export.train` in one process: a tiny run writes a loadable model and resumes."""

import json

from vlmprune.export.models.loading import load_vlm
from vlmprune.export.train import TrainConfig, train


def test_tiny_run_writes_a_model_and_resumes_where_it_stopped(tmp_path):
    def config(total_steps):
        return TrainConfig(
            out=str(tmp_path / "model"),
            checkpoint=str(tmp_path / "ckpt"),
            size="tiny",
            total_steps=total_steps,
            batch_size=4,
            workers=0,
            eval_every=0,
            tokenizer_examples=20,
            warmup_steps=1,
        )

    messages = []
    train(config(2), log=messages.append)
    assert json.loads((tmp_path / "model" / "training.json").read_text())["step"] == 2
    assert load_vlm(str(tmp_path / "model")).num_blocks == 4
    train(config(4), log=messages.append)
    assert "resumed weights and optimizer at step 2" in messages
    assert json.loads((tmp_path / "ckpt" / "state.json").read_text())["step"] == 4
