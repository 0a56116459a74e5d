"""The Azure hour pass by pass: the optimum's windowed search with per-pass unserved count,
gap to the LP floor and CPU seconds (docs/benchmarks.md); the start is the better of the
best scheduler's plan and the LP's rounding, as in the optimum.

Run: ``python benchmarks/azure_passes.py [overrides]``. The start is the best plan of
``bench_optimum.BEST_OF`` run as ``perllm-opt`` runs its schedulers (``run_schedulers``).
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
from bench_optimum import BEST_OF

from perllm_opt import build_instance, load_config
from perllm_opt.milp.continuous import window_problem, window_requests
from perllm_opt.milp.continuous_optimum import _better_plan
from perllm_opt.milp.highs_direct import lp_solution
from perllm_opt.milp.optimum import on_time_start
from perllm_opt.milp.perllm import reduce_problem
from perllm_opt.milp.rounding import round_lp
from perllm_opt.milp.subproblems import drops_floor
from perllm_opt.milp.window_search import improve_by_windows
from perllm_opt.runner import run_schedulers

#: The Azure conversation trace for an hour at its native rate.
AZURE_HOUR = [
    "workload=azure",
    "services=azure",
    "workload.trace_native_rate=true",
    "horizon_s=3600",
    "progress=false",
]


def main(overrides: list[str]) -> None:
    t0 = time.time()

    def log(*parts: object) -> None:
        r = resource.getrusage(resource.RUSAGE_SELF)
        stamp = f"[{time.time() - t0:7.1f}s cpu {r.ru_utime + r.ru_stime:7.1f}]"
        print(stamp, *parts, flush=True)

    cfg = load_config([*AZURE_HOUR, f"schedulers=[{','.join(BEST_OF)}]", *overrides])
    inst = build_instance(cfg)
    log("inst", inst.n_requests, "options", len(inst.options.request))
    best: dict[str, object] = {}

    def done(name, ev, res) -> None:
        key = (-ev.metrics.served, ev.metrics.objective)
        if "key" not in best or key < best["key"]:
            best.update(key=key, start=on_time_start(inst, res.assignment))

    run_schedulers(inst, cfg, on_done=done)
    log("sched best", -best["key"][0])
    ids = max(window_requests(inst), key=len)
    prob = reduce_problem(window_problem(inst, ids, reduce=False))
    log("window", len(ids), "opts", prob.data.n_options)
    lp_value, x_lp, lp_s = lp_solution(prob.data, cfg.solver)
    log("LP", lp_value / inst.drop_penalty_j, lp_s)
    start = best["start"]
    if x_lp is not None:
        rounded = round_lp(prob.data, x_lp)
        start = _better_plan(prob, start, rounded)
        log("LP rounded: drops", int(prob.data.n_items - rounded.sum()))
    least = drops_floor(lp_value, inst.drop_penalty_j, float(prob.data.constant))
    all_ids = np.concatenate([prob.request, prob.fixed_request])

    def enough(plan: np.ndarray) -> bool:
        drops = int((plan[prob.request] < 0).sum())
        on_time = len(all_ids) - drops
        gap_pct = round(100 * (drops - least) / on_time, 3)
        log("pass start: drops", drops, "least", least, "gap %", gap_pct)
        return drops - least <= cfg.solver.search_gap * on_time

    res = improve_by_windows(inst, all_ids, cfg.solver, start, False, enough)
    log(
        "done", res.pass_drops, "subs", res.n_subproblems, "proven", res.n_proven,
        "build", round(res.build_s, 1), "solve", round(res.solve_s, 1),
    )  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
