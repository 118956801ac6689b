"""`vlmprune manifest validate` and `vlmprune manifest schema`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import VlmpruneError
from .options import json_option


@click.group("manifest")
def command() -> None:
    """Check a manifest written by `vlmprune export`, or print its JSON Schema.

    \b
    Examples:
      vlmprune manifest validate variants/demo/manifest.json
      vlmprune manifest schema > manifests/schema.json
    """


@command.command("validate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-load", is_flag=True, help="Skip loading every graph in onnxruntime (faster).")
@json_option
def validate(path: Path, no_load: bool, as_json: bool) -> None:
    """Schema, files present, sha256, graph I/O names and shapes; one line per problem.

    Exits 1 if anything is wrong.

    \b
    Examples:
      vlmprune manifest validate variants/demo/manifest.json
      vlmprune manifest validate variants/demo/manifest.json --no-load --json
    """
    from ..onnx.check import validate_manifest

    problems = validate_manifest(path, load_sessions=not no_load)
    if as_json:
        click.echo(
            json.dumps(
                {"manifest": str(path), "valid": not problems, "problems": problems}, indent=2
            )
        )
    else:
        for problem in problems:
            click.echo(f"{path}: {problem}", err=True)
        if not problems:
            click.echo(f"{path}: valid")
    if problems:
        raise VlmpruneError(f"{path}: {len(problems)} problem(s)")


@command.command("schema")
def schema() -> None:
    """Print the manifest's JSON Schema (the source of manifests/schema.json)."""
    from ..manifest.build import MANIFEST_SCHEMA

    click.echo(json.dumps(MANIFEST_SCHEMA, indent=2))
