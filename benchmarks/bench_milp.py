"""MILP model-build seconds against HiGHS solve seconds at ~1e3, 1e4 and 1e5 option variables.

Each instance is the paper preset at 2 requests/s with a horizon chosen for the size; the
whole horizon is one Pyomo model (all rounds, fixed deployment, weighted objective), built
with the ``declare_*`` helpers (LinearExpression fast path) and solved with HiGHS through
Pyomo's contrib interface. Columns:

- ``build_s``: Pyomo model construction;
- ``solve_s``: the solver call, including Pyomo's transfer of the model to HiGHS;
- ``highs_s``: time HiGHS itself reports;
- ``build/solve``: build_s / solve_s (target <= 1 at 1e5).

The per-round decomposition the main command uses (same optimum) is timed as well. Run:

    python benchmarks/bench_milp.py [--time-limit 60] [--sizes 1e3 1e4 1e5]
"""

from __future__ import annotations

import argparse
import time

from perllm_opt.config import InstanceConfig, SolverConfig, SystemConfig, WorkloadConfig
from perllm_opt.instance.build import build_instance
from perllm_opt.milp.optimum import solve_optimum
from perllm_opt.milp.perllm import joint_problem
from perllm_opt.milp.solve import solve_assignment

#: On-time options per second of horizon at the default load (measured: ~17).
OPTIONS_PER_SECOND = 17.3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[1e3, 1e4, 1e5])
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args()
    cfg = SolverConfig(objective="weighted", time_limit_s=args.time_limit, mip_rel_gap=1e-6)
    print(
        f"{'target':>7} {'options':>8} {'requests':>8} {'status':>9} {'build_s':>8} "
        f"{'solve_s':>8} {'highs_s':>8} {'build/solve':>11} {'rounds_s':>9}"
    )
    for size in args.sizes:
        horizon = max(30.0, round(size / OPTIONS_PER_SECOND / 30.0) * 30.0)
        inst = build_instance(
            InstanceConfig(
                horizon_s=horizon,
                workload=WorkloadConfig(rate_rps=2.0),
                system=SystemConfig(mode="rounds"),
            )
        )
        prob = joint_problem(inst, optimize_deployment=False)
        res = solve_assignment(prob.data, cfg)
        t0 = time.perf_counter()
        per_round = solve_optimum(inst, cfg)
        rounds_s = time.perf_counter() - t0
        ratio = res.build_s / res.solve_s if res.solve_s > 0 else float("nan")
        print(
            f"{size:>7.0e} {prob.data.n_options:>8d} {inst.n_requests:>8d} {res.status:>9} "
            f"{res.build_s:>8.2f} {res.solve_s:>8.2f} {res.solver_s:>8.2f} {ratio:>11.2f} "
            f"{rounds_s:>9.2f}",
            flush=True,
        )
        if res.status == "optimal" and per_round.status == "optimal":
            rel = abs(res.objective - per_round.objective) / abs(per_round.objective)
            assert rel < 1e-6, f"joint and per-round optima differ by {rel:.2e}"


if __name__ == "__main__":
    main()
