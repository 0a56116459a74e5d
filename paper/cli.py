"""``perllm-opt-paper [--quick] [--out DIR]``: run the experiments, draw every figure, write
claims.md.

The experiments run through ``perllm-opt -m +experiment=<name>`` into
``OUT/runs/{full,quick}/<name>`` and resume from what is already complete; their collected
tables go to ``OUT/results/<name>.csv`` (and the cumulative per-round series of the
``regret`` and ``learning`` runs to ``regret_series.csv`` and ``learning_series.csv``), and the
figures and claims are drawn from those tables only (``--draw-only`` redraws from them
without running anything). ``--quick`` takes the same path on small settings.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from paper import claims as cl
from paper import figures as fg
from paper.experiments import EXPERIMENTS, collect_experiment, run_experiment, sweep_dir
from paper.slot_table import slot_markdown
from perllm_opt.cli.files import write_atomic


def save_figure(
    fig: Figure, folder: Path, name: str, exts: tuple[str, ...] = ("png", "pdf")
) -> list[Path]:
    """PNG and PDF (``exts``) of ``fig``, each written atomically (``write_atomic``)."""
    paths = []
    for ext in exts:
        final = folder / f"{name}.{ext}"
        buf = io.BytesIO()
        # No creation date: redrawing the same tables gives the same bytes.
        fig.savefig(
            buf, format=ext, dpi=150, metadata={"CreationDate": None} if ext == "pdf" else None
        )
        write_atomic(final, buf.getvalue())
        paths.append(final)
    return paths


def drift_time_s(learning: pd.DataFrame) -> float | None:
    """When the ``drift`` preset changes speeds in the learning runs: half their horizon
    (``dynamics.drift_at_fraction``), the end of their series."""
    if learning.empty:
        return None
    return 0.5 * float(learning["time_s"].max())


def positive_int(text: str) -> int:
    """argparse type of ``--jobs``: an integer >= 1 (argparse names the option on error)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected an integer >= 1")
    return value


def loads_timings(results: Path) -> pd.DataFrame | None:
    """The ``loads`` rows of ``results/timings.csv`` (None if it was never written)."""
    path = results / "timings.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    return table[table["experiment"] == "loads"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="perllm-opt-paper", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small settings, same code path (about 70 s on 2 cores)",
    )
    ap.add_argument(
        "--out", default=None, help="output folder (default: paper/, or paper/quick/ with --quick)"
    )
    ap.add_argument(
        "--jobs", type=positive_int, default=None, help="parallel runs (default: cores)"
    )
    ap.add_argument(
        "--draw-only", action="store_true", help="draw from the results already saved, run nothing"
    )
    args = ap.parse_args(argv)
    out = Path(args.out or ("paper/quick" if args.quick else "paper"))
    results = out / "results"
    t0 = time.perf_counter()
    if not args.draw_only:
        timings = []
        for exp in EXPERIMENTS:
            target = sweep_dir(out, args.quick, exp.name)
            try:
                run_experiment(exp, out, args.quick, args.jobs)
            except RuntimeError as exc:
                print(f"perllm-opt-paper: error: {exc}", file=sys.stderr)
                return 1
            col = collect_experiment(target)
            if col.table.empty:
                print(f"perllm-opt-paper: error: no results in {target}", file=sys.stderr)
                return 1
            write_atomic(target / "summary.csv", col.summary.to_csv(index=False))
            write_atomic(results / f"{exp.name}.csv", col.table.to_csv(index=False))
            if not col.timings.empty:
                timings.append(col.timings.assign(experiment=exp.name))
        if timings:
            # Wall-clock seconds of every run, apart from the results (which stay the same
            # bytes from one regeneration to the next).
            table = pd.concat(timings, ignore_index=True)
            first = ["experiment", "run", "scheduler"]
            table = table[first + [c for c in table.columns if c not in first]]
            write_atomic(results / "timings.csv", table.to_csv(index=False))
        for name in ("regret", "learning"):
            series = fg.regret_table(sweep_dir(out, args.quick, name))
            write_atomic(results / f"{name}_series.csv", series.to_csv(index=False))
    # Everything below reads the saved tables only.
    try:
        tables = {exp.name: pd.read_csv(results / f"{exp.name}.csv") for exp in EXPERIMENTS}
        regret = pd.read_csv(results / "regret_series.csv")
        learning = pd.read_csv(results / "learning_series.csv")
    except FileNotFoundError as exc:
        print(
            f"perllm-opt-paper: error: no saved results ({exc.filename}); run without "
            "--draw-only first",
            file=sys.stderr,
        )
        return 1

    figures = {
        "fig1_throughput_deployments": fg.fig_throughput(tables["deployments"]),
        "fig2_energy_breakdown": fg.fig_energy(tables["deployments"]),
        "fig3_bandwidth": fg.fig_bandwidth(tables["bandwidth"]),
        "fig4_cumulative_regret": fg.fig_regret(regret),
        "fig5_optimality_gap": fg.fig_optimality_gap(tables["loads"]),
        "fig6_azure_trace": fg.fig_trace(tables["trace"]),
        "fig7_slot_length": fg.fig_slots(tables["slots"]),
        "fig8_pseudo_regret": fg.fig_pseudo_regret(regret),
        "fig9_learning_curves": fg.fig_learning(learning, drift_at_s=drift_time_s(learning)),
    }
    written = []
    for name, fig in figures.items():
        written += save_figure(fig, out / "figures", name)
    claims = [
        cl.throughput_claim(tables["deployments"]),
        cl.energy_claim(tables["deployments"]),
        *cl.requirement_claim(tables["deployments"], tables["bandwidth"]),
        cl.regret_claim(regret),
        *cl.learning_claims(learning),
        cl.time_claim(tables["loads"], loads_timings(results)),
        *cl.slot_claims(tables["slots"]),
    ]
    text = (
        cl.claims_markdown(claims, args.quick)
        + cl.optimum_summary(tables)
        + cl.decomposition_table(tables["loads"])
        + cl.tuning_section()
    )
    slots = tables["slots"]
    text += (
        "\n## On-time requests by service model (experiment `slots`)\n\n"
        "Mean +- 95% interval over seeds; rounds mode at each round length, and continuous "
        "mode (the default). `python -m paper.slot_table --rate R` prints one table.\n"
    )
    for rate in sorted(slots["workload.rate_rps"].unique()):
        text += f"\n### {rate:g} requests/s\n\n" + slot_markdown(slots, rate)
    write_atomic(out / "claims.md", text)
    print(
        f"{len(written)} figure files in {out / 'figures'}, claims in {out / 'claims.md'} "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
