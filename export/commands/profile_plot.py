"""The PNG of `vlmprune profile`: latency per variant with the ideal N/(N-k) line (matplotlib)."""

from __future__ import annotations

from pathlib import Path


def profile_plot(report: dict, path: Path) -> Path:
    """Decode ms/token per variant with the ideal line, TTFT per variant, and the measured
    decode speedup against blocks removed with the ideal (N - k_base) / (N - k) line.
    Bars are p50 with whiskers to p90. `report` is ProfileReport.to_json()."""
    import matplotlib

    matplotlib.use("Agg")  # no display on build machines
    import matplotlib.pyplot as plt

    variants = sorted(report["variants"], key=lambda v: (len(v["removed_blocks"]), v["name"]))
    names = [v["name"] for v in variants]
    base = next(v for v in variants if v["name"] == report["baseline"]["name"])
    x = list(range(len(variants)))
    fig, (decode, ttft, speed) = plt.subplots(1, 3, figsize=(6 + 1.6 * len(variants), 4.5))
    _bars(decode, x, variants, "decode_ms_per_token", "tab:blue")
    ideal = [base["decode_ms_per_token"]["p50"] / v["ideal_speedup"] for v in variants]
    decode.plot(x, ideal, "k--", marker="o", markersize=4, label="ideal: baseline / speedup")
    decode.set_title("Decode ms per token")
    decode.legend(fontsize=8, loc="lower left")
    _bars(ttft, x, variants, "ttft_ms", "tab:orange")
    ttft.set_title("Time to first token, ms")
    for ax in (decode, ttft):
        ax.set_xticks(x, names, rotation=30, ha="right")
    decode.set_ylabel("milliseconds (p50, whisker to p90)")
    ks = [len(v["removed_blocks"]) for v in variants]
    measured = [v["speedup_vs_full"] for v in variants]
    n, k_base = report["num_blocks"], len(report["baseline"]["removed_blocks"])
    line = sorted(set(ks) | {k_base})
    formula = "N / (N - k)" if not k_base else f"(N - {k_base}) / (N - k)"
    ideal_speedups = [(n - k_base) / (n - k) for k in line]
    label = f"ideal {formula}, N = {n}"
    speed.plot(line, ideal_speedups, "k--", marker="o", markersize=3, label=label)
    speed.scatter(ks, measured, color="tab:blue", zorder=3, label="measured (decode p50)")
    for k, value, name in zip(ks, measured, names, strict=True):
        speed.annotate(name, (k, value), textcoords="offset points", xytext=(4, -10), fontsize=7)
    speed.set_xlabel("blocks removed (k)")
    speed.set_ylabel(f"speedup vs '{report['baseline']['name']}'")
    speed.set_title("Decode speedup vs ideal")
    speed.legend(fontsize=8)
    fig.suptitle(f"{report['provider']} on {report['device']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _bars(ax: object, x: list[int], variants: list[dict], key: str, colour: str) -> None:
    p50 = [v[key]["p50"] for v in variants]
    above = [v[key]["p90"] - v[key]["p50"] for v in variants]
    ax.bar(x, p50, 0.6, yerr=[[0] * len(p50), above], color=colour, capsize=3)
