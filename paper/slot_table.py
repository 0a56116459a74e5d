"""Print the slot-length table (on-time requests per scheduler for each round length and for
continuous mode, mean and 95% interval over seeds) from ``paper/results/slots.csv``.

    python -m paper.slot_table [--rate 2] [--results paper/results/slots.csv]
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from paper.figures import SLOT_LENGTHS, mean_ci, ordered


def slot_markdown(table: pd.DataFrame, rate: float, metric: str = "served") -> str:
    """A Markdown table: schedulers by rows, service models by columns, ``mean +- ci``."""
    sub = table[table["workload.rate_rps"] == rate]
    stats = mean_ci(sub, ["slot", "scheduler"], metric)
    slots = [*SLOT_LENGTHS, "continuous"]
    heads = [f"rounds {SLOT_LENGTHS[s]} s" if s in SLOT_LENGTHS else s for s in slots]
    lines = ["| scheduler | " + " | ".join(heads) + " |", "|---" * (len(slots) + 1) + "|"]
    for name in ordered(sub["scheduler"].unique()):
        cells = []
        for s in slots:
            row = stats[(stats.slot == s) & (stats.scheduler == name)]
            cells.append(
                f"{row['mean'].iloc[0]:.0f} +- {row['ci'].iloc[0]:.0f}" if len(row) else "-"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=2.0)
    ap.add_argument("--metric", default="served")
    ap.add_argument("--results", default="paper/results/slots.csv")
    args = ap.parse_args(argv)
    try:
        table = pd.read_csv(args.results)
    except FileNotFoundError:
        print(f"slot_table: error: {args.results} not found; run perllm-opt-paper", file=sys.stderr)
        return 2
    print(slot_markdown(table, args.rate, args.metric), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
