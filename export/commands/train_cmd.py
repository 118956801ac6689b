"""`vlmprune train`: train a LLaVA-architecture VLM from scratch on the task suite."""

from __future__ import annotations

import click


@click.command("train")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Model folder to write."
)
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(file_okay=False),
    help="Resumable state folder (weights, optimizer, step); reused if present.",
)
@click.option("--size", type=click.Choice(["tiny", "demo"]), default="demo", show_default=True)
@click.option("--total-steps", type=click.IntRange(min=1), default=12000, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=14, show_default=True)
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Checkpoint and stop after this wall time (to fit a time-limited machine).",
)
@click.option("--eval-every", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--compile/--no-compile",
    default=False,
    show_default=True,
    help="torch.compile the training loss (fewer kernel launches per step; compiles first).",
)
@click.option(
    "--init-from",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Start from this model folder's weights and tokenizer (fresh optimizer and schedule).",
)
def command(**kwargs: object) -> None:
    """Train from scratch on the suite's train split (streamed); resumes from --checkpoint.

    Under torchrun each process trains on one GPU (data-parallel, --batch-size per
    process); docs/demo-model.md records the run that produced the embedded demo.

    \b
    Examples:
      vlmprune train --out build/demo --checkpoint build/ckpt --max-minutes 9
      vlmprune train --size tiny --out /tmp/t --checkpoint /tmp/c --total-steps 20 --workers 0
      vlmprune train --out build/demo2 --checkpoint build/ckpt2 --init-from build/demo \\
          --batch-size 1024 --lr 2e-3 --compile
      torchrun --nproc_per_node 4 -m vlmprune.export.cli train --out build/demo \\
          --checkpoint build/ckpt --batch-size 128 --workers 14
    """
    from ..train.loop import TrainConfig, train

    cfg = TrainConfig(**{k: v for k, v in kwargs.items() if v is not None}, mixture=DEMO_MIXTURE)
    train(cfg, log=lambda m: click.echo(m, err=True))


# Reading tasks and the option letters learn slowest (docs/demo-model.md), so the mixture
# favours them.
DEMO_MIXTURE = {
    "shapes_vqa": 0.6,
    "count_vqa": 1.0,
    "scene_captions": 0.7,
    "receipts_docqa": 1.5,
    "bar_charts": 1.3,
    "option_mcq": 1.8,
    "code_match": 1.2,
    "sign_textvqa": 2.0,
}
