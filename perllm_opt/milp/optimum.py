"""The offline optimum of an instance: solve the MILP (per round, or jointly in placement
mode) and map the solution back to an :class:`~perllm_opt.assignment.Assignment`."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from perllm_opt.assignment import Assignment
from perllm_opt.config import SolverConfig
from perllm_opt.evaluate_continuous import n_bins
from perllm_opt.instance import Instance
from perllm_opt.milp.continuous import (
    always_on_idle_continuous_j,
    window_problem,
    window_requests,
)
from perllm_opt.milp.highs_direct import lp_solution
from perllm_opt.milp.parallel import Task, solve_each
from perllm_opt.milp.perllm import (
    RoundProblem,
    always_on_idle_j,
    joint_problem,
    reduce_problem,
    round_problem,
)
from perllm_opt.milp.rolling import DecomposedResult, by_blocks, solve_by_blocks
from perllm_opt.milp.rounding import round_lp
from perllm_opt.milp.solve import FEASIBLE, OPTIMAL, SolveResult, start_outcome
from perllm_opt.milp.window_search import improve_by_windows

_STATUS_RANK = {OPTIMAL: 0, FEASIBLE: 1, "no_solution": 2, "infeasible": 3}


@dataclass(frozen=True, eq=False)
class OptimumResult:
    """The optimum of an instance.

    Attributes
    ----------
    status : str
        Worst status over the subproblems (``optimal`` only if every one is).
    objective, bound, gap : float
        Weighted objective ``M * unserved + weighted energy`` (the evaluator's), its proven
        bound and the relative gap. For an LP relaxation, ``objective`` is NaN and ``bound``
        the relaxation's value.
    build_s, solve_s, solver_s : float
        Totals over the subproblems (see :class:`~perllm_opt.milp.solve.SolveResult`).
    assignment : Assignment or None
        Only when a solution exists (never for a relaxation).
    objective_per_round : ndarray
    hosts : ndarray of bool or None
        Placement mode: the optimal deployment (servers x models).
    subproblems : int
    served_bound : float
        Lexicographic objective: a proven upper bound on the requests served on time (NaN
        otherwise).
    n_options_full, n_options : int
        On-time options over all subproblems, before and after the exact reductions.
    n_fixed : int
        Requests the reductions fixed to an option outside the MILP.
    n_proven : int
        Subproblems proven optimal (``subproblems`` when ``status`` is optimal).
    """

    status: str
    objective: float
    bound: float
    gap: float
    build_s: float
    solve_s: float
    solver_s: float
    assignment: Assignment | None
    objective_per_round: np.ndarray
    hosts: np.ndarray | None
    subproblems: int
    served_bound: float = math.nan
    n_options_full: int = 0
    n_options: int = 0
    n_fixed: int = 0
    n_proven: int = 0

    def kv_budget_bytes(self, instance: Instance) -> np.ndarray | None:
        """Per-server KV memory left by the optimal deployment (placement mode)."""
        if self.hosts is None:
            return None
        dep = instance.deployment
        return dep.memory_bytes - (dep.weight_bytes * self.hosts).sum(axis=1)


def _drops_bound(res: SolveResult) -> float:
    """A proven lower bound on a lexicographic subproblem's drops (NaN without one)."""
    if res.relaxed or res.drops_bound != res.drops_bound:
        return math.nan
    return float(math.ceil(res.drops_bound - 1e-6))


def _objective_of(
    res: SolveResult, penalty: float, lexicographic: bool, constant: float = 0.0
) -> tuple[float, float]:
    """Weighted objective and a proven bound of a subproblem result.

    Lexicographic: when the first stage is proven, ``M drops* + `` the second stage's bound;
    otherwise ``M ceil(drops bound) + constant`` (option and gate costs are non-negative).
    """
    if lexicographic and not res.relaxed:
        obj = penalty * res.drops + res.objective
        lb = _drops_bound(res)
        if lb == lb and lb < res.drops - 0.5:
            return obj, penalty * lb + constant
        return obj, penalty * res.drops + res.bound
    return res.objective, res.bound


@dataclass
class _Totals:
    """Running totals over the subproblems of one solve (mutable, local to it)."""

    option: np.ndarray
    penalty: float
    lexicographic: bool
    status: str = OPTIMAL
    objective: float = 0.0
    bound: float = 0.0
    served_bound: float = 0.0
    build_s: float = 0.0
    solve_s: float = 0.0
    solver_s: float = 0.0
    solved: int = 0
    n_options_full: int = 0
    n_options: int = 0
    n_fixed: int = 0
    n_proven: int = 0

    def add(self, prob: RoundProblem, res: SolveResult) -> float | None:
        """Count one solved subproblem; returns its objective (None without a solution)."""
        self.solved += 1
        self.n_proven += res.status == OPTIMAL
        self.n_options += prob.data.n_options
        self.n_options_full += max(prob.n_options_full, prob.data.n_options)
        self.n_fixed += len(prob.fixed_request)
        self.served_bound += prob.n_requests - _drops_bound(res)
        self.build_s += res.build_s
        self.solve_s += res.solve_s
        self.solver_s += 0.0 if math.isnan(res.solver_s) else res.solver_s
        if _STATUS_RANK.get(res.status, 3) > _STATUS_RANK[self.status]:
            self.status = res.status
        obj, bnd = _objective_of(res, self.penalty, self.lexicographic, float(prob.data.constant))
        self.bound += bnd
        if res.relaxed or not res.has_solution:
            self.objective = math.nan
            return None
        self.objective += obj
        chosen = res.x > 0.5
        self.option[prob.request[prob.data.option_item[chosen]]] = prob.option[chosen]
        self.option[prob.fixed_request] = prob.fixed_option
        return obj

    def add_blocks(self, prob: RoundProblem, dec: DecomposedResult) -> None:
        """Count one window solved by blocks (:mod:`perllm_opt.milp.rolling`): its plan's
        weighted objective and its certified bound."""
        self.solved += 1
        obj = self.penalty * dec.drops + dec.energy
        proven = obj - dec.bound <= 1e-9 * max(abs(obj), 1.0)
        self.n_proven += proven
        self.n_options += prob.data.n_options
        self.n_options_full += max(prob.n_options_full, prob.data.n_options)
        self.n_fixed += len(prob.fixed_request)
        # bound <= M D* + E* with E* < M (the penalty dominates every window's energy).
        self.served_bound += prob.n_requests - _drops_floor(
            dec.bound, self.penalty, float(prob.data.constant)
        )
        self.build_s += dec.build_s
        self.solve_s += dec.solve_s
        self.solver_s += dec.solver_s
        if not proven and _STATUS_RANK[FEASIBLE] > _STATUS_RANK[self.status]:
            self.status = FEASIBLE
        self.bound += dec.bound
        self.objective += obj
        has = dec.option >= 0
        self.option[has] = dec.option[has]

    def result(self, per_round: np.ndarray, hosts: np.ndarray | None) -> OptimumResult:
        has = not math.isnan(self.objective)
        gap = abs(self.objective - self.bound) / max(abs(self.objective), 1e-9)
        return OptimumResult(
            status=self.status,
            objective=self.objective if has else math.nan,
            bound=self.bound,
            gap=gap if has else math.nan,
            build_s=self.build_s,
            solve_s=self.solve_s,
            solver_s=self.solver_s,
            assignment=Assignment.from_options(self.option, source="optimal") if has else None,
            objective_per_round=per_round,
            hosts=hosts,
            subproblems=self.solved,
            served_bound=self.served_bound,
            n_options_full=self.n_options_full,
            n_options=self.n_options,
            n_fixed=self.n_fixed,
            n_proven=self.n_proven,
        )


def on_time_start(instance: Instance, assignment: Assignment) -> np.ndarray:
    """A schedule's on-time choices as a start for :func:`solve_optimum`: the option of each
    request whose chosen option is on time, -1 for every other request."""
    option = assignment.option
    on_time = option >= 0
    on_time[on_time] = instance.options.on_time[option[on_time]]
    return np.where(on_time, option, -1)


def _task(prob: RoundProblem, cfg: SolverConfig, start: np.ndarray | None) -> Task:
    """The solver's task for ``prob``: its data and, with a start assignment (global option
    per request, -1 for none), the options of it that ``prob`` holds."""
    if start is None:
        return Task(prob.data)
    return Task(prob.data, prob.start_x(start))


def _problems(cfg: SolverConfig, build, items, totals: _Totals):
    """Build each subproblem (reduced if ``cfg.reduce``), timing the build into ``totals``."""
    for item in items:
        t0 = time.perf_counter()
        prob = build(item)
        if cfg.reduce:
            prob = reduce_problem(prob)
        totals.build_s += time.perf_counter() - t0
        yield prob


def _solved(
    probs: Iterator[RoundProblem],
    cfg: SolverConfig,
    lexicographic: bool,
    start: np.ndarray | None,
) -> Iterator[tuple[RoundProblem, SolveResult]]:
    """Each subproblem with its result, in order (solved by ``cfg.workers`` processes)."""
    kept: deque[RoundProblem] = deque()

    def tasks() -> Iterator[Task]:
        for prob in probs:
            kept.append(prob)
            yield _task(prob, cfg, start)

    for res in solve_each(tasks(), cfg, lexicographic):
        yield kept.popleft(), res


def solve_optimum(
    instance: Instance,
    cfg: SolverConfig,
    progress: bool = False,
    start: np.ndarray | None = None,
) -> OptimumResult:
    """Solve the offline optimum of ``instance``.

    Fixed deployment: rounds share no capacity, so each round is solved on its own (exact).
    Placement mode (``instance.placement``): in rounds mode one MILP over all rounds with
    deployment variables; in continuous mode a search over deployments with a certified
    bound (:func:`perllm_opt.milp.placement.solve_placement_continuous`). ``cfg.objective``
    picks lexicographic (served, then energy) or weighted;
    ``cfg.lp_relaxation`` returns only the bound of the weighted objective's relaxation.
    Subproblems are reduced exactly (``cfg.reduce``) and solved by ``cfg.workers`` processes
    (:mod:`perllm_opt.milp.parallel`; the same result as one). ``start`` (global option per
    request, -1 for none: e.g. the best scheduler's on-time choices) is a floor: a
    subproblem whose search ends worse (or with nothing) returns the start's choices, so the
    optimum is never worse than it; with ``cfg.warm_start`` HiGHS also starts from it.

    Parameters
    ----------
    instance : Instance
    cfg : SolverConfig
        ``config.solver`` of a loaded config.
    progress : bool
        A progress bar over subproblems.
    start : ndarray of int, optional
        Global option per request (-1: none), the floor described above.

    Returns
    -------
    OptimumResult
        Its ``assignment`` (when a solution exists) is scored by
        :func:`perllm_opt.evaluate.evaluate` like any scheduler's.

    Raises
    ------
    SolverUnavailableError
        When the solver (HiGHS) cannot be loaded.
    """
    lexicographic = cfg.objective == "lexicographic" and not cfg.lp_relaxation
    if instance.continuous and instance.placement:
        from perllm_opt.milp.placement import solve_placement_continuous

        return solve_placement_continuous(instance, cfg, lexicographic, progress, start)
    if instance.continuous:
        return _solve_continuous(instance, cfg, lexicographic, progress, start)
    n_r = instance.n_rounds
    totals = _Totals(
        np.full(instance.n_requests, -1, dtype=np.int64), instance.drop_penalty_j, lexicographic
    )
    per_round = np.full(n_r, always_on_idle_j(instance) + 0.0)
    hosts = None
    if instance.placement:
        rounds: list[int | None] = [None]
        probs = _problems(
            cfg, lambda _: joint_problem(instance, optimize_deployment=True),
            [None], totals,
        )  # fmt: skip
    else:
        ids = [(t, r) for t, r in enumerate(instance.round_requests()) if len(r)]
        rounds = [t for t, _ in ids]
        probs = _problems(cfg, lambda r: round_problem(instance, r), [r for _, r in ids], totals)
    bar = tqdm(
        zip(rounds, _solved(probs, cfg, lexicographic, start), strict=True),
        total=len(rounds), desc="optimum", unit="round", disable=not progress, leave=False,
    )  # fmt: skip
    for t, (prob, res) in bar:
        obj = totals.add(prob, res)
        if obj is None:
            continue
        if t is not None:
            per_round[t] = obj
        else:
            dep = instance.deployment
            hosts = np.zeros_like(dep.hosts)
            on = res.gate[prob.deploy_gate_start :] > 0.5
            pairs = prob.deploy_pairs[on]
            hosts[pairs[:, 0], pairs[:, 1]] = True
    # Rounds without requests cost the always-on idle energy; add them once.
    empty = n_r - (len(rounds) if not instance.placement else n_r)
    totals.objective += empty * always_on_idle_j(instance)
    totals.bound += empty * always_on_idle_j(instance)
    if instance.placement and not math.isnan(totals.objective):
        per_round = np.full(n_r, math.nan)  # not separable by round
    return totals.result(per_round, hosts)


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


def _drops_floor(bound: float, penalty: float, constant: float) -> int:
    """Least drops a proven bound on ``M drops + energy`` allows (energy >= ``constant``
    and below ``M``)."""
    if not math.isfinite(bound):
        return 0
    return max(math.floor((bound - constant) / penalty + 1e-9), 0)


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
        _, bound = _objective_of(res, penalty, True, constant)
        plan = prob.options_of(res.x, instance.n_requests)
    else:
        if res is not None and res.drops_bound == res.drops_bound:
            bound = penalty * math.ceil(res.drops_bound - 1e-6) + constant
        if start is not None and start_outcome(prob.data, prob.start_x(start), True):
            plan = start
    ids = np.concatenate([prob.request, prob.fixed_request])

    def gap_ok(p: np.ndarray, b: float) -> bool:
        drops = int((p[prob.request] < 0).sum())  # the fixed requests are always served
        least = _drops_floor(b, penalty, constant)
        return drops - least <= cfg.search_gap * max(len(ids) - drops, 1)

    if res is not None and res.has_solution and gap_ok(plan, bound):
        return None
    t0 = time.perf_counter()
    lp_value, x_lp, solver_s = lp_solution(prob.data, cfg)
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


def _solve_continuous(
    instance: Instance,
    cfg: SolverConfig,
    lexicographic: bool,
    progress: bool,
    start: np.ndarray | None,
) -> OptimumResult:
    """Continuous mode: one MILP per independent window (exact, see
    :func:`perllm_opt.instance.continuous_windows`), plus the requests that no option serves
    on time and the idle draw of the servers that never sleep.

    With ``cfg.search`` (lexicographic objective), a window whose whole MILP (from
    ``start`` as its floor; skipped above ``cfg.whole_max_options`` options) ends more than
    ``cfg.search_gap`` from its bound also gets its LP bound and a fix-and-optimize search
    (:func:`_searched`)."""
    totals = _Totals(
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

    # Built lazily, as _solved does, so that memory stays bounded whatever the number of
    # windows; searching, a window above whole_max_options skips its whole MILP.
    built: deque[tuple[RoundProblem, bool]] = deque()

    def tasks() -> Iterator[Task]:
        for prob in _problems(cfg, build, whole, totals):
            milp = not search or prob.data.n_options <= cfg.whole_max_options
            built.append((prob, milp))
            if milp:
                yield _task(prob, cfg, start)

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
    for prob in _problems(cfg, build, split, totals):
        totals.add_blocks(prob, solve_by_blocks(instance, prob, cfg, start, progress))
    return totals.result(np.full(n_bins(instance), math.nan), None)
