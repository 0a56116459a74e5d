"""Reproduce a HiGHS 1.16.0 fault: a MIP start with presolve on gives a wrong "optimal".

``benchmarks/data/highs_start_presolve_bug.mps`` is the first lexicographic stage (minimise
drops) of round 18 of ``perllm-opt system.mode=rounds system.round_s=30 horizon_s=600
workload.rate_rps=2``, reduced (milp/reduce.py); ``..._start.txt`` a feasible start (one
value per column: a scheduler's on-time choices, 33 drops). Solved cold, with presolve on
or off, the optimum is 31. Started from the file with presolve on, HiGHS reports an optimal
objective that its own solution does not have; with presolve off it returns 31. The
optimum therefore runs a started model with presolve off (milp/solve.py).

    python benchmarks/highs_start_presolve_bug.py
"""

from __future__ import annotations

from pathlib import Path

import highspy
import numpy as np

DATA = Path(__file__).parent / "data"


def solve(start: np.ndarray | None, presolve: bool) -> tuple[str, float, float, float]:
    """(status, reported objective, dual bound, objective of the returned solution)."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", 1e-6)
    h.readModel(str(DATA / "highs_start_presolve_bug.mps"))
    if not presolve:
        h.setOptionValue("presolve", "off")
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = start.tolist()
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    info = h.getInfo()
    x = np.asarray(h.getSolution().col_value)
    cost = np.asarray(h.getLp().col_cost_)
    return (
        h.modelStatusToString(h.getModelStatus()),
        info.objective_function_value,
        info.mip_dual_bound,
        float(cost @ x),
    )


def main() -> None:
    start = np.loadtxt(DATA / "highs_start_presolve_bug_start.txt")
    print("| start | presolve | status | reported objective | dual bound | solution's objective |")
    print("|---|---|---|---|---|---|")
    for label, x0 in (("none", None), ("file", start)):
        for presolve in (True, False):
            status, obj, bound, real = solve(x0, presolve)
            on = "on" if presolve else "off"
            print(f"| {label} | {on} | {status} | {obj:g} | {bound:g} | {real:g} |")


if __name__ == "__main__":
    main()
