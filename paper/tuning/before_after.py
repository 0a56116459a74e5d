"""Before/after table of the tuning studies: on-time requests and energy per on-time request
per scheduler, mean +- 95% Student-t interval over the reported seeds, from two sweeps
collected by ``perllm-opt-collect`` (each sweeping ``workload.rate_rps`` and
``system.mode``), and CS-UCB's lead over the best rival in each setting. Prints Markdown.

    python paper/tuning/before_after.py multirun/eval/before multirun/eval/after
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

KEYS = ["system.mode", "workload.rate_rps"]


def load(sweep: Path) -> pd.DataFrame:
    """The sweep's ``summary.csv`` with its setting columns named as in ``KEYS``."""
    path = sweep / "summary.csv"
    if not path.is_file():
        sys.exit(f"error: {path} not found: run perllm-opt-collect {sweep} first")
    table = pd.read_csv(path)
    rename = {k.split(".")[-1]: k for k in KEYS if k.split(".")[-1] in table.columns}
    table = table.rename(columns=rename)
    missing = [k for k in KEYS if k not in table.columns]
    if missing:
        sys.exit(f"error: {path} does not sweep {missing}; columns: {list(table.columns)}")
    return table


def cell(row: pd.Series) -> str:
    return (
        f"{row.served_mean:,.1f} +- {row.served_ci95:,.1f} "
        f"({row.energy_per_served_j_mean:,.0f} +- {row.energy_per_served_j_ci95:,.0f} J)"
    )


def table(before: pd.DataFrame, after: pd.DataFrame) -> str:
    """One row per setting and scheduler: before and after, and CS-UCB's lead."""
    lines = [
        "| mode | req/s | scheduler | before: on time (J per on-time) "
        "| after: on time (J per on-time) |",
        "|---|---|---|---|---|",
    ]
    leads = []
    for (mode, rate), b in before.groupby(KEYS, sort=True):
        a = after[(after[KEYS[0]] == mode) & (after[KEYS[1]] == rate)]
        for name in b.sort_values("served_mean", ascending=False).scheduler:
            rb = b[b.scheduler == name].iloc[0]
            ra = a[a.scheduler == name]
            lines.append(
                f"| {mode} | {rate:g} | {name} | {cell(rb)} | "
                f"{cell(ra.iloc[0]) if len(ra) else '-'} |"
            )
        for label, t in (("before", b), ("after", a)):
            if "cs_ucb" not in set(t.scheduler):
                continue
            ours = float(t[t.scheduler == "cs_ucb"].served_mean.iloc[0])
            rivals = t[t.scheduler != "cs_ucb"]
            best = rivals.loc[rivals.served_mean.idxmax()]
            leads.append(
                f"- {mode} @ {rate:g} req/s, {label}: cs_ucb {ours:,.1f} vs best rival "
                f"{best.scheduler} {best.served_mean:,.1f}: "
                f"{100 * (ours / best.served_mean - 1):+.1f}%"
            )
    return "\n".join([*lines, "", *leads])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    print(table(load(args.before), load(args.after)))


if __name__ == "__main__":
    main()
