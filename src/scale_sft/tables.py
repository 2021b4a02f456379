"""Plain-text tables for the command line: one column per run (or statistic), one row per metric.

Imports nothing from the package, so that every command (eval, compare, inspect-data, the demo) can print its
numbers the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def format_table(
    columns: Mapping[str, Mapping[str, float | int | None]],
    rows: Sequence[str],
    corner: str = "metric",
    precision: int = 3,
) -> str:
    """``columns[name][row]`` laid out with a column per ``name`` and a line per ``row``.

    Values print with ``precision`` decimals, right-aligned; a missing or None value prints as ``-``. ``corner``
    heads the column of row names.
    """
    cells = {
        name: [f"{value:.{precision}f}" if (value := values.get(row)) is not None else "-" for row in rows]
        for name, values in columns.items()
    }
    label_width = max(len(corner), *(len(row) for row in rows)) + 2
    widths = {name: max(10, len(name), *(len(c) for c in cells[name])) + 2 for name in columns}
    lines = [f"{corner:<{label_width}}" + "".join(f"{name:>{widths[name]}}" for name in columns)]
    for k, row in enumerate(rows):
        lines.append(
            f"{row:<{label_width}}" + "".join(f"{cells[name][k]:>{widths[name]}}" for name in columns)
        )
    return "\n".join(lines)
