"""``scale-sft compare``: several evaluation runs side by side, as a table and a bar chart.

The chart reads on its own: one panel per metric with what it measures in its title, each bar labelled with
its value, rates on a fixed 0-1 axis (a zero rate is a visible ``0.000`` at the bottom, not an empty axis) and
token counts on an axis from 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from scale_sft.evaluation.runner import TABLE_METRICS
from scale_sft.tables import format_table

# (metric, panel title, is a rate in [0, 1])
CHART_METRICS = (
    ("accuracy", "accuracy\n(share of answers correct)", True),
    ("malformed_rate", "malformed rate\n(share without a complete answer block)", True),
    ("think_tokens_mean", "THINK length\n(mean tokens up to </think>)", False),
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


def chart(runs: dict[str, dict]):
    """The bar chart of ``runs`` (a matplotlib ``Figure``): one panel per chart metric, one bar per run.

    A run without a metric gets no bar and the label ``n/a`` rather than a bar at zero.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(runs)
    fig, axes = plt.subplots(1, len(CHART_METRICS), figsize=(4.5 * len(CHART_METRICS), 4))
    for ax, (key, title, is_rate) in zip(axes, CHART_METRICS, strict=True):
        values = [runs[n].get(key) for n in names]
        bars = ax.bar(
            range(len(names)),
            [0.0 if v is None else v for v in values],
            color=[f"C{i}" for i in range(len(names))],
        )
        labels = ["n/a" if v is None else f"{v:.3f}" if is_rate else f"{v:.1f}" for v in values]
        ax.bar_label(bars, labels=labels, padding=2)
        top = max((v for v in values if v is not None), default=0.0)
        ax.set_ylim(0, 1.1 if is_rate else max(top * 1.15, 1.0))
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_runs(runs: dict[str, dict], path: str | Path) -> None:
    """Write ``chart(runs)`` to ``path`` (PNG)."""
    fig = chart(runs)
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

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


@dataclass
class CompareArguments:
    """``scale-sft compare``: which evaluation runs, and where the chart goes."""

    runs: list[str] = field(
        metadata={"help": "Directories written by `scale-sft eval --output_dir`.", "positional": True}
    )
    output: str | None = field(
        default=None, metadata={"help": "PNG chart to write (a .txt table is written beside)."}
    )


def compare_command(args: CompareArguments) -> str:
    """``scale-sft compare``: ``compare`` the runs."""
    return compare(args.runs, args.output)
