"""Result tables: the rows written to metrics.json / metrics.csv and the console table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: Columns of the console comparison table: (header, metric key, format).
TABLE_COLUMNS = (
    ("scheduler", "scheduler", "{}"),
    ("on time", "served", "{:d}"),
    ("late", "late", "{:d}"),
    ("refused", "refused", "{:d}"),
    ("thr req/s", "throughput_rps", "{:.3f}"),
    ("E kJ", "energy_j", "{:.1f}"),
    ("E_tran kJ", "energy_tran_j", "{:.3f}"),
    ("E_infer kJ", "energy_infer_j", "{:.1f}"),
    ("E_idle kJ", "energy_idle_j", "{:.1f}"),
    ("p95 s", "latency_p95_s", "{:.1f}"),
    ("regret req", "regret_requests", "{:.0f}"),
    ("pseudo req", "pseudo_regret_requests", "{:.1f}"),
    ("E gap", "energy_gap", "{:.2f}"),
)
_KILO = {"energy_j", "energy_tran_j", "energy_infer_j", "energy_idle_j"}


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key in _KILO:
        value = value / 1e3
    return fmt.format(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width text table of the main metrics, one line per scheduler."""
    cols = [c for c in TABLE_COLUMNS if any(c[1] in r for r in rows)]
    cells = [[h for h, _, _ in cols]] + [[_cell(r, k, f) for _, k, f in cols] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cols))]
    lines = []
    for n, line in enumerate(cells):
        parts = [line[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(parts))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
