"""`vlmprune profile`: latency per variant against the ideal N/(N-k) (no torch, no transformers).

Imports only vlmprune.runtime (onnxruntime, numpy, pillow, tokenizers) and, for `--plot`,
matplotlib, so it runs where only the runtime is installed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import VlmpruneError
from .options import manifest_option

if TYPE_CHECKING:
    from ...runtime.profiling.profiler import Profiler
    from ...runtime.profiling.report import ProfileReport

_MINIMUM = {"--runs": 1, "--warmup": 0, "--prompt-tokens": 1, "--new-tokens": 2, "--batch": 1}


@click.command("profile")
@manifest_option
@click.option("--variants", default="all", show_default=True, help="'all' or names: a,b.")
@click.option(
    "--provider",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="onnxruntime execution provider; cuda fails unless onnxruntime can use it.",
)
@click.option("--runs", type=int, default=10, show_default=True, help="Timed requests per variant.")
@click.option("--warmup", type=int, default=2, show_default=True, help="Untimed requests first.")
@click.option(
    "--prompt-tokens",
    type=int,
    default=32,
    show_default=True,
    help="Text tokens of the synthetic question (image tokens and template come on top).",
)
@click.option(
    "--new-tokens", type=int, default=32, show_default=True, help="Tokens decoded (EOS ignored)."
)
@click.option("--batch", type=int, default=1, show_default=True, help="Requests per batch.")
@click.option(
    "--interleave",
    is_flag=True,
    help="Keep every variant resident and time them round-robin (fairer ratios on a noisy "
    "machine; peak RSS is then that of all variants together).",
)
@click.option(
    "--fast", is_flag=True, help="Per-session weight prepacking instead of shared weights."
)
@click.option(
    "--threads", type=click.IntRange(min=0), default=0, help="Intra-op threads (0: ORT's)."
)
@click.option(
    "--cuda-graph",
    is_flag=True,
    help="With --provider cuda: replay each decode step as a CUDA graph (fp16 variants, "
    "`vlmprune export --dtype fp16`).",
)
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check of the files.")
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False), help="Write JSON here ('-': stdout)."
)
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a PNG (needs matplotlib).")
@click.option(
    "--write-manifest",
    is_flag=True,
    help="Store each variant's latency (with provider and device) in the manifest.",
)
@click.option(
    "--ort-profile",
    type=click.Path(file_okay=False),
    help="Also write onnxruntime per-operator profiles here (separate, untimed requests).",
)
def command(
    manifest_path: str,
    variants: str,
    provider: str,
    runs: int,
    warmup: int,
    prompt_tokens: int,
    new_tokens: int,
    batch: int,
    interleave: bool,
    fast: bool,
    threads: int,
    cuda_graph: bool,
    no_verify: bool,
    json_out: str | None,
    plot: str | None,
    write_manifest: bool,
    ort_profile: str | None,
) -> None:
    """Time every variant: vision encoder, prefill, time to first token, decode per token.

    Each variant runs --warmup untimed requests, then --runs timed ones of one synthetic
    shape (random image, --prompt-tokens random text tokens, exactly --new-tokens decoded);
    timings are p50/p90/p95/p99/mean over the timed requests. Speedups are decode ms/token
    against 'full' (else the least pruned variant, named in the output) next to the ideal
    N/(N-k) of the decoder part.

    \b
    Examples:
      vlmprune profile --manifest variants/demo/manifest.json
      vlmprune profile --manifest M --runs 20 --json profile.json --plot profile.png
      vlmprune profile --manifest M --variants full,generic --interleave --write-manifest
      vlmprune profile --manifest M --provider cuda --ort-profile ort-traces/
      vlmprune profile --manifest M --provider cuda --cuda-graph   # an fp16 export
    """
    from ...runtime import VlmRuntimeError
    from ...runtime.profiling.config import ExecutionProvider, ProfileConfig, Schedule
    from ...runtime.profiling.profiler import Profiler

    values = {"--runs": runs, "--warmup": warmup, "--prompt-tokens": prompt_tokens,
              "--new-tokens": new_tokens, "--batch": batch}  # fmt: skip
    for option, value in values.items():
        if value < _MINIMUM[option]:
            why = " (the first token comes from the prefill)" if option == "--new-tokens" else ""
            raise VlmpruneError(f"{option} must be >= {_MINIMUM[option]}, not {value}{why}")
    if cuda_graph and provider != "cuda":
        raise VlmpruneError("--cuda-graph needs --provider cuda")
    if plot:
        _require_matplotlib()
    names = (
        None if variants.strip() == "all" else [n.strip() for n in variants.split(",") if n.strip()]
    )
    config = ProfileConfig(
        runs=runs, warmup=warmup, prompt_tokens=prompt_tokens, new_tokens=new_tokens, batch=batch,
        schedule=Schedule.INTERLEAVED if interleave else Schedule.SEQUENTIAL,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # provider problems are errors here, raised by Profiler
        try:
            profiler = Profiler.open(
                manifest_path, config, ExecutionProvider(provider), share_weights=not fast,
                verify=not no_verify, threads=threads, cuda_graph=cuda_graph,
            )  # fmt: skip
            report = profiler.run(names)
            operators = _operator_profiles(profiler, report, ort_profile) if ort_profile else None
        except VlmRuntimeError as exc:
            raise VlmpruneError(str(exc)) from None
    payload = report.to_json()
    if operators is not None:
        payload["operator_profile"] = operators
    to_stderr = json_out == "-"  # stdout holds the JSON only
    if not to_stderr:
        _print_table(report, operators)
    if json_out:
        _write_json(json_out, payload)
    if plot:
        from .profile_plot import profile_plot

        profile_plot(payload, Path(plot))
        click.echo(f"plot: {plot}", err=to_stderr)
    if write_manifest:
        from ...runtime.profiling.latency import write_latency

        try:
            written = write_latency(report)
        except (VlmRuntimeError, OSError) as exc:
            raise VlmpruneError(f"--write-manifest: {exc}") from None
        click.echo(
            f"latency of {len(report.variants)} variant(s) written to {written}", err=to_stderr
        )


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise VlmpruneError(
            "--plot needs matplotlib, which is not installed here (pip install matplotlib)"
        ) from None


def _operator_profiles(profiler: Profiler, report: ProfileReport, folder: str) -> dict:
    from ...runtime.profiling.operators import operator_profiles

    return {
        v.name: [g.to_json(top=10) for g in operator_profiles(profiler, v.name, folder)]
        for v in report.variants
    }


def _write_json(target: str, payload: dict) -> None:
    text = json.dumps(payload, indent=2) + "\n"
    if target == "-":
        click.echo(text, nl=False)
        return
    from ..io import atomic_write_text

    try:
        atomic_write_text(target, text)
    except OSError as exc:
        raise VlmpruneError(f"--json {target}: cannot write ({exc})") from None
    click.echo(f"json: {target}")


def _print_table(report: ProfileReport, operators: dict | None) -> None:
    r, c = report, report.config
    ort_version = r.to_json()["onnxruntime"]
    click.echo(f"{r.manifest}: {r.provider} on {r.device}")
    click.echo(
        f"onnxruntime {ort_version}, {r.weights_mode.value} weights, {c.schedule.value}; "
        f"batch {c.batch}, prompt {r.prompt_length} tokens ({c.prompt_tokens} text), "
        f"{c.new_tokens} new tokens; {c.runs} timed runs after {c.warmup} warm-up"
    )
    click.echo(f"baseline: {r.baseline.why}")
    k_base = len(r.baseline.removed_blocks)
    ideal = "N/(N-k)" if not k_base else f"(N-{k_base})/(N-k)"
    click.echo(
        f"speedup = baseline decode ms/token p50 / the variant's; ideal = {ideal} of the "
        f"decoder part, N = {r.num_blocks} blocks"
    )
    head = (f"{'variant':<16} {'removed':<14} {'vision':>8} {'prefill':>8} {'TTFT':>8} "
            f"{'decode/tok':>10} {'tok/s':>7} {'speedup':>7} {'ideal':>6} {'of ideal':>8} "
            f"{'peak RSS':>9} {'PSS':>8}")  # fmt: skip
    click.echo(head)
    click.echo(f"{'':<16} {'':<14} {'ms':>8} {'ms':>8} {'ms':>8} {'ms':>10} {'':>7} "
               f"{'':>7} {'':>6} {'':>8} {'MiB':>9} {'MiB':>8}")  # fmt: skip
    for v in r.variants:
        t = {k: s.p50 for k, s in v.timings.items()}
        click.echo(
            f"{v.name:<16} {_blocks(v.removed_blocks):<14} {t['vision_ms']:>8.2f} "
            f"{t['prefill_ms']:>8.2f} {t['ttft_ms']:>8.2f} {t['decode_ms_per_token']:>10.3f} "
            f"{t['tokens_per_s']:>7.1f} {v.speedup_vs_full:>7.3f} {v.ideal_speedup:>6.3f} "
            f"{v.speedup_vs_full / v.ideal_speedup:>8.3f} {v.peak_rss_mib:>9.1f} "
            f"{_mib(v.pss_mib):>8}"
        )
    click.echo(
        f"(p50 values; peak RSS of {r.peak_rss_scope}; RSS counts memory-mapped shared weights "
        "once per session, PSS after the runs counts them once)"
    )
    click.echo(
        f"{'variant':<16} {'timing':<20} {'p50':>9} {'p90':>9} {'p95':>9} {'p99':>9} {'mean':>9}"
    )
    for v in r.variants:
        for key in ("ttft_ms", "decode_ms_per_token", "request_ms"):
            s = v.timings[key]
            click.echo(
                f"{v.name:<16} {key:<20} {s.p50:>9.3f} {s.p90:>9.3f} {s.p95:>9.3f} "
                f"{s.p99:>9.3f} {s.mean:>9.3f}"
            )
    if operators:
        for name, graphs in operators.items():
            decoder = graphs[-1]
            top = ", ".join(f"{o['op_type']} {o['share']:.0%}" for o in decoder["operators"][:5])
            click.echo(f"ORT profile {name}: {decoder['graph']}: {top} ({decoder['trace']})")


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _blocks(blocks: tuple[int, ...]) -> str:
    return ",".join(map(str, blocks)) if blocks else "-"
