"""Export variants of a model with the builder's pipeline, sized for tests (importable from
every test folder: pytest puts tests/ on sys.path via conftest)."""

from pathlib import Path


def export_variants(vlm, out: Path, specs, datasets, examples: int, **kwargs) -> Path:
    """run_export with `examples` parity and score examples (and batch); returns the manifest."""
    from vlmprune.export.onnx.pipeline import run_export
    from vlmprune.export.onnx.settings import ExportSettings

    settings = ExportSettings(
        out=out,
        manifest=out / "manifest.json",
        datasets=tuple(datasets),
        parity_examples=examples,
        score_examples=examples,
        batch_size=examples,
        progress=False,
    )
    return run_export(vlm, specs, settings, log=lambda _: None, **kwargs).manifest
