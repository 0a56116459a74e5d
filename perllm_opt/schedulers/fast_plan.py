"""A fast combinatorial oracle for an epoch's plan: the LP relaxation, rounded and repaired,
in place of the exact two-stage MILP of :mod:`perllm_opt.schedulers.epoch_plan` (the same
:class:`~perllm_opt.schedulers.epoch_plan.EpochProblem`).

A basic LP solution splits at most as many requests as there are binding capacity rows
(Shmoys & Tardos, Math. Programming 62, 1993), so rounding it loses little. Steps: each
request's likeliest candidate if they all fit (no LP); else the stage-1 LP rounded, largest
values first; then a repair (declined requests placed, placed ones moved to likelier
candidates) and an energy pass within the plan's slack. A heuristic without a proven
ratio; how close it comes to the exact plan: docs/design_notes.md.

"""

from __future__ import annotations

import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.milp.highs_direct import solve_assignment_direct
from perllm_opt.schedulers.base import DECLINE
from perllm_opt.schedulers.epoch_plan import Candidates, EpochProblem, epoch_problem
from perllm_opt.simulation.view import RoundView, SystemInfo

#: Weight of the cheapness tie-break in stage 1's cost, below any difference in p that the
#: exact plan would see (it rounds p to 1e-6).
TIE = 1e-7
#: The LP relaxation's solver settings (its time limit is a guard only).
LP_SOLVER = SolverConfig(time_limit_s=60.0)
#: Relative slack on capacity when testing a fit (the simulator's rounding).
FIT_TOL = 1e-9


def plan_fast(
    prob: EpochProblem, slack: float = 0.0, lp_solver: SolverConfig = LP_SOLVER
) -> np.ndarray:
    """The chosen option (index into ``prob``'s options) per request, -1 to decline.

    Parameters
    ----------
    prob : EpochProblem
        The epoch's problem (:func:`perllm_opt.schedulers.epoch_plan.epoch_problem`).
    slack : float
        Expected on-time requests the energy pass may give up (as the exact plan's stage 2;
        plus its relative 1e-7).
    lp_solver : SolverConfig
        For the LP relaxation (time limit; a guard only).

    Returns
    -------
    ndarray of int, shape (prob.n_items,)
        Every capacity holds for the chosen options (within ``FIT_TOL``).
    """
    n = prob.n_items
    out = np.full(n, -1, dtype=np.int64)
    real = np.flatnonzero((prob.server >= 0) & (prob.p > 0.0))
    if n == 0 or len(real) == 0:
        return out
    n_r = len(prob.capacity)
    cap = np.asarray(prob.capacity, dtype=float)
    # Fractions of what is left that each real option takes, (options, resources).
    pos = np.full(len(prob.item), -1, dtype=np.int64)
    pos[real] = np.arange(len(real))
    use = np.zeros((len(real), n_r))
    row = pos[prob.usage_option]
    ok_u = row >= 0
    np.add.at(use, (row[ok_u], prob.usage_resource[ok_u]), prob.usage_amount[ok_u])
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(use > 0.0, use / np.maximum(cap, 0.0), 0.0)
    fits_alone = np.all(frac <= 1.0 + FIT_TOL, axis=1)
    real, frac = real[fits_alone], frac[fits_alone]
    if len(real) == 0:
        return out
    p = prob.p[real]
    cost = prob.cost[real]
    item = prob.item[real]
    srv = prob.server[real]
    wake = np.zeros(max(int(prob.server.max()), int(prob.gate_server.max(initial=-1))) + 1)
    wake[prob.gate_server] = prob.gate_cost
    # Padded (items, most candidates) table of option rows, -1 for none.
    counts = np.bincount(item, minlength=n)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    table = np.full((n, int(counts.max())), -1, dtype=np.int64)
    table[item, np.arange(len(real)) - first[item]] = np.arange(len(real))
    has = table >= 0
    # Stage 2 inside stage 1: among equally likely candidates, the cheaper (waking its
    # server counted), by less than any difference in p that matters.
    cost_w = cost + wake[srv]
    tie = TIE * (cost_w - cost_w.min()) / max(float(np.ptp(cost_w)), 1e-12)
    # 1. Each request's likeliest (then cheapest) candidate: stage 1's optimum if they fit.
    s = np.where(has, (p - tie)[np.maximum(table, 0)], -np.inf)
    plan = table[np.arange(n), s.argmax(axis=1)]  # -1 where a request has no option
    if not np.all(frac[plan[plan >= 0]].sum(axis=0) <= 1.0 + FIT_TOL):
        # 2. The LP relaxation, rounded: requests by how whole their LP option is, each its
        # LP option if it still fits, else its likeliest that does; then repaired.
        plan = _round_lp(prob, real, p, tie, frac, table, has, lp_solver)
        plan = _upgrade(plan, p, frac, table, has)
    served = float(p[plan[plan >= 0]].sum())
    budget = 1e-7 * max(1.0, n - served) + slack
    plan = _cheapen(plan, p, cost, srv, wake, frac, table, has, budget)
    out[plan >= 0] = real[plan[plan >= 0]]
    return out


