"""The placement search of continuous mode: deployments searched around the joint MILP and
certified by a bound (docs/model.md, "Placement in continuous mode").

:func:`solve_placement_continuous` searches deployments (a local search over the
deployment, Lourenco, Martin and Stuetzle 2003, each deployment's plan by the
fixed-deployment optimum as a black box) and certifies the result with a proven lower
bound on the joint MILP's drops (:func:`perllm_opt.milp.placement.placement_problem`): a
branch and bound over the deployment variables with LP bounds (Land and Doig 1960), to a
budget.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
from tqdm.auto import tqdm

from perllm_opt.config import SolverConfig
from perllm_opt.instance.assignment import Assignment
from perllm_opt.instance.bins import n_bins
from perllm_opt.instance.realised import Instance
from perllm_opt.milp.continuous import always_on_idle_continuous_j
from perllm_opt.milp.continuous_optimum import solve_continuous
from perllm_opt.milp.data import AssignmentData, drops_only
from perllm_opt.milp.highs_direct import highs_model, solve_assignment_direct
from perllm_opt.milp.perllm import RoundProblem, reduce_problem
from perllm_opt.milp.placement import (
    describe_hosts,
    mapped,
    placement_problem,
    restrict_to_deployment,
)
from perllm_opt.milp.result import FEASIBLE, NO_SOLUTION, OPTIMAL
from perllm_opt.milp.subproblems import OptimumResult, is_lexicographic

log = logging.getLogger(__name__)


class PairFixings:
    """The drops of :func:`placement_problem` (``data`` as ``drops_only`` gives it)
    with deployment gates fixed, one HiGHS model re-solved for each set of fixings.

    ``solve(fixed)`` fixes pair ``k``'s gate (column ``gate_start + k``) to ``fixed[k]``
    (1 deployed, 0 not, -1 free) through its bounds, which is the problem restricted to
    those deployments. As an LP (``relax``) each solve uses HiGHS's interior point method
    with crossover, the fastest here (docs/design_notes.md).
    """

    def __init__(
        self, data: AssignmentData, gate_start: int, n_pairs: int, cfg: SolverConfig,
        relax: bool = True,
    ) -> None:  # fmt: skip
        self.data = data
        self.relax = relax
        self.n_pairs = n_pairs
        self.col = data.n_options + data.n_items + gate_start + np.arange(n_pairs)
        self.h = highs_model(data, cfg, relax=relax)
        self.solves = 0
        self.solve_s = 0.0

    def solve(self, fixed: np.ndarray) -> tuple[float, np.ndarray | None]:
        """The optimal drops with ``fixed`` and the pairs' gate values: ``(inf, None)``
        when infeasible (fixed weights over a server's memory), ``(nan, None)`` when HiGHS
        stops unproven (time limit)."""
        t0 = time.perf_counter()
        fixed = np.asarray(fixed)
        h = self.h
        if self.n_pairs:
            h.changeColsBounds(
                self.n_pairs,
                self.col.astype(np.int32),
                np.where(fixed == 1, 1.0, 0.0),
                np.where(fixed == 0, 0.0, 1.0),
            )
        if self.relax:
            h.setOptionValue("solver", "ipm")
        h.run()
        self.solves += 1
        self.solve_s += time.perf_counter() - t0
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            return math.inf, None
        if status != highspy.HighsModelStatus.kOptimal:
            return math.nan, None
        col = np.asarray(h.getSolution().col_value)
        return float(h.getInfo().objective_function_value), col[self.col]


@dataclass(frozen=True, eq=False)
class _Plan:
    """A deployment and its fixed-deployment optimum, mapped to the placement instance."""

    hosts: np.ndarray
    option: np.ndarray
    unserved: int
    objective: float
    result: OptimumResult


@dataclass
class _Search:
    """State of one placement search (mutable, local to it)."""

    instance: Instance
    cfg: SolverConfig
    lexicographic: bool
    best: _Plan | None = None
    seen: dict = field(default_factory=dict)
    build_s: float = 0.0
    solve_s: float = 0.0
    solver_s: float = 0.0
    subproblems: int = 0

    def key(self, plan: _Plan) -> tuple[float, ...]:
        """Lexicographic: fewest unserved, then least objective; weighted: objective."""
        if self.lexicographic:
            return (plan.unserved, plan.objective)
        return (plan.objective,)

    def evaluate(self, hosts: np.ndarray, start: np.ndarray | None = None) -> _Plan | None:
        """The fixed-deployment optimum of ``hosts`` (memoised), started from ``start``
        (global option per request, -1 for none), by default the best plan so far, where it
        still applies; it becomes the best plan if it is better."""
        tag = hosts.tobytes()
        if tag in self.seen:
            return self.seen[tag]
        sub, kept = restrict_to_deployment(self.instance, hosts)
        old = self.best.option if start is None and self.best is not None else start
        if old is not None:
            pos = np.full(len(self.instance.options), -1, dtype=np.int64)
            pos[kept] = np.arange(len(kept))
            start = mapped(pos, old)
        t0 = time.perf_counter()
        res = solve_continuous(sub, self.cfg, is_lexicographic(self.cfg), False, start)
        self.build_s += res.build_s
        self.solve_s += res.solve_s
        self.solver_s += res.solver_s
        self.subproblems += res.subproblems
        plan = None
        if res.assignment is not None:
            local = res.assignment.option
            option = mapped(kept, local)
            on_time = np.zeros(self.instance.n_requests, dtype=bool)
            has = option >= 0
            on_time[has] = self.instance.options.on_time[option[has]]
            plan = _Plan(
                hosts=hosts.copy(),
                option=option,
                unserved=int(self.instance.n_requests - on_time.sum()),
                objective=float(res.objective),
                result=res,
            )
            if self.best is None or self.key(plan) < self.key(self.best):
                self.best = plan
        self.seen[tag] = plan
        log.info(
            "placement: %s -> %s unserved (%s, %.1f s)",
            describe_hosts(self.instance, hosts),
            "-" if plan is None else plan.unserved,
            res.status,
            time.perf_counter() - t0,
        )
        return plan


def _fits(instance: Instance, hosts: np.ndarray) -> bool:
    dep = instance.deployment
    return bool(
        np.all((dep.weight_bytes * hosts).sum(axis=1) <= dep.memory_bytes)
        and not np.any(hosts & ~dep.can_host)
    )


def _rounded(instance: Instance, pairs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A deployment from LP values ``y`` of ``pairs``: every pair at 1/2 or more, then, on a
    server whose weights do not fit, its pairs of least ``y`` left out until they do."""
    dep = instance.deployment
    hosts = np.zeros_like(dep.hosts)
    for k in np.argsort(-y, kind="stable"):
        j, m = pairs[k]
        if y[k] >= 0.5 - 1e-9:
            hosts[j, m] = True
            if not _fits(instance, hosts):
                hosts[j, m] = False
    return hosts


def _neighbours(
    instance: Instance, hosts: np.ndarray, pairs: np.ndarray, target: np.ndarray
) -> list[np.ndarray]:
    """Deployments one move from ``hosts`` (add a model that some on-time option needs, drop
    a deployed one, or swap two on one server) that fit, nearest to the LP values ``target``
    (per pair of ``pairs``) first, ties in a fixed order."""
    dep = instance.deployment
    want = np.zeros(dep.hosts.shape)
    want[pairs[:, 0], pairs[:, 1]] = target
    useful = np.zeros(dep.hosts.shape, dtype=bool)
    useful[pairs[:, 0], pairs[:, 1]] = True
    out: list[tuple[float, int, np.ndarray]] = []

    def add(h: np.ndarray) -> None:
        if _fits(instance, h):
            out.append((float(np.abs(h - want).sum()), len(out), h))

    on = np.argwhere(hosts)
    off = np.argwhere(useful & ~hosts)
    for j, m in on:
        h = hosts.copy()
        h[j, m] = False
        add(h)
    for j, m in off:
        h = hosts.copy()
        h[j, m] = True
        add(h)
    for j, m in on:
        for j2, m2 in off:
            if j2 == j:
                h = hosts.copy()
                h[j, m], h[j, m2] = False, True
                add(h)
    out.sort(key=lambda t: (t[0], t[1]))
    return [h for _, _, h in out]


@dataclass(frozen=True, eq=False)
class _Node:
    """A node of the bound's branching: pairs fixed (1, 0; -1 free), its LP value (a lower
    bound on the drops of every solution in it) and its LP's deployment values."""

    bound: float
    seq: int
    fixed: np.ndarray
    y: np.ndarray


def _bound_search(search: _Search, relaxation: PairFixings, unreachable: int) -> list[_Node]:
    """Branch and bound over the deployment variables with LP bounds, to
    ``solver.placement_nodes`` LP solves: the open nodes (their least bound is a lower bound
    on the joint MILP's drops).

    A node is branched on its most fractional free ``y`` (the child with it at 1 first); a
    node whose LP deploys every free pair integrally is left open (branching it would only
    re-solve the same LP for one child). Nodes whose bound reaches the best plan's drops are
    closed: no solution in them serves more.
    """
    budget = search.cfg.placement_nodes
    n_pairs = relaxation.n_pairs
    t0 = time.perf_counter()
    fixed = np.full(n_pairs, -1, dtype=np.int64)
    val, y = relaxation.solve(fixed)
    if not math.isfinite(val):
        val, y = 0.0, np.ones(n_pairs)  # drops >= 0: a valid, if empty, bound
    nodes = [_Node(val, 0, fixed, y)]
    stuck: list[_Node] = []
    seq = 1
    while nodes and relaxation.solves < budget:
        nodes.sort(key=lambda nd: (nd.bound, nd.seq))
        node = nodes[0]
        best = search.best
        if best is not None and unreachable + math.ceil(node.bound - 1e-6) >= best.unserved:
            break
        free = np.flatnonzero(node.fixed < 0)
        frac = np.minimum(node.y[free], 1.0 - node.y[free])
        if len(free) == 0 or frac.max(initial=0.0) <= 1e-6:
            stuck.append(nodes.pop(0))
            continue
        nodes.pop(0)
        k = int(free[np.argmax(frac)])
        for v in (1, 0):
            f = node.fixed.copy()
            f[k] = v
            if relaxation.solves >= budget:
                # No LP left: the child keeps its parent's bound (still valid).
                nodes.append(_Node(node.bound, seq, f, np.where(f >= 0, f, node.y)))
                seq += 1
                continue
            child_val, child_y = relaxation.solve(f)
            log.debug("placement node %s: %.3f drops", f.tolist(), child_val)
            if child_val == math.inf:
                continue  # the fixed weights alone break a memory row
            if child_val != child_val:  # unproven: the parent's bound still holds
                child_val, child_y = node.bound, node.y
            yk = np.where(f >= 0, f, child_y)
            nodes.append(_Node(max(child_val, node.bound), seq, f, yk))
            seq += 1
    nodes += stuck
    log.info(
        "placement bound: %d LPs, least open node %.2f drops (+%d unreachable), %.1f s",
        relaxation.solves,
        min((nd.bound for nd in nodes), default=math.inf),
        unreachable,
        time.perf_counter() - t0,
    )
    return nodes


def _pair_fixing(hosts: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    return hosts[pairs[:, 0], pairs[:, 1]].astype(np.int64)


def solve_placement_continuous(
    instance: Instance,
    cfg: SolverConfig,
    lexicographic: bool,
    progress: bool = False,
    start: np.ndarray | None = None,
) -> OptimumResult:
    """The optimum of a continuous-mode placement instance: a plan, its deployment and a
    certified bound (docs/model.md, "Placement in continuous mode").

    1. *Bound.* Branch and bound over the deployment variables of
       :func:`~perllm_opt.milp.placement.placement_problem`
       with LP relaxations of its drops (``solver.placement_nodes`` LPs): the least bound
       of the open nodes is a lower bound on the drops of every solution.
    2. *Plan.* The configured deployment, then the best open node's LP deployment rounded
       (:func:`_rounded`), each solved by the fixed-deployment optimum
       (:func:`~perllm_opt.milp.continuous_optimum.solve_continuous` on
       :func:`~perllm_opt.milp.placement.restrict_to_deployment`),
       then a local search (add, drop or swap one model on one server) from the best plan,
       nearest to that LP first, each move accepted when the plan improves. A move whose
       fixed-deployment LP already drops more than the best plan is ruled out without being
       solved. ``solver.placement_moves`` moves are tried.

    The plan is never worse than the configured deployment's optimum (the first one
    solved; ``start``, global option per request, is its floor). The result's ``hosts`` is
    the plan's deployment, ``subproblems`` the deployments solved, ``served_bound`` the
    proven bound on on-time requests and ``bound`` ``M`` times the proven drops plus the
    energy no solution avoids.
    """
    t0 = time.perf_counter()
    penalty = instance.drop_penalty_j
    prob = placement_problem(instance)
    full = prob.data.n_options
    if cfg.reduce:
        prob = reduce_problem(prob)
    data = prob.data
    build_s = time.perf_counter() - t0
    unreachable = int((instance.request_window < 0).sum())
    base = penalty * unreachable + always_on_idle_continuous_j(instance)
    per_bin = np.full(n_bins(instance), math.nan)
    if cfg.lp_relaxation:
        res = solve_assignment_direct(data, cfg, relax=True)
        return OptimumResult(
            status=res.status, objective=math.nan, bound=res.bound + base, gap=math.nan,
            build_s=build_s + res.build_s, solve_s=res.solve_s, solver_s=res.solver_s,
            assignment=None, objective_per_round=per_bin, hosts=None, subproblems=1,
            n_options_full=full, n_options=data.n_options, n_fixed=len(prob.fixed_request),
        )  # fmt: skip
    pairs = prob.deploy_pairs
    gs = prob.deploy_gate_start
    relaxation = PairFixings(drops_only(data), gs, len(pairs), cfg)
    search = _Search(instance, cfg, lexicographic)
    search.build_s = build_s
    bar = tqdm(
        total=2 + cfg.placement_moves, desc="placement", unit="deployment",
        disable=not progress, leave=False,
    )  # fmt: skip
    # The configured deployment first: the plan is never worse than its optimum.
    search.evaluate(instance.deployment.hosts, start)
    bar.update()
    nodes = _bound_search(search, relaxation, unreachable)
    lead = min(nodes, key=lambda nd: (nd.bound, nd.seq)) if nodes else None
    target = lead.y if lead is not None else np.ones(len(pairs))
    search.evaluate(_rounded(instance, pairs, target))
    bar.update()
    _local_search(search, relaxation, pairs, target, bar)
    bar.close()
    search.solve_s += relaxation.solve_s
    return _result(search, prob, full, nodes, unreachable, per_bin)


def _local_search(
    search: _Search, relaxation: PairFixings, pairs: np.ndarray, target: np.ndarray, bar
) -> None:
    """Add, drop or swap one model on one server from the best plan, nearest to the LP
    deployment ``target`` first; a move is accepted when the plan improves, ruled out when
    its fixed-deployment LP already drops more (``solver.placement_moves`` moves)."""
    unreachable = int((search.instance.request_window < 0).sum())
    tried = 0
    while tried < search.cfg.placement_moves and search.best is not None:
        centre = search.best
        moved = False
        for h in _neighbours(search.instance, centre.hosts, pairs, target):
            if tried >= search.cfg.placement_moves:
                break
            if h.tobytes() in search.seen:
                continue
            tried += 1
            bar.update()
            val, _ = relaxation.solve(_pair_fixing(h, pairs))
            if val == math.inf or (
                val == val and unreachable + math.ceil(val - 1e-6) > centre.unserved
            ):
                search.seen[h.tobytes()] = None  # ruled out: it drops more
                log.info("placement: %s ruled out by its LP", describe_hosts(search.instance, h))
                continue
            search.evaluate(h)
            if search.best is not centre:
                moved = True
                break
        if not moved:
            break


def _result(
    search: _Search,
    prob: RoundProblem,
    full: int,
    nodes: list[_Node],
    unreachable: int,
    per_bin: np.ndarray,
) -> OptimumResult:
    """The search's best plan with the bound the open nodes prove (``full``: the joint
    MILP's options before its reductions)."""
    instance, cfg, data = search.instance, search.cfg, prob.data
    penalty = instance.drop_penalty_j
    best = search.best
    open_bound = min((nd.bound for nd in nodes), default=math.inf)
    n = instance.n_requests
    if best is None:
        lb = unreachable + (math.ceil(open_bound - 1e-6) if math.isfinite(open_bound) else 0)
        return OptimumResult(
            status=NO_SOLUTION, objective=math.nan,
            bound=penalty * lb + always_on_idle_continuous_j(instance) + data.constant,
            gap=math.nan, build_s=search.build_s, solve_s=search.solve_s,
            solver_s=search.solver_s, assignment=None, objective_per_round=per_bin,
            hosts=None, subproblems=search.subproblems, served_bound=float(n - lb),
            n_options_full=full, n_options=data.n_options, n_fixed=len(prob.fixed_request),
        )  # fmt: skip
    lb = best.unserved
    if math.isfinite(open_bound):
        lb = min(lb, unreachable + math.ceil(open_bound - 1e-6))
    bound = penalty * lb + always_on_idle_continuous_j(instance) + float(data.constant)
    gap = abs(best.objective - bound) / max(abs(best.objective), 1e-9)
    proven = gap <= cfg.mip_rel_gap
    return OptimumResult(
        status=OPTIMAL if proven else FEASIBLE,
        objective=best.objective,
        bound=bound,
        gap=gap,
        build_s=search.build_s,
        solve_s=search.solve_s,
        solver_s=search.solver_s,
        assignment=Assignment.from_options(best.option, source="optimal"),
        objective_per_round=per_bin,
        hosts=best.hosts,
        subproblems=search.subproblems,
        served_bound=float(n - lb),
        n_options_full=full,
        n_options=data.n_options,
        n_fixed=len(prob.fixed_request),
        n_proven=int(proven),
    )
