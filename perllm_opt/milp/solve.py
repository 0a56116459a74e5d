"""Solve an assignment model with HiGHS (or another MILP solver Pyomo knows).

One wrapper, :func:`solve_assignment`: builds the model, solves it (once for a weighted
objective, twice for the lexicographic one) and returns status, objective, best bound, gap,
build and solve seconds, and the solution only when one exists.
"""

from __future__ import annotations

import logging
import math
import time

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
from perllm_opt.milp.highs_direct import stop_after_checks
from perllm_opt.milp.model import create_model
from perllm_opt.milp.result import (
    FEASIBLE,
    INFEASIBLE,
    NO_SOLUTION,
    OPTIMAL,
    SolveResult,
    relative_gap,
)


class SolverUnavailableError(RuntimeError):
    """The configured solver is not installed (a user-facing condition)."""


class NoSolutionError(RuntimeError):
    """The solver stopped without any solution (infeasible, or time limit)."""


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

    def set_start(self, m: pe.ConcreteModel, values: dict[int, float]) -> bool:
        """Start the next :meth:`run` of ``m`` from ``values`` (``id(var)`` -> value; the
        variables left out start at 0). Pyomo 6.10's persistent HiGHS interface has no
        warm-start option, so the start is set on the HiGHS model it holds, after pushing
        any pending change of ``m`` (the next solve then finds nothing to update and HiGHS
        keeps the start). Returns False, and does nothing, for any other solver.

        Run a started model with ``presolve=False``: with its presolve on, HiGHS given a
        start can return a wrong "optimal" (docs/design_notes.md)."""
        opt = self.contrib
        if opt is None or not hasattr(opt, "_solver_model") or not hasattr(opt, "set_instance"):
            return False
        import highspy

        if getattr(opt, "_model", None) is not m:
            opt.set_instance(m)
        else:
            opt.update()
        col_of = opt._pyomo_var_to_solver_var_map
        h = opt._solver_model
        col = np.zeros(h.getNumCol())
        for v in m.component_data_objects(pe.Var, descend_into=True):
            k = col_of.get(id(v))
            if k is not None:
                col[k] = values.get(id(v), 0.0)
        sol = highspy.HighsSolution()
        sol.col_value = col.tolist()
        sol.value_valid = True
        return h.setSolution(sol) == highspy.HighsStatus.kOk

    def _check_budget(self, m: pe.ConcreteModel):
        """With ``cfg.checks``, the HiGHS model of ``m`` (pending changes pushed, as
        :meth:`set_start` does) stops its next search at that many interrupt checks; returns
        the function that removes the budget, or None (no budget, or not HiGHS)."""
        opt = self.contrib
        if self.cfg.checks is None or opt is None or not hasattr(opt, "_solver_model"):
            return None
        if not hasattr(opt, "set_instance"):
            return None
        if getattr(opt, "_model", None) is not m:
            opt.set_instance(m)
        else:
            opt.update()
        return stop_after_checks(opt._solver_model, self.cfg.checks)

    def run(
        self, m: pe.ConcreteModel, time_limit_s: float | None = None, presolve: bool = True
    ) -> tuple[str, float, float, float, bool]:
        """Solve ``m``; returns (status, objective, bound, solver seconds, has solution).
        ``presolve=False`` turns HiGHS's presolve off for this run (see :meth:`set_start`)."""
        cfg = self.cfg
        limit = cfg.time_limit_s if time_limit_s is None else time_limit_s
        if self.contrib is not None:
            from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

            remove_budget = self._check_budget(m)
            # Pyomo warns of HiGHS's "interrupted" status, which is the budget doing its job
            # (the run's own warning reports the stop and its gap); other warnings pass.
            pyomo_highs = logging.getLogger("pyomo.contrib.solver.solvers.highs")
            quiet = _DropInterruptWarning()
            pyomo_highs.addFilter(quiet)
            try:
                res = self.contrib.solve(
                    m,
                    time_limit=limit,
                    rel_gap=cfg.mip_rel_gap,
                    threads=cfg.threads,
                    load_solutions=False,
                    raise_exception_on_nonoptimal_result=False,
                    tee=False,
                    solver_options={} if presolve else {"presolve": "off"},
                )
            finally:
                pyomo_highs.removeFilter(quiet)
                if remove_budget is not None:
                    remove_budget()
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


