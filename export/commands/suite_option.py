"""`--suite FILE`: run a command on the datasets of a suite file instead of the built-in suite.

Wiring it into a command is one decorator line among its options (below `@click.command`):

    @click.command("eval")
    @datasets_option
    @suite_option
    def command(datasets, ...):
        selected = resolve_datasets(datasets)

With `--suite`, the decorator loads the suite (one error line and exit 1 if it is bad,
before the command runs) and hands the command the chosen datasets in place of the
`--datasets` text, whose names then refer to the suite's tables; `resolve_datasets`
passes such a list through. `suite_provenance()` gives the suite's path and hash for
the command's output.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

_META_KEY = "vlmprune.suite"


def suite_option(f: Callable) -> Callable:
    @functools.wraps(f)
    def wrapper(*args: Any, suite_path: str | None = None, **kwargs: Any) -> Any:
        if suite_path is not None:
            from ..tasks.file_dataset import load_suite

            suite = load_suite(suite_path)
            kwargs["datasets"] = suite.select(kwargs.get("datasets"))
            click.get_current_context().meta[_META_KEY] = suite
        return f(*args, **kwargs)

    return click.option(
        "--suite",
        "suite_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="A suite file (TOML) of real benchmarks; --datasets then picks among its tables.",
    )(wrapper)


def current_suite() -> Any:
    """The suite the running command was given with --suite, or None."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_META_KEY) if ctx is not None else None


def suite_provenance() -> dict:
    """{"suite": path, "suite_hash": sha256} for the running command's output ({} without one)."""
    suite = current_suite()
    return {} if suite is None else {"suite": str(suite.path), "suite_hash": suite.hash}
