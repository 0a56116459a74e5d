"""The exact optimum at scale (issue 12), one run: where its time goes, and what 2 workers buy.

For each setting: the on-time options before and after the exact reductions (and the
requests fixed outside the MILP), the seconds spent building (the instance's option table,
then the MILP data and its Pyomo model), transferring the model to HiGHS, and in HiGHS, the
wall time, the status, the subproblems proven optimal and the gap. ``--workers 1 2`` repeats
each setting with that many processes (``solver.workers``); their ratio is measured in the
same run. Build, transfer and HiGHS seconds are summed over subproblems (CPU seconds: with 2
workers they exceed the wall time).

    python benchmarks/bench_optimum.py [--only NAME ...] [--workers 1 2] [--warm-start both]
        [--start SCHEDULER]

"on time <= bound" is the plan's on-time requests against the proven upper bound on them
(``served_bound``); the gap is relative, on the weighted objective (``M drops + energy``).

Settings (the configs' own budget: ``solver.checks=100`` HiGHS interrupt checks per search,
a 600-s guard per subproblem; ``large`` keeps its 60-s limit per round):
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from perllm_opt.cli.config_store import compose_config, to_app_config
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.instance.build import build_instance
from perllm_opt.milp.optimum import on_time_start, solve_optimum
from perllm_opt.schedulers.factory import make_scheduler
from perllm_opt.simulation.simulator import simulate

#: name -> overrides of ``perllm-opt``.
SETTINGS = {
    "continuous, default": [],
    "rounds, default": ["system.mode=rounds"],
    "placement, default rounds": ["system.mode=rounds", "placement=optimize"],
    "placement, default continuous": ["placement=optimize"],
    "continuous, 3600 s at 2 req/s": ["horizon_s=3600", "workload.rate_rps=2"],
    "deployments, paper_jetson edge_all seed 2": [
        "topology=paper_jetson",
        "deployment=edge_all",
        "seed=2",
    ],
    "bandwidth, WAN 50 Mbps seed 0": ["topology.wan_bandwidth_mbps=50", "seed=0"],
    "bandwidth, WAN 50 Mbps seed 0, steady links": [
        "topology.wan_bandwidth_mbps=50",
        "seed=0",
        "dynamics.bandwidth_links=none",
    ],
    "continuous, default, by 10-s blocks": ["solver.window_s=10"],
    "continuous, 3600 s at 2 req/s, by 10-s blocks": [
        "horizon_s=3600",
        "workload.rate_rps=2",
        "solver.window_s=10",
    ],
    "azure trace 1 h native rate, paper": [
        "workload=azure",
        "services=azure",
        "workload.trace_native_rate=true",
        "horizon_s=3600",
    ],
    "large, rounds, 600 s at 4 req/s": ["+experiment=large", "horizon_s=600"],
    "large, rounds, 3600 s at 4 req/s": ["+experiment=large", "horizon_s=3600"],
}
__doc__ += "".join(f"\n- {name}: ``{' '.join(o) or '(none)'}``" for name, o in SETTINGS.items())


#: The schedulers ``--start best`` runs (the informed and learning rivals; CS-UCB's exact
#: epoch plan would dominate the time of the larger settings).
BEST_OF = ["bwk", "linucb", "greedy_energy", "cloud_only", "oracle_greedy"]


def scheduler_start(inst, cfg, name: str) -> np.ndarray:
    """A scheduler's on-time choices (option per request, -1 elsewhere), as ``perllm-opt``
    hands its best scheduler's to the optimum; ``best``: the best of :data:`BEST_OF` (most
    on time, then the least objective)."""
    best = None
    for one in BEST_OF if name == "best" else [name]:
        spec = dict(cfg.scheduler[one])
        res = simulate(inst, make_scheduler(one, spec), np.random.default_rng(cfg.seed))
        m = evaluate(inst, res.assignment).metrics
        key = (-m.served, m.objective)
        if best is None or key < best[0]:
            best = (key, on_time_start(inst, res.assignment))
    return best[1]


def run(overrides: list[str], workers: int, warm_start: bool | None, start: str | None) -> dict:
    """Build the instance of ``overrides`` and solve its optimum; the row of the table."""
    cfg = to_app_config(compose_config(overrides))
    solver = replace(cfg.solver, workers=workers)
    if warm_start is not None:
        solver = replace(solver, warm_start=warm_start)
    t0 = time.perf_counter()
    inst = build_instance(cfg, placement=cfg.placement == "optimize")
    instance_s = time.perf_counter() - t0
    x0 = scheduler_start(inst, cfg, start) if start else None
    t1 = time.perf_counter()
    opt = solve_optimum(inst, solver, start=x0)
    wall_s = time.perf_counter() - t1
    return {
        "requests": inst.n_requests,
        "options": f"{opt.n_options_full:,} -> {opt.n_options:,}",
        "fixed": opt.n_fixed,
        "instance_s": instance_s,
        "build_s": opt.build_s,
        "transfer_s": max(opt.solve_s - opt.solver_s, 0.0),
        "highs_s": opt.solver_s,
        "wall_s": wall_s,
        "status": opt.status,
        "proven": f"{opt.n_proven}/{opt.subproblems}",
        "on time <= bound": f"{served(inst, opt):,} <= {opt.served_bound:,.0f}",
        "gap": opt.gap,
    }


def served(inst, opt) -> int:
    """On-time requests of the optimum's plan (0 without one)."""
    if opt.assignment is None:
        return 0
    option = opt.assignment.option
    chosen = option >= 0
    return int(inst.options.on_time[option[chosen]].sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", default=None, help="names of SETTINGS to run")
    ap.add_argument("--workers", nargs="*", type=int, default=[1, 2])
    ap.add_argument(
        "--warm-start", choices=["config", "both"], default="config",
        help="'both': each setting with and without the warm start",
    )  # fmt: skip
    ap.add_argument(
        "--start", default=None,
        help="a scheduler whose on-time choices are the optimum's floor (and, with the warm "
        "start, its start), as perllm-opt does with its best scheduler; 'best': the best of "
        "bwk, linucb, greedy_energy, cloud_only and oracle_greedy",
    )  # fmt: skip
    args = ap.parse_args()
    cols = ["requests", "options", "fixed", "instance_s", "build_s", "transfer_s", "highs_s"]
    cols += ["wall_s", "status", "proven", "on time <= bound", "gap"]
    print("| setting | workers | warm | " + " | ".join(cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    for name, overrides in SETTINGS.items():
        if args.only and name not in args.only:
            continue
        walls = {}
        for warm in [None] if args.warm_start == "config" else [True, False]:
            for workers in args.workers:
                row = run(overrides, workers, warm, args.start)
                walls[(warm, workers)] = row["wall_s"]
                cells = [
                    f"{row[c]:.1f}" if c.endswith("_s") else
                    f"{row[c]:.1e}" if c == "gap" else str(row[c])
                    for c in cols
                ]  # fmt: skip
                label = "config" if warm is None else ("on" if warm else "off")
                print(f"| {name} | {workers} | {label} | " + " | ".join(cells) + " |", flush=True)
        for warm in {w for w, _ in walls}:
            if (warm, 1) in walls and (warm, 2) in walls:
                ratio = walls[(warm, 2)] / walls[(warm, 1)]
                print(f"|   2 workers / 1 | | | wall ratio {ratio:.2f} |" + " |" * (len(cols) - 1))


if __name__ == "__main__":
    main()
