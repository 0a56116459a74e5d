"""The Azure hour pass by pass: the optimum's windowed search with per-pass unserved count,
gap to the LP floor and CPU seconds (docs/benchmarks.md).

Run: ``python benchmarks/azure_passes.py [overrides]``.
"""

import resource
import sys
import time

import numpy as np

from perllm_opt import build_instance, load_config
from perllm_opt.milp.continuous import window_problem, window_requests
from perllm_opt.milp.highs_direct import lp_bound
from perllm_opt.milp.optimum import _drops_floor, on_time_start
from perllm_opt.milp.perllm import reduce_problem
from perllm_opt.milp.window_search import improve_by_windows
from perllm_opt.runner import run_schedulers

over = sys.argv[1:]
T0 = time.time()


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def log(*a):
    print(f"[{time.time() - T0:7.1f}s cpu {cpu():7.1f}]", *a, flush=True)


cfg = load_config(
    [
        "workload=azure",
        "services=azure",
        "workload.trace_native_rate=true",
        "horizon_s=3600",
        "progress=false",
        "schedulers=[bwk,linucb,greedy_energy,cloud_only,oracle_greedy]",
        *over,
    ]
)
inst = build_instance(cfg)
log("inst", inst.n_requests, "options", len(inst.options.request))
best = None
start = None


def done(name, ev, res):
    global start, best
    key = (-ev.metrics.served, ev.metrics.objective)
    if best is None or key < best:
        best = key
        start = on_time_start(inst, res.assignment)


run_schedulers(inst, cfg, on_done=done)
log("sched best", -best[0])
ids = max(window_requests(inst), key=len)

prob = reduce_problem(window_problem(inst, ids, reduce=False))
log("window", len(ids), "opts", prob.data.n_options)
lpv, s = lp_bound(prob.data, cfg.solver)
log("LP", lpv / inst.drop_penalty_j, s)
least = _drops_floor(lpv, inst.drop_penalty_j, float(prob.data.constant))
allids = np.concatenate([prob.request, prob.fixed_request])


def enough(p):
    d = int((p[prob.request] < 0).sum())
    on = len(allids) - d
    log("pass start: drops", d, "least", least, "gap %", round(100 * (d - least) / on, 3))
    return (d - least) <= cfg.solver.search_gap * on


res = improve_by_windows(inst, allids, cfg.solver, start, False, enough)
log(
    "done",
    res.pass_drops,
    "subs",
    res.n_subproblems,
    "proven",
    res.n_proven,
    "build",
    round(res.build_s, 1),
    "solve",
    round(res.solve_s, 1),
)
