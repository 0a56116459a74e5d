"""One decision epoch's plan as a two-stage MILP: the most expected on-time requests, then
the least expected weighted energy, under the compute, KV and link capacity left.

Shared by the known-means oracle (``baselines/oracle_milp.py``, on the true laws) and by
CS-UCB's exact combinatorial oracle (``plan: milp``, on its optimistic estimates: CUCB with
an exact offline oracle, Chen, Wang & Yuan, ICML 2013). The model is the generic assignment
data of :mod:`perllm_opt.milp.data` passed to HiGHS directly
(:mod:`perllm_opt.milp.highs_direct`: hundreds of small models, where Pyomo's build would
dominate). A *null option* per request (decline) makes every request take exactly one
option; stage 1 costs ``1 - p`` per option (1 for declining; ``p`` rounded to 1e-6, for
HiGHS's numerics); stage 2 keeps stage 1's
expected misses as a capacity row and minimises the cost plus the idle energy of waking a
sleeping server (one round, or one sleep block in continuous mode).

Before the MILP, each request's *dominated* candidates are dropped: those with another
candidate on the same server and path that is at least as likely on time, costs no more, and
asks no more compute share and no more link rate (:func:`undominated`). No optimal plan needs
them (swapping one for its dominator keeps every row feasible and no objective worse), so
both stages' optima are unchanged; what changes is the choice among equal plans, which is
then the resource-frugal one for a reason of ours rather than of the solver's internals.
HiGHS's presolve made that choice before (it removes dominated columns), and its presolve is
off here: on some epoch plans HiGHS 1.16.0 loops in it past any time limit
(docs/benchmarks.md, "Known solver issue"). Without this reduction, presolve off picks among
ties arbitrarily, often the larger share or rate, and the known-means oracle serves 3.9%
fewer requests on the default setting (1,084.8 against 1,128.4, seeds 0-4).

*A budget that does not depend on the machine.* Each stage gets :data:`PLAN_WORK` units of
search, one of HiGHS's MIP interrupt checks (after each root separation round and at each
node: :func:`perllm_opt.milp.highs_direct.stop_after_checks`) on a model of ``c`` columns
costing ``c**2``: it stops at its ``PLAN_WORK / c**2``-th check (:func:`check_limit`), a
point that is the same on every machine (of one floating-point path:
:mod:`perllm_opt.float_path`) and under any load, so a scheduler's decisions (and every table
built on them) reproduce. A wall-clock limit did not: in rounds mode the largest whole-round
plans take 5-6 s and 300-410 nodes on an idle machine, so under CI's load one of them could
meet the former 10-s limit. A node limit does not bound the root node, whose separation
rounds took 30-90 s on the ``large`` preset's 7,000-9,600-column plans; the square keeps a
stage near a fixed time as plans grow (a check costs more the more columns: about 20-30 ms
at 1,300-1,500 columns, 0.5-1.5 s at 8,700). The solver's time limit stays only as a guard
against a hang (:data:`PLAN_GUARD_S`); a stage that meets it is logged as a warning, since
its result then depends on the machine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.highs_direct import solve_assignment_direct
from perllm_opt.milp.perllm import GB
from perllm_opt.milp.solve import OPTIMAL, SolveResult
from perllm_opt.schedulers.base import DECLINE
from perllm_opt.view import RoundView, SystemInfo

Candidates = Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]

#: Search per stage of an epoch plan, in interrupt checks x columns**2: the deterministic
#: budget (module docstring). The most any rounds-mode plan of the paper's settings was seen
#: to need is about 9e8 (403 nodes at 1,476 columns; 606 at 1,172); an 8,700-column plan of
#: the ``large`` preset gets 26 checks, about the 10 s it had before.
PLAN_WORK = 2_000_000_000
#: Wall-clock guard per stage, seconds: only against a hang; a plan should never meet it.
PLAN_GUARD_S = 300.0

log = logging.getLogger(__name__)


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
    n_s = info.n_servers
    bw = np.asarray(bandwidth_mbps, dtype=float)
    rate_left = np.maximum(bw - np.asarray(view.rate_used_mbps), 0.0)
    # Resources: compute of j (j), KV of j (n_s + j), link e (2 n_s + e), then the
    # stage-2 row of expected misses (last).
    cap = np.concatenate(
        [
            np.maximum(1.0 - np.asarray(view.compute_used), 0.0),
            np.maximum(
                np.asarray(info.server_kv_budget_bytes) - np.asarray(view.kv_used_bytes), 0.0
            )
            / GB,
            rate_left[:-1],
        ]
    )
    item, cand_of, p_of, cost_of, u_opt, u_res, u_amt, srv_of = [], [], [], [], [], [], [], []
    for k, (cand, p, cost) in enumerate(cands):
        t = info.templates[int(view.template[k])]
        cand = np.asarray(cand, dtype=np.int64)
        p, cost = np.asarray(p, dtype=float), np.asarray(cost, dtype=float)
        keep = undominated(
            np.asarray(t.server)[cand],
            np.asarray(t.path_id)[cand],
            np.asarray(t.phi)[cand],
            np.asarray(t.rate_mbps)[cand],
            p,
            cost,
        )
        cand, p, cost = cand[keep], p[keep], cost[keep]
        for c, pc, ec in zip(cand.tolist(), p.tolist(), cost.tolist(), strict=True):
            o = len(item)
            item.append(k)
            cand_of.append(c)
            p_of.append(pc)
            cost_of.append(ec)
            j = int(t.server[c])
            srv_of.append(j)
            u_opt += [o, o]
            u_res += [j, n_s + j]
            u_amt += [float(t.phi[c]), float(view.kv_bytes[k]) / GB]
            for e in np.asarray(info.path_link_matrix)[t.path_id[c]].tolist():
                if e < info.n_links:
                    u_opt.append(o)
                    u_res.append(2 * n_s + e)
                    u_amt.append(float(t.rate_mbps[c]))
        item.append(k)  # the null option: decline
        cand_of.append(DECLINE)
        p_of.append(0.0)
        cost_of.append(0.0)
        srv_of.append(-1)
    item_a = np.asarray(item, dtype=np.int64)
    # Probabilities to 1e-6: coefficients of 1e-12 (1 - p for p within rounding of 1) made
    # HiGHS 1.16 loop past its time limit on the stage-2 row.
    p_a = np.asarray(p_of)
    p_a = np.where(p_a >= 1.0 - 1e-6, 1.0, np.where(p_a <= 1e-6, 0.0, p_a))
    # Waking a sleeping server (rounds: one round; continuous: one sleep block).
    _, _, w_idle = info.weights
    asleep = np.asarray(info.server_can_sleep) & (np.asarray(view.compute_used) <= 0.0)
    gate_srv = np.flatnonzero(asleep)
    gate_of = {int(j): g for g, j in enumerate(gate_srv.tolist())}
    og_opt = [o for o, j in enumerate(srv_of) if j in gate_of]
    og_gate = [gate_of[srv_of[o]] for o in og_opt]
    gate_cost = w_idle * np.asarray(info.server_idle_power_w)[gate_srv] * info.wake_s

    base_opt = np.asarray(u_opt, dtype=np.int64)
    base_res = np.asarray(u_res, dtype=np.int64)
    base_amt = np.asarray(u_amt, dtype=float)

    def data(option_cost, gate_c, miss_cap):
        caps, uo, ur, ua = cap, base_opt, base_res, base_amt
        if miss_cap is not None:
            caps = np.append(cap, miss_cap)
            uo = np.concatenate([uo, np.arange(len(item))])
            ur = np.concatenate([ur, np.full(len(item), len(cap), dtype=np.int64)])
            ua = np.concatenate([ua, 1.0 - p_a])
        return AssignmentData(
            n_items=n,
            option_item=item_a,
            option_cost=np.asarray(option_cost, dtype=float),
            capacity=caps,
            usage_option=uo,
            usage_resource=ur,
            usage_amount=ua,
            drop_cost=None,
            gate_cost=np.asarray(gate_c, dtype=float),
            option_gate_option=np.asarray(og_opt, dtype=np.int64),
            option_gate_gate=np.asarray(og_gate, dtype=np.int64),
        )

    no_gate_cost = np.zeros(len(gate_srv))
    data1 = data(1.0 - p_a, no_gate_cost, None)
    stage1 = solve_assignment_direct(
        data1, solver, max_checks=check_limit(data1, work), presolve=False
    )
    _warn_at_guard(stage1, solver)
    if not stage1.has_solution:
        return plan
    misses = float(stage1.objective)
    tol = 1e-7 * max(1.0, abs(misses)) + slack
    data2 = data(cost_of, gate_cost, misses + tol)
    stage2 = solve_assignment_direct(
        data2, solver, max_checks=check_limit(data2, work), presolve=False
    )
    _warn_at_guard(stage2, solver)
    chosen = stage2.x if stage2.has_solution else stage1.x
    for o in np.flatnonzero(chosen > 0.5).tolist():
        plan[int(item_a[o])] = int(cand_of[o])
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
