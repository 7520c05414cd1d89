"""A bar chart of a report's ratios, with the accepted baseline and the targets."""

from __future__ import annotations

import json
from pathlib import Path


def plot_report(report_path: str, output: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = json.loads(Path(report_path).read_text())
    baseline_path = Path(__file__).parent / "baseline.json"
    accepted = json.loads(baseline_path.read_text())["benchmarks"] if baseline_path.exists() else {}
    names = list(report["benchmarks"])
    results = [report["benchmarks"][n] for n in names]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    positions = range(len(names))
    ax.barh(positions, [r["ratio"] for r in results], color="tab:blue", label="this run")
    ax.errorbar(
        [r["ratio"] for r in results],
        positions,
        xerr=[
            [r["ratio"] - r["ratio_min"] for r in results],
            [r["ratio_max"] - r["ratio"] for r in results],
        ],
        fmt="none",
        ecolor="black",
        capsize=3,
        label="min-max of rounds",
    )
    for y, name in enumerate(names):
        if name in accepted:
            ax.plot(accepted[name]["ratio"], y, "k|", markersize=18)
        if results[y]["target"] is not None:
            ax.plot(results[y]["target"], y, "r|", markersize=18)
    ax.plot([], [], "k|", label="accepted baseline")
    ax.plot([], [], "r|", label="target")
    ax.set_yticks(list(positions), names)
    ax.invert_yaxis()
    ax.set_xlabel("cost ratio (ours / baseline; lower is better)")
    ax.set_title(f"numsim benchmarks, {report['created']}")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(output, dpi=120)
