"""Simulator throughput: requests simulated per second for CS-UCB and random, one run.

Paper preset, default workload (Poisson, 2 requests/s), horizon long enough for
>= 100,000 requests. Instance building is timed separately: only the online simulation
(scheduler decisions, environment checks, feedback) counts. Run:

    python benchmarks/bench_simulator.py [--requests 100000] [--repeat 3] \
        [--mode rounds|continuous] [--plan-mode fast|greedy|milp]

Prints requests/s per scheduler (best of ``--repeat`` runs, interleaved) and the ratio
random / CS-UCB. Targets (issues 2 and 24): CS-UCB >= 20,000 req/s in rounds mode and
10,000 in continuous mode on 2 cores, and no more than 3x slower than random.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from baselines.random_choice import RandomScheduler
from perllm_opt.config import InstanceConfig, SystemConfig, WorkloadConfig
from perllm_opt.instance.build import build_instance
from perllm_opt.schedulers.cs_ucb import CSUCB
from perllm_opt.simulation.simulator import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", choices=["rounds", "continuous"], default="rounds")
    ap.add_argument("--plan-mode", choices=["fast", "greedy", "milp"], default="fast")
    args = ap.parse_args()
    horizon = args.requests / args.rate * 1.02
    t0 = time.perf_counter()
    inst = build_instance(
        InstanceConfig(
            horizon_s=horizon,
            workload=WorkloadConfig(rate_rps=args.rate),
            system=SystemConfig(mode=args.mode),
        )
    )
    build_s = time.perf_counter() - t0
    print(
        f"instance ({args.mode}): {inst.n_requests} requests, {inst.n_rounds} decision epochs, "
        f"{len(inst.options)} options, built in {build_s:.1f} s"
    )
    best: dict[str, float] = {}
    served: dict[str, int] = {}
    for _ in range(args.repeat):
        for sched in (CSUCB(plan_mode=args.plan_mode), RandomScheduler()):
            res = simulate(inst, sched, np.random.default_rng(0))
            rate = inst.n_requests / res.wall_s
            best[sched.name] = max(best.get(sched.name, 0.0), rate)
            served[sched.name] = int((res.assignment.status == 0).sum())
    for name, rate in best.items():
        print(f"{name:8s} {rate:10.0f} requests/s   ({served[name]} admitted)")
    print(
        f"ratio random / cs_ucb = {best['random'] / best['cs_ucb']:.2f} "
        f"(target <= 3); cs_ucb target >= {20000 if args.mode == 'rounds' else 10000} req/s"
    )


if __name__ == "__main__":
    main()
