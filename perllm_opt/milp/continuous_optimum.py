"""The continuous-mode optimum: one MILP per independent window, a fix-and-optimize search
where a window's MILP ends far from its bound, and long windows by blocks."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator

import numpy as np
from tqdm.auto import tqdm

from perllm_opt.config import SolverConfig
from perllm_opt.instance.bins import n_bins
from perllm_opt.instance.realised import Instance
from perllm_opt.milp.block_lp import block_lp_bound
from perllm_opt.milp.continuous import (
    always_on_idle_continuous_j,
    window_problem,
    window_requests,
)
from perllm_opt.milp.highs_direct import lp_solution
from perllm_opt.milp.parallel import Task, solve_each
from perllm_opt.milp.perllm import RoundProblem
from perllm_opt.milp.result import SolveResult
from perllm_opt.milp.rolling import DecomposedResult, block_index, by_blocks, solve_by_blocks
from perllm_opt.milp.rounding import round_lp
from perllm_opt.milp.solve import start_outcome
from perllm_opt.milp.subproblems import (
    OptimumResult,
    Totals,
    build_problems,
    drops_floor,
    objective_of,
    task_for,
)
from perllm_opt.milp.window_search import improve_by_windows


def _certified(
    prob: RoundProblem, plan: np.ndarray, bound: float, lp_value: float, clock: list[float]
) -> DecomposedResult:
    """The window's ``plan`` with a proven lower ``bound`` on ``M drops + energy``."""
    out = start_outcome(prob.data, prob.start_x(plan), lexicographic=False)
    if out is None:
        raise AssertionError("the searched plan breaks a row of its window (a bug)")
    drops, obj, x, _, _ = out
    option = prob.options_of(x, len(plan))
    penalty = float(prob.data.drop_cost[0]) if prob.data.n_items else 0.0
    build_s, solve_s, solver_s = clock
    return DecomposedResult(
        option=option, x=x, drops=drops, energy=obj - penalty * drops, bound=bound,
        lagrangian_bound=math.nan, lp_bound=lp_value, n_blocks=1, n_crossing_rows=0,
        build_s=build_s, solve_s=solve_s, solver_s=solver_s, plan_proven=0,
    )  # fmt: skip


def _window_lp(
    instance: Instance, prob: RoundProblem, cfg: SolverConfig
) -> tuple[float, np.ndarray | None, float]:
    """The LP bound of the window ``prob`` (NaN where not proven), a fractional point to
    round (None where not proven) and the seconds taken: one LP, or by blocks of
    ``cfg.lp_block_s`` seconds (:func:`block_lp_bound`) above ``cfg.lp_max_options``
    options where no gate takes capacity."""
    data = prob.data
    large = cfg.lp_max_options is not None and data.n_options > cfg.lp_max_options
    if large and not len(data.gate_usage_gate) and len(prob.request):
        item_block = block_index(instance, prob.request, cfg.lp_block_s)
        if item_block.max() > 0:
            return block_lp_bound(data, item_block, cfg)
    return lp_solution(data, cfg)


def _better_plan(prob: RoundProblem, plan: np.ndarray, x: np.ndarray | None) -> np.ndarray:
    """``plan`` (global option per request), or the problem's 0/1 choice ``x`` where ``x``
    leaves fewer requests unserved (or as many for less weighted energy)."""
    if x is None:
        return plan
    mine = start_outcome(prob.data, x, lexicographic=True)
    theirs = start_outcome(prob.data, prob.start_x(plan), lexicographic=True)
    if mine is None or (theirs is not None and theirs[:2] <= mine[:2]):
        return plan
    return prob.options_of(x, len(plan))


