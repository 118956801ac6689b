"""The `vlmprune` command line: a thin click group; each command lives in commands/.

Heavy imports (torch, transformers) happen inside commands, so `vlmprune run` and
`--help` work in an environment that has only the runtime's dependencies.
"""

from __future__ import annotations

import click

from . import __version__
from .errors import VlmpruneError


class _Group(click.Group):
    """Turns VlmpruneError into one line on stderr and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except VlmpruneError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vlmprune")
def main() -> None:
    """Depth-prune vision-language models per task, export ONNX variants, run them on device.

    \b
    Examples:
      vlmprune tasks
      vlmprune eval --model demo --split test
      vlmprune eval --model demo --remove 3,4 --datasets shapes_vqa,code_match --limit 200
    """


def _register() -> None:
    # Each command module imports torch (if at all) inside its command, so `vlmprune run`
    # and `vlmprune profile` work where only the runtime's dependencies are installed.
    from .commands import (
        eval_cmd,
        export_cmd,
        manifest_cmd,
        profile_cmd,
        run_cmd,
        search_cmd,
        suite_cmd,
        tasks_cmd,
        train_cmd,
    )

    for command in (
        tasks_cmd.command,
        suite_cmd.group,
        eval_cmd.command,
        train_cmd.command,
        search_cmd.scores_command,
        search_cmd.search_command,
        search_cmd.compare_command,
        export_cmd.command,
        manifest_cmd.command,
        run_cmd.command,
        profile_cmd.command,
    ):
        main.add_command(command)


_register()


if __name__ == "__main__":  # `python -m vlmprune.export.cli` where the package is not installed
    main()
