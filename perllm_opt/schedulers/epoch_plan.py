"""One decision epoch's plan as a two-stage MILP: the most expected on-time requests, then
the least expected weighted energy, under the compute, KV and link capacity left.

Shared by the known-means oracle (``baselines/oracle_milp.py``, on the true laws) and by
CS-UCB's exact oracle (``plan_mode=milp``, on its optimistic estimates). Each request gets
a null option (decline); stage 2 keeps stage 1's expected misses as a row and adds the cost
of waking a sleeping server. Dominated candidates are dropped first (:func:`undominated`),
which leaves both optima unchanged and makes the choice among equal plans the frugal one.
Each stage stops after a number of HiGHS interrupt checks that shrinks with the square of
the model's columns (:data:`PLAN_WORK`): a budget at the same point on every machine, so
the decisions reproduce; the time limit only guards against a hang. Why:
docs/design_notes.md.

"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.highs_direct import solve_assignment_direct
from perllm_opt.milp.perllm import GB
from perllm_opt.milp.result import OPTIMAL, SolveResult
from perllm_opt.schedulers.base import DECLINE
from perllm_opt.simulation.view import RoundView, SystemInfo

Candidates = Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]

#: Search per stage of an epoch plan, in interrupt checks x columns**2: the deterministic
#: budget (module docstring; how it was sized: docs/design_notes.md).
PLAN_WORK = 2_000_000_000
#: Wall-clock guard per stage, seconds: only against a hang; a plan should never meet it.
PLAN_GUARD_S = 300.0

log = logging.getLogger(__name__)

_DECLINE_1 = np.array([DECLINE], dtype=np.int64)
_NONE_1 = np.array([-1], dtype=np.int64)
_ZERO_1 = np.zeros(1)


def undominated(
    server: np.ndarray,
    path: np.ndarray,
    share: np.ndarray,
    rate_mbps: np.ndarray,
    p: np.ndarray,
    cost: np.ndarray,
) -> np.ndarray:
    """Mask of one request's candidates that no other candidate dominates.

    ``c'`` dominates ``c`` when both use the same server and path, ``c'`` asks no more compute
    share and link rate, is at least as likely on time and costs no more, and is better in one
    of these (or equal in all and earlier, so one of identical twins stays). KV use depends
    only on the request and server, so it is equal within a group.
    """
    n = len(server)
    if n < 2:
        return np.ones(n, dtype=bool)
    # [a, b]: a dominates b.
    same = (server[:, None] == server[None, :]) & (path[:, None] == path[None, :])
    le = (
        (share[:, None] <= share[None, :])
        & (rate_mbps[:, None] <= rate_mbps[None, :])
        & (p[:, None] >= p[None, :])
        & (cost[:, None] <= cost[None, :])
    )
    better = (
        (share[:, None] < share[None, :])
        | (rate_mbps[:, None] < rate_mbps[None, :])
        | (p[:, None] > p[None, :])
        | (cost[:, None] < cost[None, :])
    )
    idx = np.arange(n)
    dom = same & le & (better | (idx[:, None] < idx[None, :]))
    np.fill_diagonal(dom, False)
    return ~dom.any(axis=0)


@dataclass(frozen=True)
class EpochProblem:
    """One epoch's assignment problem, options flat (each request's candidates, then its
    null option).

    Attributes
    ----------
    n_items : int
        Requests of the epoch.
    item, cand : ndarray of int, shape (n_options,)
        Each option's request and candidate index (``DECLINE`` for the null option).
    p, cost : ndarray of float, shape (n_options,)
        P(on time), rounded to 0 or 1 within 1e-6 (0 for the null option), and weighted
        energy cost in J.
    server : ndarray of int, shape (n_options,)
        The option's server (-1 for the null option).
    capacity : ndarray of float, shape (n_resources,)
        What is left: compute of server j (j), KV of j in GB (n_servers + j), link e's rate
        in Mbps (2 n_servers + e).
    usage_option, usage_resource, usage_amount : ndarray
        COO triplets of what options take.
    gate_server : ndarray of int
        The sleeping servers (a gate each); ``gate_cost`` the weighted idle energy of waking
        each.
    option_gate_option, option_gate_gate : ndarray of int
        Which option needs which gate open.
    """

    n_items: int
    item: np.ndarray
    cand: np.ndarray
    p: np.ndarray
    cost: np.ndarray
    server: np.ndarray
    capacity: np.ndarray
    usage_option: np.ndarray
    usage_resource: np.ndarray
    usage_amount: np.ndarray
    gate_server: np.ndarray
    gate_cost: np.ndarray
    option_gate_option: np.ndarray
    option_gate_gate: np.ndarray

    def data(
        self, option_cost: np.ndarray, gate_cost: np.ndarray, miss_cap: float | None
    ) -> AssignmentData:
        """The model of a stage: ``option_cost`` per option, ``gate_cost`` per gate, and
        (stage 2) the row of expected misses at most ``miss_cap``."""
        caps, uo, ur, ua = (
            self.capacity,
            self.usage_option,
            self.usage_resource,
            self.usage_amount,
        )
        if miss_cap is not None:
            n_o = len(self.item)
            caps = np.append(caps, miss_cap)
            uo = np.concatenate([uo, np.arange(n_o)])
            ur = np.concatenate([ur, np.full(n_o, len(self.capacity), dtype=np.int64)])
            ua = np.concatenate([ua, 1.0 - self.p])
        return AssignmentData(
            n_items=self.n_items,
            option_item=self.item,
            option_cost=np.asarray(option_cost, dtype=float),
            capacity=caps,
            usage_option=uo,
            usage_resource=ur,
            usage_amount=ua,
            drop_cost=None,
            gate_cost=np.asarray(gate_cost, dtype=float),
            option_gate_option=self.option_gate_option,
            option_gate_gate=self.option_gate_gate,
        )


def epoch_problem(
    info: SystemInfo,
    view: RoundView,
    cands: Candidates,
    bandwidth_mbps: np.ndarray,
    reduce: bool = True,
) -> EpochProblem:
    """The epoch's problem (:class:`EpochProblem`) with each request's dominated candidates
    dropped (:func:`undominated`; ``reduce=False``: the caller has dropped them); other
    arguments as :func:`plan_epoch`."""
    n_s = info.n_servers
    cap = _capacity_left(info, view, bandwidth_mbps)
    plm = np.asarray(info.path_link_matrix)
    kv_gb = np.asarray(view.kv_bytes, dtype=float) / GB
    items, cand_l, p_l, cost_l, srv_l, phi_l, rate_l, path_l = _options(info, view, cands, reduce)
    item = np.concatenate(items)
    cand_of = np.concatenate(cand_l)
    srv_of = np.concatenate(srv_l)
    real = np.flatnonzero(srv_of >= 0)
    # Compute and KV of each real option, then the rate on each link of its path.
    links = plm[np.concatenate(path_l)[real]]
    on = links < info.n_links
    link_opt = np.broadcast_to(real[:, None], links.shape)[on]
    u_opt = np.concatenate([real, real, link_opt])
    u_res = np.concatenate([srv_of[real], n_s + srv_of[real], 2 * n_s + links[on]])
    u_amt = np.concatenate(
        [
            np.concatenate(phi_l)[real],
            kv_gb[item[real]],
            np.broadcast_to(np.concatenate(rate_l)[real][:, None], links.shape)[on],
        ]
    )
    # Probabilities to 1e-6: coefficients of 1e-12 (1 - p for p within rounding of 1) made
    # HiGHS 1.16 loop past its time limit on the stage-2 row.
    p_a = np.concatenate(p_l)
    p_a = np.where(p_a >= 1.0 - 1e-6, 1.0, np.where(p_a <= 1e-6, 0.0, p_a))
    # Waking a sleeping server (rounds: one round; continuous: one sleep block).
    _, _, w_idle = info.weights
    asleep = np.asarray(info.server_can_sleep) & (np.asarray(view.compute_used) <= 0.0)
    gate_srv = np.flatnonzero(asleep)
    gate_of = np.full(n_s + 1, -1, dtype=np.int64)  # index n_s: the null option's -1
    gate_of[gate_srv] = np.arange(len(gate_srv))
    og = gate_of[srv_of]
    og_opt = np.flatnonzero(og >= 0)
    return EpochProblem(
        n_items=len(view),
        item=item,
        cand=cand_of,
        p=p_a,
        cost=np.concatenate(cost_l),
        server=srv_of,
        capacity=cap,
        usage_option=u_opt,
        usage_resource=u_res,
        usage_amount=u_amt,
        gate_server=gate_srv,
        gate_cost=w_idle * np.asarray(info.server_idle_power_w)[gate_srv] * info.wake_s,
        option_gate_option=og_opt,
        option_gate_gate=og[og_opt],
    )


def _capacity_left(info: SystemInfo, view: RoundView, bandwidth_mbps: np.ndarray) -> np.ndarray:
    """What is left of every resource row: compute share, KV memory (GB), link rate."""
    bw = np.asarray(bandwidth_mbps, dtype=float)
    rate_left = np.maximum(bw - np.asarray(view.rate_used_mbps), 0.0)
    return np.concatenate(
        [
            np.maximum(1.0 - np.asarray(view.compute_used), 0.0),
            np.maximum(
                np.asarray(info.server_kv_budget_bytes) - np.asarray(view.kv_used_bytes), 0.0
            )
            / GB,
            rate_left[:-1],
        ]
    )


def _options(
    info: SystemInfo, view: RoundView, cands: Candidates, reduce: bool
) -> tuple[list[np.ndarray], ...]:
    """Per request, its (undominated) candidates then the null option: item, candidate,
    P(on time), cost, server, share, rate and path, as lists of arrays to concatenate."""
    items, cand_l, p_l, cost_l, srv_l, phi_l, rate_l, path_l = ([] for _ in range(8))
    for k, (cand, p, cost) in enumerate(cands):
        t = info.templates[int(view.template[k])]
        cand = np.asarray(cand, dtype=np.int64)
        p, cost = np.asarray(p, dtype=float), np.asarray(cost, dtype=float)
        srv, path = t.server[cand], t.path_id[cand]
        phi, rate = t.phi[cand], t.rate_mbps[cand]
        keep = undominated(srv, path, phi, rate, p, cost) if reduce else None
        if keep is not None and not keep.all():
            cand, p, cost = cand[keep], p[keep], cost[keep]
            srv, path, phi, rate = srv[keep], path[keep], phi[keep], rate[keep]
        m = len(cand)
        items.append(np.full(m + 1, k, dtype=np.int64))
        cand_l += [cand, _DECLINE_1]
        p_l += [p, _ZERO_1]
        cost_l += [cost, _ZERO_1]
        srv_l += [np.asarray(srv, dtype=np.int64), _NONE_1]
        phi_l += [np.asarray(phi, dtype=float), _ZERO_1]
        rate_l += [np.asarray(rate, dtype=float), _ZERO_1]
        path_l += [np.asarray(path, dtype=np.int64), _NONE_1]
    return items, cand_l, p_l, cost_l, srv_l, phi_l, rate_l, path_l


def plan_epoch(
    info: SystemInfo,
    view: RoundView,
    cands: Candidates,
    bandwidth_mbps: np.ndarray,
    solver: SolverConfig,
    slack: float = 0.0,
    work: int | None = PLAN_WORK,
) -> list[int]:
    """The epoch's plan: a candidate (or ``DECLINE``) per request of ``view``.

    Parameters
    ----------
    info, view : the scheduler's knowledge and the epoch's view.
    cands : per request, (candidate indices, probability of being on time, weighted energy
        cost in J) of the candidates it may take.
    bandwidth_mbps : ndarray, shape (n_links + 1,)
        The bandwidth planned against (sentinel last); what the view says is in use is
        subtracted.
    solver : SolverConfig
        Time limit and gap per stage.
    slack : float
        Expected on-time requests stage 2 may give up for energy (0: strictly
        lexicographic, up to a relative 1e-7).
    work : int, optional
        Search budget per stage in interrupt checks x columns**2 (:func:`check_limit`;
        deterministic, unlike the time limit; ``None``: none); the best solution found is
        played (stage 1's if stage 2 finds none).
    """
    n = len(view)
    plan = [DECLINE] * n
    if n == 0 or not any(len(c[0]) for c in cands):
        return plan
    prob = epoch_problem(info, view, cands, bandwidth_mbps)
    data1 = prob.data(1.0 - prob.p, np.zeros(len(prob.gate_server)), None)
    stage1 = solve_assignment_direct(
        data1, solver, max_checks=check_limit(data1, work), presolve=False
    )
    _warn_at_guard(stage1, solver)
    if not stage1.has_solution:
        return plan
    misses = float(stage1.objective)
    tol = 1e-7 * max(1.0, abs(misses)) + slack
    data2 = prob.data(prob.cost, prob.gate_cost, misses + tol)
    stage2 = solve_assignment_direct(
        data2, solver, max_checks=check_limit(data2, work), presolve=False
    )
    _warn_at_guard(stage2, solver)
    chosen = stage2.x if stage2.has_solution else stage1.x
    for o in np.flatnonzero(chosen > 0.5).tolist():
        plan[int(prob.item[o])] = int(prob.cand[o])
    return plan


def check_limit(data: AssignmentData, work: int | None) -> int | None:
    """HiGHS's MIP interrupt checks for ``work`` units on ``data``'s model, a check costing
    its columns squared (at least 1; ``None`` for no limit). Columns are options, drops and
    gates, as HiGHS sees them."""
    if work is None:
        return None
    n_drops = data.n_items if data.drop_cost is not None else 0
    columns = max(1, data.n_options + n_drops + data.n_gates)
    return max(1, int(work) // columns**2)


def _warn_at_guard(result: SolveResult, solver: SolverConfig) -> None:
    """Log a stage that stopped at the wall-clock limit: its plan depends on the machine."""
    if result.status != OPTIMAL and result.solver_s >= 0.99 * solver.time_limit_s:
        log.warning(
            "an epoch plan stopped at its %.0f-s time limit before its node budget: this "
            "plan, and the run's results, may differ on another machine",
            solver.time_limit_s,
        )
