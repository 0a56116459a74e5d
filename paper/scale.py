"""The scale experiment's table and figures (``perllm-opt -m +experiment=scale``; issue 26).

``python -m paper.scale [SWEEP_DIR]`` (default ``multirun/scale``) reads each run of the
sweep and writes ``paper/results/scale.csv`` (one row per run and scheduler: on-time
requests, requests simulated per second, and the optimum's plan, proven bound, certified
gap, build and solve seconds, and the run's peak memory), ``paper/figures/fig_scale_*``
(on-time requests per scheduler against the optimum's plan and bound; simulation speed),
and prints the table as Markdown. Runs not finished are named and left out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import yaml
from matplotlib.figure import Figure

from paper.cli import save_figure
from paper.figures import color, ordered
from perllm_opt.cli.files import write_atomic

HERE = Path(__file__).resolve().parent


def _system(cfg: dict, summary: dict) -> str:
    topo = cfg["topology"]
    name = topo.get("network") or str(topo.get("preset", "?")).upper()
    return f"{name}-{int(summary['servers']) - 1}"


def run_rows(run: Path) -> list[dict]:
    """One row per scheduler of the finished run ``run`` (the optimum's row first), with
    the run's sizes, timings and peak memory."""
    cfg = yaml.safe_load((run / "resolved_config.yaml").read_text("utf-8"))
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    metrics = json.loads((run / "metrics.json").read_text("utf-8"))
    timings = json.loads((run / "timings.json").read_text("utf-8"))
    sim_s = {r["scheduler"]: r.get("sim_s") for r in timings["rows"]}
    opt = next((r for r in timings["rows"] if r["scheduler"] == "optimal"), {})
    rows = []
    for m in metrics:
        name = m["scheduler"]
        rows.append(
            {
                "system": _system(cfg, summary),
                "rate_rps": float(cfg["workload"]["rate_rps"]),
                "horizon_s": float(cfg["horizon_s"]),
                "requests": int(summary["requests"]),
                "options": int(summary["options"]),
                "scheduler": name,
                "on_time": int(m["served"]),
                "energy_kj": float(m["energy_j"]) / 1e3,
                "sim_s": sim_s.get(name),
                "sim_rps": int(summary["requests"]) / sim_s[name] if sim_s.get(name) else None,
                "served_bound": m.get("served_bound") if name == "optimal" else None,
                "certified_gap": m.get("certified_gap") if name == "optimal" else None,
                "optimum_build_s": opt.get("build_s") if name == "optimal" else None,
                "optimum_solve_s": opt.get("solve_s") if name == "optimal" else None,
                "total_s": timings["summary"].get("total_s"),
                "peak_rss_gb": timings["summary"].get("peak_rss_gb"),
            }
        )
    return rows


def collect_scale(sweep: Path) -> tuple[pd.DataFrame, list[str]]:
    """Every finished run below ``sweep`` as one table, and the runs left out."""
    rows, missing = [], []
    for run in sorted(p for p in sweep.iterdir() if p.is_dir() and p.name != ".hydra"):
        if not (run / "metrics.json").is_file() or not (run / "timings.json").is_file():
            missing.append(run.name)
            continue
        rows.extend(run_rows(run))
    return pd.DataFrame(rows), missing


def _panels(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    keys = table[["system", "rate_rps"]].drop_duplicates().sort_values(["system", "rate_rps"])
    return [
        (f"{s}, {r:g} req/s", table[(table.system == s) & (table.rate_rps == r)])
        for s, r in keys.itertuples(index=False)
    ]


def _bars(table: pd.DataFrame, column: str, xlabel: str, optimum: bool) -> Figure:
    """One panel per system and rate: ``column`` per scheduler as horizontal bars, in the
    paper's order and colours; with ``optimum`` the optimum's row too and its proven bound
    (dashed line), else a log scale without it."""
    panels = _panels(table)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for ax, (title, run) in zip(axes[0], panels, strict=True):
        shown = run if optimum else run[(run.scheduler != "optimal") & run[column].notna()]
        names = ordered(shown.scheduler)
        by = shown.set_index("scheduler")[column]
        ax.barh(names, [float(by[n]) for n in names], color=[color(n) for n in names])
        opt = run[run.scheduler == "optimal"]
        if optimum and len(opt) and opt.served_bound.notna().all():
            ax.axvline(float(opt.served_bound.iloc[0]), ls="--", c="k", lw=1, label="bound")
            ax.legend(loc="lower right", fontsize=8)
        if not optimum:
            ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_title(f"{title}\n{int(run.requests.iloc[0]):,} requests", fontsize=9)
        ax.set_xlabel(xlabel)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def fig_on_time(table: pd.DataFrame) -> Figure:
    """On-time requests per scheduler, one panel per system and rate, with the optimum's
    plan (its bar) and proven bound (dashed line)."""
    return _bars(table, "on_time", "on-time requests", optimum=True)


def fig_speed(table: pd.DataFrame) -> Figure:
    """Requests simulated per second per scheduler (log scale), one panel per run."""
    return _bars(table, "sim_rps", "requests simulated per second", optimum=False)


def markdown(table: pd.DataFrame) -> str:
    """One line per run: sizes, the optimum, the best scheduler and CS-UCB, speeds, memory."""
    head = (
        "| system, rate | requests | options | optimum: plan <= bound (gap) | optimum build + "
        "solve | best scheduler; cs_ucb | sim req/s: cs_ucb, oracle_milp, fastest | run | "
        "peak RSS |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for title, run in _panels(table):
        by = run.set_index("scheduler")
        opt = by.loc["optimal"]
        rest = by.drop(index="optimal")
        best = rest.on_time.idxmax()
        fastest = rest.sim_rps.idxmax()
        cs = by.loc["cs_ucb"]
        lines.append(
            f"| {title} | {int(opt.requests):,} | {int(opt.options):,} | "
            f"{int(opt.on_time):,} <= {int(opt.served_bound):,} ({opt.certified_gap:.2%}) | "
            f"{opt.optimum_build_s:,.0f} + {opt.optimum_solve_s:,.0f} s | "
            f"{best} {int(rest.on_time.max()):,}; {int(cs.on_time):,} | "
            f"{cs.sim_rps:,.0f}, {by.loc['oracle_milp'].sim_rps:,.0f}, "
            f"{fastest} {rest.sim_rps.max():,.0f} | {opt.total_s / 60:,.0f} min | "
            f"{opt.peak_rss_gb:.1f} GB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paper.scale", description=__doc__.split("\n")[0])
    ap.add_argument("sweep", nargs="?", default="multirun/scale", help="the sweep directory")
    ap.add_argument("--out", default=str(HERE), help="where results/ and figures/ go")
    args = ap.parse_args(argv)
    sweep = Path(args.sweep)
    if not sweep.is_dir():
        print(f"python -m paper.scale: error: {sweep}: no such sweep directory", file=sys.stderr)
        return 2
    table, missing = collect_scale(sweep)
    for name in missing:
        print(f"not finished, left out: {name}", file=sys.stderr)
    if table.empty:
        print(f"python -m paper.scale: error: no finished run in {sweep}", file=sys.stderr)
        return 2
    out = Path(args.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results" / "scale.csv", table.to_csv(index=False).encode())
    for name, fig in (
        ("fig_scale_on_time", fig_on_time(table)),
        ("fig_scale_speed", fig_speed(table)),
    ):
        save_figure(fig, out / "figures", name)
    print(markdown(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
