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
the command's output. A command without `--datasets` (export: its datasets come from the
scores files) reads the suite with `current_dataset_suite()`, the built-in one without
`--suite`. Wrapping a group of shared options (search_cmd's `_common`), the decorator goes
above it, so that it sees the `--datasets` value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..tasks.suites import DatasetSuite

_META_KEY = "vlmprune.suite"


def suite_option(f: Callable) -> Callable:
    @functools.wraps(f)
    def wrapper(*args: Any, suite_path: str | None = None, **kwargs: Any) -> Any:
        if suite_path is not None:
            from ..tasks.file_dataset import load_suite

            suite = load_suite(suite_path)
            if "datasets" in kwargs:
                kwargs["datasets"] = suite.select(kwargs["datasets"])
            click.get_current_context().meta[_META_KEY] = suite
        return f(*args, **kwargs)

    return click.option(
        "--suite",
        "suite_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="A suite file (TOML) of real benchmarks in place of the built-in suite; "
        "--datasets (where the command has it) then picks among its tables.",
    )(wrapper)


def current_suite() -> Any:
    """The suite the running command was given with --suite, or None."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_META_KEY) if ctx is not None else None


def current_dataset_suite() -> DatasetSuite:
    """The running command's suite: the --suite file's, else the built-in suite."""
    from ..tasks.suites import DatasetSuite

    suite = current_suite()
    return DatasetSuite.builtin() if suite is None else DatasetSuite.of_file(suite)


def suite_provenance() -> dict:
    """{"suite": path, "suite_hash": sha256} for the running command's output ({} without one)."""
    return current_dataset_suite().provenance()
