"""The epoch-plan MILPs: HiGHS directly against Pyomo, and presolve and warm start, one run.

``oracle_milp`` solves two small MILPs per decision epoch (300 epochs on the default
instance). This times its whole simulation with the models passed to HiGHS directly
(:mod:`perllm_opt.milp.highs_direct`, what it uses) and with the same models built and solved
through Pyomo (:func:`perllm_opt.milp.solve.solve_assignment`), interleaved ``--repeat``
times, checks that both take the same decisions, and prints the best times and their ratio.

Then rounds mode (30-s rounds at 2 req/s, the ``regret`` experiment's setting; ``--rounds-s``
long), whose epoch plans are whole rounds: ``oracle_milp`` and ``cs_ucb`` with the plans
solved as shipped (presolve off), with stage 2 started from stage 1's plan (``initial_x``), and
with HiGHS's presolve on (which can hang on HiGHS 1.16.0: docs/benchmarks.md).

    python benchmarks/bench_epoch_plan.py [--horizon-s 300] [--rounds-s 600] [--repeat 2]
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np

from perllm_opt.cli.config_store import compose_config, to_app_config
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.instance.build import build_instance
from perllm_opt.milp.solve import solve_assignment
from perllm_opt.schedulers import epoch_plan
from perllm_opt.schedulers.factory import make_scheduler
from perllm_opt.simulation.simulator import simulate


def through_pyomo(data, solver, max_nodes=None, presolve=True, initial_x=None):
    """The epoch plan's model through Pyomo (HiGHS's defaults: presolve on, no warm start,
    and no node limit: the shipped plans' node budget is not applied here)."""
    return solve_assignment(data, solver)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--horizon-s", type=float, default=300.0)
    ap.add_argument("--rounds-s", type=float, default=600.0)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    cfg = to_app_config(compose_config([f"horizon_s={args.horizon_s}", "optimal=false"]))
    inst = build_instance(cfg)
    spec = dict(cfg.scheduler["oracle_milp"])

    def run() -> tuple[float, np.ndarray]:
        t0 = time.perf_counter()
        res = simulate(inst, make_scheduler("oracle_milp", spec), np.random.default_rng(0))
        return time.perf_counter() - t0, res.assignment.option

    best = {"direct": np.inf, "pyomo": np.inf}
    options = {}
    for _ in range(args.repeat):
        wall, options["direct"] = run()
        best["direct"] = min(best["direct"], wall)
        with mock.patch.object(epoch_plan, "solve_assignment_direct", through_pyomo):
            wall, options["pyomo"] = run()
        best["pyomo"] = min(best["pyomo"], wall)
    same = np.array_equal(options["direct"], options["pyomo"])
    print(f"oracle_milp on {inst.n_requests} requests, {inst.n_rounds} epochs:")
    print(f"  HiGHS directly : {best['direct']:6.1f} s")
    print(f"  through Pyomo  : {best['pyomo']:6.1f} s")
    print(f"  ratio pyomo / direct: {best['pyomo'] / best['direct']:.2f}; same decisions: {same}")
    rounds(args.rounds_s, args.repeat)


def rounds(horizon_s: float, repeat: int) -> None:
    """Rounds mode's whole-round plans: as shipped, with a warm start, with presolve on."""
    over = ["system.mode=rounds", "workload.rate_rps=2", "dynamics=iid", "optimal=false"]
    cfg = to_app_config(compose_config([*over, f"horizon_s={horizon_s}"]))
    inst = build_instance(cfg)
    shipped = epoch_plan.solve_assignment_direct

    def variant(presolve: bool, warm: bool):
        last = {}

        def solve(data, solver, **kw):
            if warm and data.n_resources > last.get("n_resources", data.n_resources):
                kw["initial_x"] = last["x"]  # stage 2 (one more row: the misses) from stage 1
            result = shipped(data, solver, **{**kw, "presolve": presolve})
            last.update(n_resources=data.n_resources, x=result.x)
            return result

        return solve

    variants = {
        "shipped (presolve off)": None,
        "presolve off, stage 2 warm-started": variant(False, True),
        "presolve on": variant(True, False),
    }
    print(f"\nrounds mode, {inst.n_requests} requests, {inst.n_rounds} rounds of 30 s:")
    for name in ("oracle_milp", "cs_ucb"):
        spec = dict(cfg.scheduler[name])
        best, served = {}, {}
        for _ in range(repeat):
            for label, solve in variants.items():
                with mock.patch.object(epoch_plan, "solve_assignment_direct", solve or shipped):
                    t0 = time.perf_counter()
                    res = simulate(inst, make_scheduler(name, spec), np.random.default_rng(0))
                    wall = time.perf_counter() - t0
                best[label] = min(best.get(label, np.inf), wall)
                served[label] = int(evaluate(inst, res.assignment).served_per_round.sum())
        ref = best["shipped (presolve off)"]
        for label in variants:
            print(
                f"  {name:11s} {label:36s}: {best[label]:6.1f} s ({best[label] / ref:.2f}x),"
                f" {served[label]} on time"
            )


if __name__ == "__main__":
    main()
