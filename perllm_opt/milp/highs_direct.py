"""The assignment MILP passed to HiGHS directly (``highspy``), without building a Pyomo model.

The same model as :mod:`perllm_opt.milp.declare` (assignment, capacity and gate rows; the
weighted objective), written as one column-wise sparse matrix with numpy. For the many small
MILPs of the known-means oracle (one or two per decision epoch) Pyomo's per-model build and
transfer cost several times HiGHS's own time; :func:`solve_assignment_direct` skips them.
``tests/test_highs_direct.py`` checks it against :func:`perllm_opt.milp.solve.solve_assignment`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import highspy
import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.result import (
    FEASIBLE,
    INFEASIBLE,
    NO_SOLUTION,
    OPTIMAL,
    SolveResult,
    relative_gap,
)


def _matrix(data: AssignmentData) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    """Columns (x, drop, gate) and rows (assignment, capacity, gate links) as COO triplets:
    (n_cols, n_rows, row, col, value)."""
    n_o, n_i, n_g = data.n_options, data.n_items, data.n_gates
    n_d = n_i if data.drop_cost is not None else 0
    n_r = data.n_resources
    rows, cols, vals = [], [], []
    # Assignment rows 0..n_i-1: sum_o x_o (+ drop_i) = 1.
    rows.append(data.option_item)
    cols.append(np.arange(n_o))
    vals.append(np.ones(n_o))
    if n_d:
        rows.append(np.arange(n_i))
        cols.append(n_o + np.arange(n_i))
        vals.append(np.ones(n_i))
    # Capacity rows n_i..n_i+n_r-1.
    rows.append(n_i + data.usage_resource)
    cols.append(data.usage_option)
    vals.append(data.usage_amount)
    rows.append(n_i + data.gate_usage_resource)
    cols.append(n_o + n_d + data.gate_usage_gate)
    vals.append(data.gate_usage_amount)
    # Gate rows: x_o - g <= 0.
    n_pairs = len(data.option_gate_option)
    pair_row = n_i + n_r + np.arange(n_pairs)
    rows += [pair_row, pair_row]
    cols += [data.option_gate_option, n_o + n_d + data.option_gate_gate]
    vals += [np.ones(n_pairs), -np.ones(n_pairs)]
    return (
        n_o + n_d + n_g,
        n_i + n_r + n_pairs,
        np.concatenate(rows).astype(np.int64),
        np.concatenate(cols).astype(np.int64),
        np.concatenate(vals).astype(float),
    )


def _start_solution(data: AssignmentData, x: np.ndarray) -> highspy.HighsSolution:
    """Every column's value for the option vector ``x``: a drop where an item has no option,
    a gate open where one of its options is chosen."""
    x, drop, gate = data.columns_for(x)
    cols = [x, drop, gate] if data.drop_cost is not None else [x, gate]
    sol = highspy.HighsSolution()
    sol.col_value = np.concatenate(cols).tolist()
    sol.value_valid = True
    return sol


def highs_model(
    data: AssignmentData,
    cfg: SolverConfig,
    relax: bool,
    max_nodes: int | None = None,
    presolve: bool = True,
    relaxed_items: np.ndarray | None = None,
) -> highspy.Highs:
    """A HiGHS instance holding ``data``'s weighted model (rows: assignment, capacity, gate
    links, in that order), with ``cfg``'s options; the options and drop of each item in the
    mask ``relaxed_items`` are continuous in [0, 1]."""
    n_i, n_o = data.n_items, data.n_options
    n_col, n_row, row, col, val = _matrix(data)
    n_d = n_i if data.drop_cost is not None else 0
    n_r = data.n_resources
    # Column-major, repeated (row, column) entries summed (HiGHS rejects duplicates).
    key, inv = np.unique(col * n_row + row, return_inverse=True)
    val = np.bincount(inv, weights=val, minlength=len(key))
    col, row = key // max(n_row, 1), key % max(n_row, 1)
    start = np.searchsorted(col, np.arange(n_col + 1))

    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = n_row
    cost = [data.option_cost, data.gate_cost]
    if n_d:
        cost.insert(1, data.drop_cost)
    lp.col_cost_ = np.concatenate(cost).astype(float)
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.ones(n_col)
    n_pairs = n_row - n_i - n_r
    lp.row_lower_ = np.concatenate([np.ones(n_i), np.full(n_r + n_pairs, -highspy.kHighsInf)])
    lp.row_upper_ = np.concatenate(
        [np.ones(n_i), np.asarray(data.capacity, dtype=float), np.zeros(n_pairs)]
    )
    lp.offset_ = float(data.constant)
    lp.sense_ = highspy.ObjSense.kMaximize if data.sense == "max" else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start.astype(np.int32)
    lp.a_matrix_.index_ = row.astype(np.int32)
    lp.a_matrix_.value_ = val
    if not relax:
        integer = np.ones(n_col, dtype=bool)
        if relaxed_items is not None:
            integer[:n_o] = ~relaxed_items[data.option_item]
            if n_d:
                integer[n_o : n_o + n_d] = ~relaxed_items
        kind = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
        lp.integrality_ = [kind[int(v)] for v in integer]

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(cfg.time_limit_s))
    h.setOptionValue("mip_rel_gap", float(cfg.mip_rel_gap))
    # HiGHS's thread pool is per process and fixed by its first solve: a later solve asking
    # for another count fails ("scheduler already initialised"), so always ask for cfg's.
    h.setOptionValue("threads", int(cfg.threads))
    if max_nodes is not None:
        h.setOptionValue("mip_max_nodes", int(max_nodes))
    if not presolve:
        h.setOptionValue("presolve", "off")
    h.passModel(lp)
    return h


def stop_after_checks(h: highspy.Highs, checks: int) -> Callable[[], None]:
    """Interrupt ``h``'s next MIP search at its ``checks``-th interrupt check.

    HiGHS offers its MIP interrupt callback at fixed points of the search: after each
    separation round of the root node and at each node. The points are the same on every
    machine (the search is deterministic), so their count is a measure of work, unlike
    seconds, that also covers the root node (whose separation rounds can take most of a
    search's time, where a node limit does not reach). The best solution found so far is
    kept, as at a time limit. Returns a function that removes the budget (for a model that
    is solved again, as the lexicographic stages are).
    """
    if checks < 1:
        raise ValueError(f"stop_after_checks: checks must be >= 1, got {checks}")
    seen = [0]

    def interrupt(event) -> None:
        seen[0] += 1
        if seen[0] >= checks:
            event.interrupt()

    h.cbMipInterrupt.subscribe(interrupt)
    return lambda: h.cbMipInterrupt.unsubscribe(interrupt)


def solve_assignment_direct(
    data: AssignmentData,
    cfg: SolverConfig,
    relax: bool = False,
    max_nodes: int | None = None,
    presolve: bool = True,
    initial_x: np.ndarray | None = None,
    relaxed_items: np.ndarray | None = None,
    max_checks: int | None = None,
    max_drops: float | None = None,
) -> SolveResult:
    """Solve ``data`` with its weighted objective through ``highspy``.

    Parameters
    ----------
    data : AssignmentData
    cfg : SolverConfig
        Time limit, relative gap and threads (the solver is HiGHS whatever ``cfg.name``).
    relax : bool
        LP relaxation.
    max_nodes : int, optional
        Branch-and-bound node limit (HiGHS ``mip_max_nodes``): unlike the time limit it
        stops at the same point on every machine, so results stay reproducible.
    presolve : bool
        HiGHS's presolve (the epoch plans turn it off: docs/design_notes.md).
    initial_x : ndarray of float, shape (n_options,), optional
        A feasible assignment (0/1 per option) to start branch-and-bound from, with drops
        and gates set to match. The optimal value is the same, but which plan within
        ``cfg.mip_rel_gap`` comes back can change.
    relaxed_items : ndarray of bool, shape (n_items,), optional
        Items whose options and drop are continuous (relax-and-fix: the rolling plan's
        look-ahead, perllm_opt/milp/rolling.py); their values in the result are fractional.
    max_checks : int, optional
        Stop at HiGHS's ``max_checks``-th MIP interrupt check (:func:`stop_after_checks`):
        a budget that, unlike the time limit, ends the search at the same point on every
        machine, and unlike ``max_nodes`` also bounds the root node's work. Default:
        ``cfg.checks``.
    max_drops : float, optional
        A row ``sum_i drop_i <= max_drops`` (a lexicographic second stage: the least cost
        among the plans that serve as many items).

    Returns
    -------
    SolveResult
        As :func:`perllm_opt.milp.solve.solve_assignment` with ``lexicographic=False``.
    """
    t0 = time.perf_counter()
    n_o, n_i = data.n_options, data.n_items
    n_d = n_i if data.drop_cost is not None else 0
    h = highs_model(data, cfg, relax, max_nodes, presolve, relaxed_items)
    if max_drops is not None and n_d:
        cols = np.arange(n_o, n_o + n_d, dtype=np.int32)
        h.addRow(-highspy.kHighsInf, float(max_drops), n_d, cols, np.ones(n_d))
    if max_checks is None:
        max_checks = cfg.checks
    if max_checks is not None and not relax:
        stop_after_checks(h, max_checks)
    if initial_x is not None:
        h.setSolution(_start_solution(data, np.asarray(initial_x, dtype=float)))
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    h.run()
    solve_s = time.perf_counter() - t1
    return _result(h, data, relax, build_s, solve_s)


def _result(
    h: highspy.Highs, data: AssignmentData, relax: bool, build_s: float, solve_s: float
) -> SolveResult:
    """The :class:`SolveResult` of ``h`` after its run on ``data``."""
    model_status = h.getModelStatus()
    info = h.getInfo()
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    if model_status == highspy.HighsModelStatus.kOptimal and has:
        status = OPTIMAL
    elif model_status == highspy.HighsModelStatus.kInfeasible:
        status, has = INFEASIBLE, False
    else:
        status = FEASIBLE if has else NO_SOLUTION
    solver_s = float(h.getRunTime())
    obj = float(info.objective_function_value) if has else math.nan
    bound = obj if relax else float(info.mip_dual_bound)
    if not math.isfinite(bound):
        bound = math.nan
    if not has:
        return SolveResult(
            status, math.nan, bound, math.nan, math.nan, build_s, solve_s, solver_s,
            None, None, None, relaxed=relax,
        )  # fmt: skip
    n_o, n_i, n_g = data.n_options, data.n_items, data.n_gates
    n_d = n_i if data.drop_cost is not None else 0
    x_all = np.asarray(h.getSolution().col_value)
    x, drop, gate = x_all[:n_o], x_all[n_o : n_o + n_d], x_all[n_o + n_d :]
    return SolveResult(
        status,
        obj,
        bound,
        relative_gap(obj, bound),
        float(drop.sum()),
        build_s,
        solve_s,
        solver_s,
        x,
        drop,
        gate[:n_g],
        relaxed=relax,
    )


def lp_duals(
    data: AssignmentData, cfg: SolverConfig, method: str = "choose", crossover: bool = True
) -> tuple[float, np.ndarray, np.ndarray]:
    """The LP relaxation of ``data`` (a minimisation, weighted objective) and its prices,
    by HiGHS's ``method`` (its ``solver`` option; ``crossover=False`` leaves the interior
    point method's solution without a basis: prices as good for pricing, 18% faster on a
    pair of the scale experiment's blocks).

    Returns
    -------
    value : float
        The relaxation's optimum (a lower bound on the MILP's).
    capacity_price : ndarray, shape (n_resources,)
        ``-y_r >= 0`` for each capacity row ``r`` (HiGHS's row dual ``y_r`` of a ``<=`` row of
        a minimisation is non-positive): what one more unit of the resource would save.
    link_price : ndarray, shape (n_option_gate_pairs,)
        The same for each gate link ``x_o - g <= 0``.

    Raises
    ------
    RuntimeError
        HiGHS did not prove the relaxation optimal (e.g. at the time limit).
    """
    if data.sense != "min":
        raise ValueError("lp_duals: a minimisation is expected")
    h = highs_model(data, cfg, relax=True)
    h.setOptionValue("solver", method)
    if not crossover:
        h.setOptionValue("run_crossover", "off")
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        status = h.modelStatusToString(h.getModelStatus())
        raise RuntimeError(f"lp_duals: HiGHS ended with {status}")
    dual = np.asarray(h.getSolution().row_dual, dtype=float)
    n_i, n_r = data.n_items, data.n_resources
    value = float(h.getInfo().objective_function_value)
    return value, np.maximum(-dual[n_i : n_i + n_r], 0.0), np.maximum(-dual[n_i + n_r :], 0.0)


def lp_solution(
    data: AssignmentData, cfg: SolverConfig, method: str = "ipm"
) -> tuple[float, np.ndarray | None, float]:
    """The LP relaxation of ``data``: its optimum (weighted objective; a lower bound on the
    MILP's), the fractional value of each option (None when not proven) and HiGHS's seconds;
    NaN when not proven within ``cfg.time_limit_s``.

    ``method`` is HiGHS's ``solver`` option: the interior point method by default, much
    faster than the dual simplex on long continuous windows (docs/design_notes.md).
    """
    h = highs_model(data, cfg, relax=True)
    h.setOptionValue("solver", method)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return math.nan, None, float(h.getRunTime())
    x = np.asarray(h.getSolution().col_value, dtype=float)[: data.n_options]
    return float(h.getInfo().objective_function_value), x, float(h.getRunTime())