class _DropInterruptWarning(logging.Filter):
    """Drops Pyomo's warning that HiGHS returned the (unmapped) status ``kInterrupt``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "kInterrupt" not in record.getMessage()


def check_solver(cfg: SolverConfig) -> None:
    """Raise :class:`SolverUnavailableError` now if ``cfg.name`` cannot be used."""
    _Runner(cfg)


def _nothing_to_choose(data: AssignmentData, lexicographic: bool, relax: bool) -> SolveResult:
    """The optimum of a problem without options (every item dropped, every gate closed; the
    reductions can leave one): no solver call."""
    drops = float(data.n_items) if data.drop_cost is not None else math.nan
    if data.drop_cost is None and data.n_items:
        return SolveResult(
            INFEASIBLE, math.nan, math.nan, math.nan, math.nan, 0.0, 0.0, 0.0,
            None, None, None, relaxed=relax,
        )  # fmt: skip
    lex = lexicographic and data.drop_cost is not None and data.sense == "min"
    obj = float(data.constant)
    if not lex and data.drop_cost is not None:
        obj += float(np.sum(data.drop_cost))
    return SolveResult(
        OPTIMAL, obj, obj, 0.0, drops if drops == drops else 0.0, 0.0, 0.0, 0.0,
        np.zeros(0), np.ones(data.n_items) if data.drop_cost is not None else np.zeros(0),
        np.zeros(data.n_gates), relaxed=relax, drops_bound=drops if lex else math.nan,
    )  # fmt: skip


def _start_values(
    m: pe.ConcreteModel, data: AssignmentData, x: np.ndarray, drop: np.ndarray | None = None
) -> dict[int, float]:
    """A start for every variable of ``m`` from the option choice ``x`` (rounded to 0/1):
    drops where an item has no option (or ``drop`` when given), gates where a chosen option
    needs them."""
    x, implied, gate = data.columns_for(x)
    values = {id(v): float(val) for v, val in zip(m._x, x, strict=True)}
    if m._drop:
        drop = implied if drop is None else drop
        values.update({id(v): float(round(val)) for v, val in zip(m._drop, drop, strict=True)})
    values.update({id(v): float(val) for v, val in zip(m._g, gate, strict=True)})
    return values


def _values(variables) -> np.ndarray:
    return np.asarray([v.value if v.value is not None else 0.0 for v in variables])


def solve_assignment(
    data: AssignmentData,
    cfg: SolverConfig,
    lexicographic: bool = False,
    relax: bool | None = None,
    initial_x: np.ndarray | None = None,
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
    initial_x : ndarray, shape (n_options,), optional
        A 0/1 choice of options (an item with no option chosen is dropped; gates open where
        a chosen option needs them). If it is feasible and the search ends worse, or without
        a solution, it is returned instead (status ``feasible``): the result is never worse
        than it. With ``cfg.warm_start`` HiGHS also starts from it (and the lexicographic
        second stage from the first stage's solution), with its presolve off. A start never
        changes the optimum, only how fast it is proven and, within ``cfg.mip_rel_gap``,
        which solution comes back.

    Raises
    ------
    SolverUnavailableError
        The solver is not installed.
    """
    relax = cfg.lp_relaxation if relax is None else relax
    runner = _Runner(cfg)
    if data.n_options == 0:
        return _nothing_to_choose(data, lexicographic, relax)
    t0 = time.perf_counter()
    m = create_model(data, relax=relax)
    lexicographic = lexicographic and data.drop_cost is not None and data.sense == "min"
    if lexicographic:
        declare_served_objective(m)
    else:
        declare_objective(m, data)
    build_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    warm = cfg.warm_start and not relax
    started = False
    if warm and initial_x is not None:
        started = runner.set_start(m, _start_values(m, data, initial_x))
    status, obj, bound, solver_s, has = runner.run(m, presolve=not started)
    drops = math.nan
    drops_bound = math.nan
    if lexicographic and has:
        drops = float(sum(v.value or 0.0 for v in m._drop))
        # No finite bound yet (stopped before the root LP): drops are at least 0.
        drops_bound = drops if status == OPTIMAL else (bound if math.isfinite(bound) else 0.0)
        status, obj, bound, solver_s, has, stage_build_s = _second_stage(
            runner, m, data, cfg, (relax, warm, t1), drops, (status, solver_s)
        )
        build_s += stage_build_s
    solve_s = time.perf_counter() - t1
    res = _result(
        m, (status, obj, bound, has), drops, drops_bound, (build_s, solve_s, solver_s), relax
    )
    if initial_x is not None:
        res = _no_worse_than_start(res, data, initial_x, lexicographic)
    return res


def _second_stage(
    runner: _Runner,
    m: pe.ConcreteModel,
    data: AssignmentData,
    cfg: SolverConfig,
    how: tuple[bool, bool, float],
    drops: float,
    first: tuple[str, float],
) -> tuple[str, float, float, float, bool, float]:
    """The lexicographic second stage: the least cost with the drops kept at the first
    stage's (``how``: relaxed, warm-started, the first stage's start time; ``first``: its
    status and solver seconds). Returns status, objective, bound, solver seconds, whether
    a solution exists, and the seconds spent building the stage. Without a solution in
    time it keeps the first stage's plan (status ``feasible``)."""
    relax, warm, t1 = how
    stage1_optimal = first[0] == OPTIMAL
    stage1 = (_values(m._x), _values(m._drop))
    t2 = time.perf_counter()
    floor = drops if relax else math.floor(drops + 0.5)
    declare_served_floor(m, floor + 1e-6)
    m.obj.deactivate()
    m.obj2 = pe.Objective(expr=cost_expression(m, data, with_drops=False), sense=pe.minimize)
    build_s = time.perf_counter() - t2
    left = max(cfg.time_limit_s - (time.perf_counter() - t1), 0.25 * cfg.time_limit_s)
    started = False
    if warm:
        x1, drop1 = stage1
        started = runner.set_start(m, _start_values(m, data, x1, drop1))
    status2, obj, bound, solver_s2, has = runner.run(m, left, presolve=not started)
    # HiGHS's run clock keeps running across the runs of one (persistent) model: the
    # second stage's reading then already includes the first stage.
    solver_s = solver_s2 if solver_s2 >= first[1] else first[1] + solver_s2
    status = status2 if stage1_optimal or status2 != OPTIMAL else FEASIBLE
    if not has and status2 != INFEASIBLE:
        obj = _keep_first_stage(m, data, stage1)
        status, has = FEASIBLE, True
        if bound != bound:
            bound = float(data.constant)
    elif not has:
        status = INFEASIBLE
    return status, obj, bound, solver_s, has, build_s


