"""What every optimum shares: its result, the running totals over its subproblems (rounds,
windows, deployments), and the build-then-solve-in-order pipeline they go through."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.instance.assignment import Assignment
from perllm_opt.instance.realised import Instance
from perllm_opt.milp.parallel import Task, solve_each
from perllm_opt.milp.perllm import RoundProblem, reduce_problem
from perllm_opt.milp.result import FEASIBLE, OPTIMAL, SolveResult
from perllm_opt.milp.rolling import DecomposedResult

_STATUS_RANK = {OPTIMAL: 0, FEASIBLE: 1, "no_solution": 2, "infeasible": 3}


def is_lexicographic(cfg: SolverConfig) -> bool:
    """Whether the optimum serves the most requests first, then the least energy (the
    lexicographic objective, which an LP relaxation does not take)."""
    return cfg.objective == "lexicographic" and not cfg.lp_relaxation


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
        Totals over the subproblems (see :class:`~perllm_opt.milp.result.SolveResult`).
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


def drops_bound(res: SolveResult) -> float:
    """A proven lower bound on a lexicographic subproblem's drops (NaN without one)."""
    if res.relaxed or res.drops_bound != res.drops_bound:
        return math.nan
    return float(math.ceil(res.drops_bound - 1e-6))


def objective_of(
    res: SolveResult, penalty: float, lexicographic: bool, constant: float = 0.0
) -> tuple[float, float]:
    """Weighted objective and a proven bound of a subproblem result.

    Lexicographic: when the first stage is proven, ``M drops* + `` the second stage's bound;
    otherwise ``M ceil(drops bound) + constant`` (option and gate costs are non-negative).
    """
    if lexicographic and not res.relaxed:
        obj = penalty * res.drops + res.objective
        lb = drops_bound(res)
        if lb == lb and lb < res.drops - 0.5:
            return obj, penalty * lb + constant
        return obj, penalty * res.drops + res.bound
    return res.objective, res.bound


@dataclass
class Totals:
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
        self.served_bound += prob.n_requests - drops_bound(res)
        self.build_s += res.build_s
        self.solve_s += res.solve_s
        self.solver_s += 0.0 if math.isnan(res.solver_s) else res.solver_s
        if _STATUS_RANK.get(res.status, 3) > _STATUS_RANK[self.status]:
            self.status = res.status
        obj, bnd = objective_of(res, self.penalty, self.lexicographic, float(prob.data.constant))
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
        self.served_bound += prob.n_requests - drops_floor(
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


def task_for(prob: RoundProblem, cfg: SolverConfig, start: np.ndarray | None) -> Task:
    """The solver's task for ``prob``: its data and, with a start assignment (global option
    per request, -1 for none), the options of it that ``prob`` holds."""
    if start is None:
        return Task(prob.data)
    return Task(prob.data, prob.start_x(start))


def build_problems(cfg: SolverConfig, build, items, totals: Totals):
    """Build each subproblem (reduced if ``cfg.reduce``), timing the build into ``totals``."""
    for item in items:
        t0 = time.perf_counter()
        prob = build(item)
        if cfg.reduce:
            prob = reduce_problem(prob)
        totals.build_s += time.perf_counter() - t0
        yield prob


def solved_in_order(
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
            yield task_for(prob, cfg, start)

    for res in solve_each(tasks(), cfg, lexicographic):
        yield kept.popleft(), res


def drops_floor(bound: float, penalty: float, constant: float) -> int:
    """Least drops a proven bound on ``M drops + energy`` allows (energy >= ``constant``
    and below ``M``)."""
    if not math.isfinite(bound):
        return 0
    return max(math.floor((bound - constant) / penalty + 1e-9), 0)
