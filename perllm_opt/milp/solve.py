"""Solve an assignment model with HiGHS (or another MILP solver Pyomo knows).

One wrapper, :func:`solve_assignment`: builds the model, solves it (once for a weighted
objective, twice for the lexicographic one) and returns status, objective, best bound, gap,
build and solve seconds, and the solution only when one exists.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pe

from perllm_opt.config import SolverConfig
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.declare import (
    cost_expression,
    declare_objective,
    declare_served_floor,
    declare_served_objective,
)
from perllm_opt.milp.model import create_model

OPTIMAL, FEASIBLE, INFEASIBLE, NO_SOLUTION = "optimal", "feasible", "infeasible", "no_solution"


class SolverUnavailableError(RuntimeError):
    """The configured solver is not installed (a user-facing condition)."""


class NoSolutionError(RuntimeError):
    """The solver stopped without any solution (infeasible, or time limit)."""


@dataclass(frozen=True, eq=False)
class SolveResult:
    """Outcome of one solve.

    Attributes
    ----------
    status : str
        ``optimal``, ``feasible`` (stopped with a solution, e.g. at the time limit),
        ``infeasible`` or ``no_solution``.
    objective : float
        Objective of the solution found, constant included (NaN without one). For the
        lexicographic objective, the cost of the second stage.
    bound : float
        Best proven bound on the objective.
    gap : float
        ``|objective - bound| / max(|objective|, 1e-9)``.
    drops : float
        Items left unassigned (the first stage's optimum for the lexicographic objective).
    build_s : float
        Seconds to build the Pyomo model.
    solve_s : float
        Seconds in the solver call(s), including Pyomo's transfer of the model.
    solver_s : float
        Seconds the solver itself reported (NaN if unknown).
    x, drop, gate : ndarray or None
        Variable values (only when a solution exists).
    drops_bound : float
        Lexicographic only: a proven lower bound on the drops (equal to ``drops`` when the
        first stage was proven optimal).
    """

    status: str
    objective: float
    bound: float
    gap: float
    drops: float
    build_s: float
    solve_s: float
    solver_s: float
    x: np.ndarray | None
    drop: np.ndarray | None
    gate: np.ndarray | None
    relaxed: bool = False
    drops_bound: float = math.nan

    @property
    def has_solution(self) -> bool:
        return self.x is not None


def _gap(obj: float, bound: float) -> float:
    if math.isnan(obj) or math.isnan(bound):
        return math.nan
    return abs(obj - bound) / max(abs(obj), 1e-9)


class _Runner:
    """Calls one solver through Pyomo's new (contrib) interface, or the legacy one."""

    def __init__(self, cfg: SolverConfig) -> None:
        from pyomo.contrib.solver.common.factory import SolverFactory as ContribFactory

        self.cfg = cfg
        self.contrib = None
        self.legacy = None
        try:
            self.contrib = ContribFactory(cfg.name)
        except Exception:  # unknown to the contrib factory: try the legacy one
            self.contrib = None
        if self.contrib is not None:
            if not self.contrib.available():
                raise SolverUnavailableError(
                    f"solver {cfg.name!r} is not available (for HiGHS: pip install highspy)"
                )
            return
        if cfg.name not in list(pe.SolverFactory):
            raise SolverUnavailableError(
                f"solver {cfg.name!r} is not known to Pyomo (the default is 'highs', which needs "
                "the highspy package)"
            )
        try:
            self.legacy = pe.SolverFactory(cfg.name)
            ok = self.legacy is not None and self.legacy.available(exception_flag=False)
        except Exception:
            ok = False
        if not ok:
            raise SolverUnavailableError(
                f"solver {cfg.name!r} is known to Pyomo but not installed on this machine"
            )

    def run(
        self, m: pe.ConcreteModel, time_limit_s: float | None = None
    ) -> tuple[str, float, float, float, bool]:
        """Solve ``m``; returns (status, objective, bound, solver seconds, has solution)."""
        cfg = self.cfg
        limit = cfg.time_limit_s if time_limit_s is None else time_limit_s
        if self.contrib is not None:
            from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

            res = self.contrib.solve(
                m,
                time_limit=limit,
                rel_gap=cfg.mip_rel_gap,
                threads=cfg.threads,
                load_solutions=False,
                raise_exception_on_nonoptimal_result=False,
                tee=False,
            )
            tc, ss = res.termination_condition, res.solution_status
            has = ss in (SolutionStatus.optimal, SolutionStatus.feasible)
            if tc in (
                TerminationCondition.provenInfeasible,
                TerminationCondition.infeasibleOrUnbounded,
            ):
                status = INFEASIBLE
            elif has and tc == TerminationCondition.convergenceCriteriaSatisfied:
                status = OPTIMAL
            elif has:
                status = FEASIBLE
            else:
                status = NO_SOLUTION
            if has:
                res.solution_loader.load_vars()
            obj = res.incumbent_objective if has else math.nan
            bound = res.objective_bound if res.objective_bound is not None else math.nan
            info = res.timing_info
            solver_s = float(getattr(info, "highs_time", math.nan) or math.nan)
            return status, float(obj if obj is not None else math.nan), float(bound), solver_s, has
        return self._run_legacy(m, limit)

    def _run_legacy(
        self, m: pe.ConcreteModel, limit: float
    ) -> tuple[str, float, float, float, bool]:
        from pyomo.opt import SolverStatus, TerminationCondition

        opt = self.legacy
        opts = {"timelimit": limit} if self.cfg.name != "glpk" else {}
        res = opt.solve(m, load_solutions=False, tee=False, options=opts)
        tc = res.solver.termination_condition
        if tc in (TerminationCondition.infeasible, TerminationCondition.infeasibleOrUnbounded):
            return INFEASIBLE, math.nan, math.nan, math.nan, False
        has = len(res.solution) > 0
        if has:
            m.solutions.load_from(res)
        obj = float(pe.value(m.obj)) if has else math.nan
        bound = math.nan
        try:
            lb, ub = res.problem.lower_bound, res.problem.upper_bound
            bound = float(lb if m.obj.sense == pe.minimize else ub)
        except (TypeError, ValueError, AttributeError):
            pass
        ok = res.solver.status == SolverStatus.ok and tc == TerminationCondition.optimal
        status = OPTIMAL if (has and ok) else (FEASIBLE if has else NO_SOLUTION)
        return status, obj, bound, math.nan, has


def check_solver(cfg: SolverConfig) -> None:
    """Raise :class:`SolverUnavailableError` now if ``cfg.name`` cannot be used."""
    _Runner(cfg)


def _values(variables) -> np.ndarray:
    return np.asarray([v.value if v.value is not None else 0.0 for v in variables])


def solve_assignment(
    data: AssignmentData,
    cfg: SolverConfig,
    lexicographic: bool = False,
    relax: bool | None = None,
) -> SolveResult:
    """Build and solve ``data``.

    Parameters
    ----------
    data : AssignmentData
    cfg : SolverConfig
        Solver name, time limit, relative gap and threads.
    lexicographic : bool
        First minimise the drops, then the cost with the drops kept at that minimum.
        Needs ``data.drop_cost``. ``cfg.time_limit_s`` covers both stages: the second gets
        what the first left, and at least a quarter of it. If the second stage finds no
        solution in time, the first stage's solution is returned (status ``feasible``).
    relax : bool, optional
        LP relaxation (defaults to ``cfg.lp_relaxation``): the objective is then a bound.

    Raises
    ------
    SolverUnavailableError
        The solver is not installed.
    """
    relax = cfg.lp_relaxation if relax is None else relax
    runner = _Runner(cfg)
    t0 = time.perf_counter()
    m = create_model(data, relax=relax)
    lexicographic = lexicographic and data.drop_cost is not None and data.sense == "min"
    if lexicographic:
        declare_served_objective(m)
    else:
        declare_objective(m, data)
    build_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    status, obj, bound, solver_s, has = runner.run(m)
    drops = math.nan
    drops_bound = math.nan
    if lexicographic and has:
        drops = float(sum(v.value or 0.0 for v in m._drop))
        stage1_optimal = status == OPTIMAL
        drops_bound = drops if stage1_optimal else (bound if bound == bound else 0.0)
        stage1 = (_values(m._x), _values(m._drop))
        t2 = time.perf_counter()
        floor = drops if relax else math.floor(drops + 0.5)
        declare_served_floor(m, floor + 1e-6)
        m.obj.deactivate()
        m.obj2 = pe.Objective(expr=cost_expression(m, data, with_drops=False), sense=pe.minimize)
        build_s += time.perf_counter() - t2
        left = max(cfg.time_limit_s - (time.perf_counter() - t1), 0.25 * cfg.time_limit_s)
        status2, obj, bound, solver_s2, has = runner.run(m, left)
        solver_s = solver_s + solver_s2
        status = status2 if stage1_optimal or status2 != OPTIMAL else FEASIBLE
        if not has and status2 != INFEASIBLE:
            # Keep the first stage's plan (it meets the floor); close gates it does not use.
            x1, drop1 = stage1
            gate_used = np.zeros(data.n_gates)
            if data.n_gates:
                np.maximum.at(gate_used, data.option_gate_gate, x1[data.option_gate_option].round())
            for var, val in zip(m._x, x1.round(), strict=True):
                var.set_value(val)
            for var, val in zip(m._g, gate_used, strict=True):
                var.set_value(val)
            for var, val in zip(m._drop, drop1.round(), strict=True):
                var.set_value(val)
            obj = float(data.option_cost @ x1.round() + data.gate_cost @ gate_used)
            obj += float(data.constant)
            status, has = FEASIBLE, True
            if bound != bound:
                bound = float(data.constant)
        elif not has:
            status = INFEASIBLE
    solve_s = time.perf_counter() - t1
    if not has:
        return SolveResult(
            status,
            math.nan,
            bound,
            math.nan,
            math.nan,
            build_s,
            solve_s,
            solver_s,
            None,
            None,
            None,
            relaxed=relax,
        )
    x = _values(m._x)
    drop = _values(m._drop) if m._drop else np.zeros(0)
    gate = _values(m._g)
    if math.isnan(drops):
        drops = float(drop.sum())
    return SolveResult(
        status,
        obj,
        bound,
        _gap(obj, bound),
        drops,
        build_s,
        solve_s,
        solver_s,
        x,
        drop,
        gate,
        relaxed=relax,
        drops_bound=drops_bound,
    )
