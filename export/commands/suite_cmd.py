"""`vlmprune suite validate` and `vlmprune tasks --suite`: suite files of real benchmarks."""

from __future__ import annotations

import json

import click


@click.group("suite")
def group() -> None:
    """Suite files: real benchmarks (VQAv2, TextVQA, DocVQA...) in their official formats.

    \b
    Examples:
      vlmprune suite validate benchmarks.toml
      vlmprune tasks --suite benchmarks.toml
      vlmprune eval --model demo --suite benchmarks.toml --split test
    """


@group.command("validate")
@click.argument("suite_file", type=click.Path(dir_okay=False))
def validate_command(suite_file: str) -> None:
    """Check every key, file, annotation and image of a suite; one line per problem.

    \b
    Examples:
      vlmprune suite validate benchmarks.toml
    """
    from ..tasks.suite_check import check_suite

    report = check_suite(suite_file)
    for line in report.problems:
        click.echo(line)
    if report.problems:
        count = len(report.problems)
        click.echo(f"{count} problem{'s' * (count != 1)} in {suite_file}", err=True)
        raise SystemExit(1)
    for d in report.datasets:
        skipped = f", {d.skipped} skipped" if d.skipped else ""
        click.echo(f"{d.name}: ok ({d.records} records{skipped}; calib {d.calib}, test {d.test})")
    click.echo(f"{suite_file}: {len(report.datasets)} datasets ok")


def list_suite(suite_file: str, as_json: bool) -> None:
    """`vlmprune tasks --suite`: the suite's datasets with their split sizes after the draw."""
    from ..tasks.base import Split
    from ..tasks.file_dataset import load_suite

    suite = load_suite(suite_file)
    rows = []
    for d in suite.select():
        pool = d.pool()
        rows.append(
            {
                "name": d.name,
                "format": d.spec.format.name,
                "task_type": d.task_type.value,
                "metric": d.metric.value,
                "splits": {s.value: d.split_size(s) for s in (Split.CALIB, Split.TEST)},
                "records": len(pool.records),
                "skipped": pool.skipped,
                "stratify": d.spec.stratify,
                "fingerprint": d.fingerprint,
                "skill": d.skill,
            }
        )
    if as_json:
        payload = {"suite": suite_file, "suite_hash": suite.hash, "datasets": rows}
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(
        f"{'dataset':<16} {'format':<14} {'task type':<16} {'metric':<17} "
        f"{'calib':>6} {'test':>6} {'records':>8}  skill"
    )
    for r in rows:
        s = r["splits"]
        click.echo(
            f"{r['name']:<16} {r['format']:<14} {r['task_type']:<16} {r['metric']:<17} "
            f"{s['calib']:>6} {s['test']:>6} {r['records']:>8}  {r['skill']}"
        )
    types = {r["task_type"] for r in rows}
    click.echo(f"{len(rows)} datasets over {len(types)} task types; suite hash {suite.hash[:12]}")