def _searched(
    instance: Instance,
    prob: RoundProblem,
    res: SolveResult | None,
    start: np.ndarray | None,
    cfg: SolverConfig,
    progress: bool,
) -> DecomposedResult | None:
    """A window after its whole MILP (``res``; None when it was too large): if the plan is
    more than ``cfg.search_gap`` of its on-time requests from the proven bound, the window's
    LP bound is added and the plan improved by :func:`improve_by_windows`, pass by pass
    until the gap closes to ``search_gap``, from ``res``'s plan (solved with ``start`` as
    its floor, so no worse), else from the better of ``start`` (where it holds on the
    window's rows) and the LP's rounding. None when ``res`` already meets the gap (it is
    then counted as it is)."""
    penalty = instance.drop_penalty_j
    constant = float(prob.data.constant)
    bound = -math.inf
    plan = np.full(instance.n_requests, -1, dtype=np.int64)
    if res is not None and res.has_solution:
        _, bound = objective_of(res, penalty, True, constant)
        plan = prob.options_of(res.x, instance.n_requests)
    else:
        if res is not None and res.drops_bound == res.drops_bound:
            bound = penalty * math.ceil(res.drops_bound - 1e-6) + constant
        if start is not None and start_outcome(prob.data, prob.start_x(start), True):
            plan = start
    ids = np.concatenate([prob.request, prob.fixed_request])

    def gap_ok(p: np.ndarray, b: float) -> bool:
        drops = int((p[prob.request] < 0).sum())  # the fixed requests are always served
        least = drops_floor(b, penalty, constant)
        return drops - least <= cfg.search_gap * max(len(ids) - drops, 1)

    if res is not None and res.has_solution and gap_ok(plan, bound):
        return None
    t0 = time.perf_counter()
    lp_value, x_lp, solver_s = _window_lp(instance, prob, cfg)
    if lp_value == lp_value:
        bound = max(bound, lp_value)
    if x_lp is not None and (res is None or not res.has_solution):
        # Where the whole MILP ran, its plan (from HiGHS's own LP-based heuristics) stays
        # the start: docs/benchmarks.md, "The LP's rounding as the start".
        plan = _better_plan(prob, plan, round_lp(prob.data, x_lp))
    found = improve_by_windows(
        instance, ids, cfg, plan, progress, enough=lambda p: gap_ok(p, bound)
    )
    build_s = found.build_s
    plan = found.option
    if bound == -math.inf:
        bound = constant
    return _certified(prob, plan, bound, lp_value, [build_s, time.perf_counter() - t0, solver_s])


def solve_continuous(
    instance: Instance,
    cfg: SolverConfig,
    lexicographic: bool,
    progress: bool,
    start: np.ndarray | None,
) -> OptimumResult:
    """Continuous mode: one MILP per independent window (exact, see
    :func:`perllm_opt.instance.windows.continuous_windows`), plus the requests that no option serves
    on time and the idle draw of the servers that never sleep.

    With ``cfg.search`` (lexicographic objective), a window whose whole MILP (from
    ``start`` as its floor; skipped above ``cfg.whole_max_options`` options) ends more than
    ``cfg.search_gap`` from its bound also gets its LP bound and a fix-and-optimize search
    (:func:`_searched`)."""
    totals = Totals(
        np.full(instance.n_requests, -1, dtype=np.int64), instance.drop_penalty_j, lexicographic
    )
    windows = window_requests(instance)
    unreachable = int((instance.request_window < 0).sum())
    base = instance.drop_penalty_j * unreachable + always_on_idle_continuous_j(instance)
    totals.objective = totals.bound = base
    # Windows longer than solver.window_s are solved by blocks (lexicographic objective).
    long = [by_blocks(instance, w, cfg) and lexicographic for w in windows]
    whole = [w for w, lg in zip(windows, long, strict=True) if not lg]

    def build(ids):
        return window_problem(instance, ids, reduce=False)

    search = cfg.search and lexicographic and not cfg.lp_relaxation
    bar = tqdm(total=len(whole), desc="optimum", unit="window", disable=not progress, leave=False)

    def count(prob: RoundProblem, res: SolveResult | None) -> None:
        dec = _searched(instance, prob, res, start, cfg, progress) if search else None
        if dec is None:
            totals.add(prob, res)
        else:
            totals.add_blocks(prob, dec)
        bar.update()

    # Built lazily, as solved_in_order does, so that memory stays bounded whatever the number of
    # windows; searching, a window above whole_max_options skips its whole MILP.
    built: deque[tuple[RoundProblem, bool]] = deque()

    def tasks() -> Iterator[Task]:
        for prob in build_problems(cfg, build, whole, totals):
            milp = not search or prob.data.n_options <= cfg.whole_max_options
            built.append((prob, milp))
            if milp:
                yield task_for(prob, cfg, start)

    for res in solve_each(tasks(), cfg, lexicographic):
        prob, milp = built.popleft()
        while not milp:
            count(prob, None)
            prob, milp = built.popleft()
        count(prob, res)
    while built:
        count(built.popleft()[0], None)
    bar.close()
    split = [w for w, lg in zip(windows, long, strict=True) if lg]
    for prob in build_problems(cfg, build, split, totals):
        totals.add_blocks(prob, solve_by_blocks(instance, prob, cfg, start, progress))
    return totals.result(np.full(n_bins(instance), math.nan), None)
