"""The known-means oracle's per-epoch MILPs: HiGHS directly against the same models built
with Pyomo, one run.

``oracle_milp`` solves two small MILPs per decision epoch (300 epochs on the default
instance). This times its whole simulation with the models passed to HiGHS directly
(:mod:`perllm_opt.milp.highs_direct`, what it uses) and with the same models built and solved
through Pyomo (:func:`perllm_opt.milp.solve.solve_assignment`), interleaved ``--repeat``
times, checks that both take the same decisions, and prints the best times and their ratio.

    python benchmarks/bench_epoch_plan.py [--horizon-s 300] [--repeat 2]
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np

from perllm_opt.cli.config_store import compose_config
from perllm_opt.cli.main import to_app_config
from perllm_opt.instance import build_instance
from perllm_opt.milp.solve import solve_assignment
from perllm_opt.schedulers import epoch_plan
from perllm_opt.schedulers.factory import make_scheduler
from perllm_opt.simulator import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--horizon-s", type=float, default=300.0)
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
        with mock.patch.object(epoch_plan, "solve_assignment_direct", solve_assignment):
            wall, options["pyomo"] = run()
        best["pyomo"] = min(best["pyomo"], wall)
    same = np.array_equal(options["direct"], options["pyomo"])
    print(f"oracle_milp on {inst.n_requests} requests, {inst.n_rounds} epochs:")
    print(f"  HiGHS directly : {best['direct']:6.1f} s")
    print(f"  through Pyomo  : {best['pyomo']:6.1f} s")
    print(f"  ratio pyomo / direct: {best['pyomo'] / best['direct']:.2f}; same decisions: {same}")


if __name__ == "__main__":
    main()
