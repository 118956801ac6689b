"""`vlmprune tasks`: the datasets of the suite."""

from __future__ import annotations

import json

import click

from .options import json_option
from .suite_cmd import list_suite


@click.command("tasks")
@json_option
@click.option("--suite", "suite_file", type=click.Path(dir_okay=False), help="A suite file.")
def command(as_json: bool, suite_file: str | None) -> None:
    """List the suite's datasets: task type, metric, split sizes.

    \b
    Examples:
      vlmprune tasks
      vlmprune tasks --json | jq '.[].name'
      vlmprune tasks --suite benchmarks.toml
    """
    if suite_file is not None:
        return list_suite(suite_file, as_json)
    from ..tasks.base import Split
    from ..tasks.catalog import all_datasets

    rows = [
        {
            "name": d.name,
            "task_type": d.task_type.value,
            "metric": d.metric.value,
            "splits": {s.value: d.split_size(s) for s in (Split.CALIB, Split.TEST)},
            "skill": d.skill,
        }
        for d in all_datasets()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'dataset':<16} {'task type':<16} {'metric':<17} {'calib':>6} {'test':>6}  skill")
    for r in rows:
        s = r["splits"]
        click.echo(
            f"{r['name']:<16} {r['task_type']:<16} {r['metric']:<17} {s['calib']:>6} {s['test']:>6}  {r['skill']}"
        )
    types = {r["task_type"] for r in rows}
    click.echo(f"{len(rows)} datasets over {len(types)} task types")
