"""``scale-sft compare``: several evaluation runs side by side, as a table and a bar chart."""

from __future__ import annotations

import json
from pathlib import Path

from scale_sft.evaluation.runner import TABLE_METRICS, format_table

CHART_METRICS = (
    ("accuracy", "accuracy"),
    ("malformed_rate", "malformed rate"),
    ("think_tokens_mean", "THINK tokens"),
)


def load_runs(run_dirs: list[str]) -> dict[str, dict]:
    """``{run name: overall metrics}`` from each directory's ``metrics.json`` (name = directory name)."""
    runs = {}
    for run_dir in run_dirs:
        path = Path(run_dir, "metrics.json")
        if not path.is_file():
            raise FileNotFoundError(
                f"{run_dir} has no metrics.json (run `scale-sft eval --output_dir` first)."
            )
        name = Path(run_dir).name
        if name in runs:
            name = str(Path(run_dir))
        runs[name] = json.loads(path.read_text())["overall"]
    return runs


def plot_runs(runs: dict[str, dict], path: str | Path) -> None:
    """One bar panel per chart metric, one bar per run, each bar labelled with its value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CHART_METRICS), figsize=(4 * len(CHART_METRICS), 3.5))
    names = list(runs)
    for ax, (key, label) in zip(axes, CHART_METRICS, strict=True):
        values = [runs[n].get(key) or 0.0 for n in names]
        bars = ax.bar(range(len(names)), values, color=[f"C{i}" for i in range(len(names))])
        ax.bar_label(bars, fmt="%.3g", fontsize=8)  # values on the bars: readable without the table
        ax.set_ylim(0, max(values) * 1.15 or 1.0)  # a zero rate shows as zero, not as an axis around it
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
        ax.set_title(label)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def compare(run_dirs: list[str], output: str | None = None) -> str:
    """Print the runs' overall metrics side by side; write the chart to ``output`` (PNG) if given."""
    runs = load_runs(run_dirs)
    table = format_table(runs, TABLE_METRICS)
    print(table)
    if output is not None:
        plot_runs(runs, output)
        Path(output).with_suffix(".txt").write_text(table + "\n")
    return table
