"""Option groups shared by several commands, and parsers for their values."""

from __future__ import annotations

from collections.abc import Callable

import click

from ..errors import VlmpruneError


def model_option(f: Callable) -> Callable:
    return click.option(
        "--model",
        "model_spec",
        default="demo",
        show_default=True,
        help="'demo' (the embedded model) or a model folder of a supported architecture "
        "(config.json, weights, tokenizer; docs/architecture.md lists what each needs).",
    )(f)


def device_option(f: Callable) -> Callable:
    return click.option(
        "--device",
        type=click.Choice(["cpu", "cuda"]),
        default="cpu",
        show_default=True,
        help="Where PyTorch evaluation runs.",
    )(f)


def manifest_option(f: Callable) -> Callable:
    return click.option(
        "--manifest",
        "manifest_path",
        required=True,
        type=click.Path(dir_okay=False),
        help="A manifest written by `vlmprune export`.",
    )(f)


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(f)


def parse_blocks(text: str | None, option: str = "--remove") -> tuple[int, ...]:
    """'3,4' -> (3, 4); range checks happen against the model (adapter.validate)."""
    if text is None or not text.strip():
        return ()
    blocks = []
    for token in text.split(","):
        token = token.strip()
        try:
            blocks.append(int(token))
        except ValueError:
            raise VlmpruneError(
                f"{option}: '{token}' is not a block index (e.g. {option} 3,4)"
            ) from None
    return tuple(blocks)


def resolve_device(device: str) -> str:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise VlmpruneError("--device cuda: no CUDA device is available to PyTorch here")
    return device


def resolve_datasets(spec: str | None) -> list:
    """'all' / None / 'a,b' / 'mine.jsonl' -> dataset objects (suite names or JSONL files)."""
    from ..tasks.catalog import get_dataset, parse_dataset_names

    if isinstance(spec, list):  # already datasets: chosen from a suite file by --suite
        return spec
    if spec and any(s.strip().endswith(".jsonl") for s in spec.split(",")):
        from ..tasks.jsonl import JsonlDataset

        out = []
        for s in (s.strip() for s in spec.split(",") if s.strip()):
            out.append(JsonlDataset(s) if s.endswith(".jsonl") else get_dataset(s))
        return out
    return [get_dataset(n) for n in parse_dataset_names(spec)]


def datasets_option(f: Callable) -> Callable:
    return click.option(
        "--datasets",
        default="all",
        show_default=True,
        help="Comma-separated suite dataset names, 'all', or JSONL files of your own.",
    )(f)
