"""Wall-clock figures, kept apart from results: ``metrics.json`` and every results table are
then byte-identical for the same config and seed, and the timings go to ``timings.json`` (one
run) and ``timings.csv`` (a collected sweep)."""

from __future__ import annotations

import sys
from typing import Any

#: The file of a run directory that holds its wall-clock figures.
TIMINGS_FILE = "timings.json"

#: Keys of a result row that are wall-clock seconds (simulation, MILP build, solve, solver).
ROW_TIMING_KEYS = ("sim_s", "build_s", "solve_s", "solver_s")
#: Keys of a run's summary that vary from machine to machine: wall-clock seconds, and the
#: process's peak resident memory.
SUMMARY_TIMING_KEYS = (
    "build_s",
    "total_s",
    "optimal_build_s",
    "optimal_solve_s",
    "peak_rss_gb",
)


def peak_rss_gb() -> float | None:
    """Peak resident memory of this process so far, GB (None where the OS does not say):
    in a sweep whose worker runs several jobs, the peak of all of them so far."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9


def split_rows(
    rows: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``rows`` without their timing keys, and one ``{"scheduler", <timing keys>}`` per row
    that had any."""
    results, timings = [], []
    for row in rows:
        results.append({k: v for k, v in row.items() if k not in ROW_TIMING_KEYS})
        times = {k: row[k] for k in ROW_TIMING_KEYS if k in row}
        if times:
            timings.append({"scheduler": row.get("scheduler"), **times})
    return results, timings


def split_summary(summary: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``summary`` without its timing keys, and those keys."""
    return (
        {k: v for k, v in summary.items() if k not in SUMMARY_TIMING_KEYS},
        {k: summary[k] for k in SUMMARY_TIMING_KEYS if k in summary},
    )