def _round_lp(prob, real, p, tie, frac, table, has, lp_solver) -> np.ndarray:
    """Round the LP relaxation of stage 1 (cost ``1 - p``, plus the cheapness tie-break)."""
    n = prob.n_items
    cost1 = 1.0 - prob.p
    cost1[real] += tie
    data = prob.data(cost1, np.zeros(len(prob.gate_server)), None)
    x = solve_assignment_direct(data, lp_solver, relax=True).x
    plan = np.full(n, -1, dtype=np.int64)
    if x is None:
        return plan
    xr = x[real]
    xs = np.where(has, xr[np.maximum(table, 0)], 0.0)
    j = xs.argmax(axis=1)
    whole = xs[np.arange(n), j]
    load = np.zeros(frac.shape[1])
    for i in np.argsort(-whole, kind="stable").tolist():
        if whole[i] < 1e-6:
            break
        r0 = int(table[i, j[i]])
        if np.all(frac[r0] + load <= 1.0 + FIT_TOL):
            r = r0
        else:
            rows = table[i][has[i]]
            ok = np.all(frac[rows] + load <= 1.0 + FIT_TOL, axis=1)
            if not ok.any():
                continue
            r = int(rows[int(np.where(ok, p[rows] - tie[rows], -np.inf).argmax())])
        plan[i] = r
        load += frac[r]
    return plan


def _upgrade(plan, p, frac, table, has) -> np.ndarray:
    """Each request (declined ones first) to its likeliest candidate that fits with the
    rest of the plan, if likelier than what it has."""
    plan = plan.copy()
    load = frac[plan[plan >= 0]].sum(axis=0)
    order = np.argsort(plan >= 0, kind="stable")
    for i in order.tolist():
        cur = int(plan[i])
        base = load - frac[cur] if cur >= 0 else load
        rows = table[i][has[i]]
        ok = np.all(frac[rows] + base <= 1.0 + FIT_TOL, axis=1)
        if not ok.any():
            continue
        s = np.where(ok, p[rows], -np.inf)
        r = int(rows[int(s.argmax())])
        if p[r] > (p[cur] if cur >= 0 else 0.0):
            plan[i] = r
            load = base + frac[r]
    return plan


def _cheapen(plan, p, cost, srv, wake, frac, table, has, budget) -> np.ndarray:
    """Stage 2: each request to the cheapest candidate that fits and is at least as likely
    but for what is left of ``budget`` (expected on-time requests the pass may give up), a
    sleeping server's waking cost counted unless another request of the plan uses it."""
    plan = plan.copy()
    load = frac[plan[plan >= 0]].sum(axis=0)
    users = np.bincount(srv[plan[plan >= 0]], minlength=len(wake))
    placed = np.flatnonzero(plan >= 0)
    # The dearest first (the most to save), twice over (a move may free room for another).
    order = placed[np.argsort(-cost[plan[placed]], kind="stable")].tolist()
    for i in order + order:
        cur = int(plan[i])
        base = load - frac[cur]
        users[srv[cur]] -= 1
        rows = table[i][has[i]]
        ok = np.all(frac[rows] + base <= 1.0 + FIT_TOL, axis=1) & (p[rows] >= p[cur] - budget)
        s = rows[ok]
        if len(s) == 0:
            users[srv[cur]] += 1
            continue
        total = cost[s] + wake[srv[s]] * (users[srv[s]] == 0)
        r = int(s[int(total.argmin())])
        budget -= max(float(p[cur] - p[r]), 0.0)
        plan[i] = r
        load = base + frac[r]
        users[srv[r]] += 1
    return plan


def plan_epoch_fast(
    info: SystemInfo,
    view: RoundView,
    cands: Candidates,
    bandwidth_mbps: np.ndarray,
    slack: float = 0.0,
    reduced: bool = False,
) -> list[int]:
    """:func:`perllm_opt.schedulers.epoch_plan.plan_epoch` with :func:`plan_fast` in place of
    the two MILPs: a candidate (or ``DECLINE``) per request of ``view`` (``reduced``: the
    candidates are already undominated)."""
    plan = [DECLINE] * len(view)
    if len(view) == 0 or not any(len(c[0]) for c in cands):
        return plan
    prob = epoch_problem(info, view, cands, bandwidth_mbps, reduce=not reduced)
    chosen = plan_fast(prob, slack)
    for k in np.flatnonzero(chosen >= 0).tolist():
        plan[k] = int(prob.cand[chosen[k]])
    return plan
