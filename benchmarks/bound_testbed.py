"""The 90-s bound testbed of issue 23: the default continuous instance cut to its first 90 s.

The default ``perllm-opt`` instance (paper preset, continuous mode, 300 s at 5 req/s, seed 0)
is one window of 1,473 requests; its requests dispatched before ``--cut-s`` (default 90 s:
428 requests) form a small, hard stage-1 problem (minimise drops): LP 26.52, best plan 29.
This script builds it and reports the bounds of :mod:`perllm_opt.milp.bound` beside the LP
(and, with ``--milp-s``, HiGHS's own bound after that many seconds, single-threaded).

    python benchmarks/bound_testbed.py [--cut-s 90] [--milp-s 0] [--block-s 20]
        [--iterations 1] [--cutoff-s 120]

The Lagrangian bound by server (:func:`perllm_opt.milp.bound.lagrangian_bound`, single
thread) runs with ``--block-s`` seconds per server sub-MILP, ``--iterations`` evaluations
(the first at the LP's duals) and ``--cutoff-s`` seconds of cutoff proofs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from perllm_opt import build_instance, load_config
from perllm_opt.config import SolverConfig
from perllm_opt.milp.bound import lagrangian_bound
from perllm_opt.milp.continuous import window_problem, window_requests
from perllm_opt.milp.data import AssignmentData, drops_only
from perllm_opt.milp.highs_direct import solve_assignment_direct
from perllm_opt.milp.perllm import RoundProblem


def drops_problem(data: AssignmentData) -> AssignmentData:
    """Stage 1 of the lexicographic objective: every drop costs 1, nothing else costs."""
    return drops_only(data)


def testbed(cut_s: float | None = 90.0, overrides: tuple[str, ...] = ()):
    """The instance, the window problem of its first window's requests dispatched before
    ``cut_s`` (all of them with ``None``), the stage-1 data, and each option's server."""
    inst = build_instance(load_config(list(overrides)))
    window = window_requests(inst)[0]
    if cut_s is not None:
        window = window[inst.request_dispatch_s[window] < cut_s]
    prob: RoundProblem = window_problem(inst, window)
    server = inst.options.server[prob.option]
    return inst, prob, drops_problem(prob.data), server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cut-s", type=float, default=90.0, help="0: the whole window")
    ap.add_argument("--milp-s", type=float, default=0.0)
    ap.add_argument("--block-s", type=float, default=20.0)
    ap.add_argument("--iterations", type=int, default=1)
    ap.add_argument("--cutoff-s", type=float, default=120.0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    _, _, data, server = testbed(args.cut_s or None)
    print(
        f"items {data.n_items}, options {data.n_options}, rows {data.n_resources}, "
        f"servers {len(np.unique(server))} ({time.perf_counter() - t0:.1f} s to build)"
    )
    t0 = time.perf_counter()
    lp = solve_assignment_direct(data, SolverConfig(time_limit_s=600, threads=1), relax=True)
    print(f"LP bound {lp.objective:.4f} ({time.perf_counter() - t0:.2f} s)")
    t0 = time.perf_counter()
    block_cfg = SolverConfig(time_limit_s=args.block_s, mip_rel_gap=1e-9, threads=1)
    lag = lagrangian_bound(
        data, server, block_cfg, iterations=args.iterations, integral=True,
        cutoff_s=args.cutoff_s, time_limit_s=600.0,
    )  # fmt: skip
    print(
        f"Lagrangian by server: L at the LP's duals {lag.first_bound:.4f}, best "
        f"{max(lag.history):.4f} in {lag.iterations} evaluations; bound {lag.bound:.0f} "
        f"({lag.cutoff_rounds} by cutoff proofs; {lag.n_blocks} blocks; "
        f"{time.perf_counter() - t0:.1f} s)"
    )
    if args.milp_s > 0:
        t0 = time.perf_counter()
        cfg = SolverConfig(time_limit_s=args.milp_s, threads=1)
        res = solve_assignment_direct(data, cfg, max_checks=10**9)
        print(
            f"HiGHS {args.milp_s:.0f} s: plan {res.objective:.0f} drops, bound {res.bound:.4f} "
            f"({time.perf_counter() - t0:.1f} s)"
        )


if __name__ == "__main__":
    main()
