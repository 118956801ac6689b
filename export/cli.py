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
    from .commands import eval_cmd, search_cmd, tasks_cmd, train_cmd

    for module in (tasks_cmd, eval_cmd, train_cmd):
        main.add_command(module.command)
    for command in (
        search_cmd.scores_command,
        search_cmd.search_command,
        search_cmd.compare_command,
    ):
        main.add_command(command)
    main.add_command(__import__(f"{__package__}.commands.run_cmd", fromlist=["_"]).command)
    __import__(f"{__package__}.commands.export_cmd", fromlist=["_"]).register(main)


_register()


if __name__ == "__main__":  # `python -m vlmprune.export.cli` where the package is not installed
    main()
