"""``perllm-opt-gap PATH --sense {min,max}``: solve OR-Library GAP instances exactly.

An external check of the exact-optimisation layer: the same assignment MILP and solver path
the PerLLM optimum uses, on instances with published optimal values.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.errors import InputError
from perllm_opt.milp.gap import GapInstance, gap_data, read_orlib_gap
from perllm_opt.milp.solve import SolverUnavailableError, solve_assignment

#: The largest magnitude a GAP number may have: 2^53, the last integer a double (the solver's
#: number) holds exactly; HiGHS also takes any cost from 1e20 on as infinite.
MAX_MAGNITUDE = 2**53


def check_magnitudes(instances: list[GapInstance], name: str) -> None:
    """Refuse a cost, resource or capacity beyond :data:`MAX_MAGNITUDE`: the solver would
    round it, or take it for infinity and report an infinite objective as optimal."""
    for k, inst in enumerate(instances, start=1):
        for what, values in (
            ("costs", inst.cost),
            ("resources", inst.resource),
            ("capacities", inst.capacity),
        ):
            worst = float(np.abs(values).max(initial=0.0))
            if worst > MAX_MAGNITUDE:
                raise InputError(
                    f"{name} instance {k} {what}",
                    f"{worst:.3g}",
                    f"whole numbers of magnitude at most 2^53 = {MAX_MAGNITUDE:,} (what the "
                    "solver's doubles hold exactly)",
                )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, solve every instance of the file, print one line each."""
    ap = argparse.ArgumentParser(prog="perllm-opt-gap", description=__doc__.split("\n")[0])
    ap.add_argument("path", help="an OR-Library GAP file (e.g. gap1.txt)")
    ap.add_argument(
        "--sense",
        choices=("min", "max"),
        required=True,
        help="gap1-gap12 are maximisation, gapa-gapc minimisation problems",
    )
    ap.add_argument(
        "--time-limit",
        type=float,
        default=600.0,
        metavar="S",
        help="seconds per instance (default 600)",
    )
    ap.add_argument("--solver", default="highs", help="MILP solver known to Pyomo")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        cfg = SolverConfig(
            name=args.solver, time_limit_s=args.time_limit, mip_rel_gap=0.0, threads=args.threads
        )
        instances = read_orlib_gap(args.path)
        check_magnitudes(instances, Path(args.path).name)
    except InputError as exc:
        print(f"perllm-opt-gap: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{'index':>5} {'agents':>6} {'jobs':>5} {'status':>11} {'objective':>12} "
        f"{'bound':>12} {'build_s':>8} {'solve_s':>8}"
    )
    t0 = time.perf_counter()
    worst = 0
    for k, inst in enumerate(instances, start=1):
        try:
            res = solve_assignment(gap_data(inst, args.sense), cfg)
        except SolverUnavailableError as exc:
            print(f"perllm-opt-gap: error: {exc}", file=sys.stderr)
            return 2
        obj = f"{res.objective:.6g}" if res.has_solution else "-"
        # An infeasible instance has no bound (HiGHS reports +-inf); unknown prints "-".
        bound = "-" if res.status == "infeasible" or not math.isfinite(res.bound) else res.bound
        bound_txt = bound if isinstance(bound, str) else f"{bound:.6g}"
        print(
            f"{k:>5} {inst.agents:>6} {inst.jobs:>5} {res.status:>11} {obj:>12} "
            f"{bound_txt:>12} {res.build_s:>8.3f} {res.solve_s:>8.3f}",
            flush=True,
        )
        if res.status != "optimal":
            worst = 1
    print(f"total {time.perf_counter() - t0:.1f} s for {len(instances)} instances")
    return worst


if __name__ == "__main__":
    sys.exit(main())