def _keep_first_stage(
    m: pe.ConcreteModel, data: AssignmentData, stage1: tuple[np.ndarray, np.ndarray]
) -> float:
    """Put the first stage's plan back into ``m`` (it meets the floor; gates it does not
    use closed) and return its cost."""
    x1, drop1 = stage1
    x1, _, gate_used = data.columns_for(x1)
    for var, val in zip(m._x, x1, strict=True):
        var.set_value(val)
    for var, val in zip(m._g, gate_used, strict=True):
        var.set_value(val)
    for var, val in zip(m._drop, drop1.round(), strict=True):
        var.set_value(val)
    obj = float(data.option_cost @ x1 + data.gate_cost @ gate_used)
    obj += float(data.constant)
    return obj


def _result(
    m: pe.ConcreteModel,
    outcome: tuple[str, float, float, bool],
    drops: float,
    drops_bound: float,
    times: tuple[float, float, float],
    relax: bool,
) -> SolveResult:
    """The :class:`SolveResult` of ``m`` after its last run (``outcome``: status,
    objective, bound, whether a solution exists; ``times``: build, solve and solver
    seconds)."""
    status, obj, bound, has = outcome
    build_s, solve_s, solver_s = times
    if not has:
        return SolveResult(
            status, math.nan, bound, math.nan, math.nan, build_s, solve_s, solver_s,
            None, None, None, relaxed=relax, drops_bound=drops_bound,
        )  # fmt: skip
    x = _values(m._x)
    drop = _values(m._drop) if m._drop else np.zeros(0)
    gate = _values(m._g)
    if math.isnan(drops):
        drops = float(drop.sum())
    return SolveResult(
        status, obj, bound, relative_gap(obj, bound), drops, build_s, solve_s, solver_s,
        x, drop, gate, relaxed=relax, drops_bound=drops_bound,
    )  # fmt: skip


def start_outcome(
    data: AssignmentData, x: np.ndarray, lexicographic: bool
) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray] | None:
    """Drops, objective, and the x, drop and gate vectors of the 0/1 option choice ``x`` (at
    most one option per item, gates opened as needed), or None if it breaks a row. The
    objective is the one :func:`solve_assignment` reports: without the drops' cost when
    ``lexicographic``."""
    x, drop, gate = data.columns_for(x)
    taken = np.bincount(data.option_item, weights=x, minlength=data.n_items)
    if np.any(taken > 1) or (data.drop_cost is None and np.any(taken < 1)):
        return None
    load = np.zeros(data.n_resources)
    np.add.at(load, data.usage_resource, data.usage_amount * x[data.usage_option])
    np.add.at(load, data.gate_usage_resource, data.gate_usage_amount * gate[data.gate_usage_gate])
    cap = np.asarray(data.capacity, dtype=float)
    if np.any(load > cap + 1e-9 * np.maximum(np.abs(cap), 1.0)):
        return None
    obj = float(data.option_cost @ x + data.gate_cost @ gate + data.constant)
    if data.drop_cost is not None and not lexicographic:
        obj += float(data.drop_cost @ drop)
    return float(drop.sum()), obj, x, drop, gate


def _no_worse_than_start(
    res: SolveResult, data: AssignmentData, x0: np.ndarray, lexicographic: bool
) -> SolveResult:
    """``res``, or the start ``x0`` when it is feasible and ``res`` is worse or has no
    solution (a search stopped early; HiGHS may not have used the start): a warm start never
    makes the result worse. Bounds stay those the solver proved."""
    if res.relaxed or data.sense == "max":
        return res  # the optimum's problems are minimisations; GAP's maximisations take no start
    start = start_outcome(data, x0, lexicographic)
    if start is None:
        return res
    drops, obj, x, drop, gate = start
    if res.has_solution:
        key_res = (res.drops, res.objective) if lexicographic else (0.0, res.objective)
        key_start = (drops, obj) if lexicographic else (0.0, obj)
        if key_start >= key_res:
            return res
    return SolveResult(
        FEASIBLE, obj, res.bound, relative_gap(obj, res.bound), drops, res.build_s, res.solve_s,
        res.solver_s, x, drop, gate, relaxed=False,
        drops_bound=res.drops_bound if res.drops_bound == res.drops_bound else 0.0,
    )  # fmt: skip
