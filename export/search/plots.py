"""PNG plots for the compare report (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")  # no display on build machines
    import matplotlib.pyplot as plt

    return plt


def loo_heatmap(report: dict, path: Path) -> Path:
    plt = _pyplot()
    names = list(report["leave_one_out"])
    data = np.array([report["leave_one_out"][n] for n in names]) * 100
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * data.shape[1], 1.2 + 0.45 * len(names)))
    image = ax.imshow(data, cmap="magma_r", aspect="auto")
    ax.set_xticks(range(data.shape[1]), [str(b) for b in range(data.shape[1])])
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("removed block")
    ax.set_title("Leave-one-out relative drop (% of unpruned calib score)")
    for i in range(data.shape[0]):
        best = int(np.argmin(data[i]))
        ax.add_patch(plt.Rectangle((best - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="cyan", lw=2))
    fig.colorbar(image, ax=ax, label="% drop")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def gap_plot(report: dict, path: Path) -> Path:
    plt = _pyplot()
    rows = report["per_dataset"]
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    ks = sorted({r["k"] for r in rows})
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(names), 4))
    width = 0.8 / len(ks)
    for j, k in enumerate(ks):
        sel = [next(r for r in rows if r["dataset"] == n and r["k"] == k) for n in names]
        gaps = [r["gap"] / r["base_score"] * 100 if r["base_score"] else 0 for r in sel]
        err = (
            np.array(
                [[(r["gap"] - r["gap_ci95"][0]), (r["gap_ci95"][1] - r["gap"])] for r in sel]
            ).T
            / np.array([max(r["base_score"], 1e-9) for r in sel])
            * 100
        )
        x = np.arange(len(names)) + (j - (len(ks) - 1) / 2) * width
        ax.bar(x, gaps, width, yerr=err, capsize=2, label=f"k={k}")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("specific − generic (% of unpruned test score)")
    ax.set_title("Accuracy cost of the generic set, measured on the test split (95% CI)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
