"""PerLLM's offline optimum in continuous mode, as assignment data (docs/model.md,
"Offline optimum").

For a window ``W`` of requests (:func:`perllm_opt.instance.windows.continuous_windows`:
windows share no resource at any time, so the optimum is the union of the windows' optima)
and their on-time options ``O_W``:

    min  sum_o c_o x_o + sum_{(j, b)} w_idle P_idle_j B on_jb + M sum_i drop_i
    s.t. sum_{o of i} x_o + drop_i = 1                         (each request once)
         sum_{o on j, active at t} phi_o x_o <= 1              (compute of j at time t)
         sum_{o on j, active at t} kv_i x_o <= KV_j            (memory of j at time t)
         sum_{o on e, transmitting at t} r_o x_o <= B_e(t)     (bandwidth of link e at t)
         x_o <= on_jb    for every sleep block b the option touches on a sleepy server j

with ``c_o = w_tran E_tran_o + (w_infer P_active_j - w_idle P_idle_j) phi_o D_infer_o``.
Loads are step functions that only rise where an interval starts, so rows at the interval
starts (and, for links, where the bandwidth changes inside a transmission) are exact
(:mod:`perllm_opt.instance.timeline`). Rows that no choice could violate (the largest use of every
request active there fits) and rows implied by a later row with a superset of active
options and no more capacity are left out: neither changes the feasible set.
"""

from __future__ import annotations

import itertools

import numpy as np

from perllm_opt.instance import timeline
from perllm_opt.instance.capacity import capacity_families
from perllm_opt.instance.realised import Instance
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.perllm import (
    GB,
    RoundProblem,
    on_time_options,
    option_costs,
    reduce_problem,
)


def _worst_load(sets: list[np.ndarray], item: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Per active set, the sum over its requests of each one's largest amount there: a row
    whose worst load fits its capacity is redundant (-inf for an empty set: no row)."""
    sizes = np.fromiter((len(a) for a in sets), dtype=np.int64, count=len(sets))
    if not sizes.sum():
        return np.full(len(sets), -np.inf)
    pos = np.concatenate(sets)
    span = int(item.max()) + 1
    key, inv = np.unique(np.repeat(np.arange(len(sets)), sizes) * span + item[pos],
                         return_inverse=True)  # fmt: skip
    worst = np.zeros(len(key))
    np.maximum.at(worst, inv.ravel(), amount[pos])
    load = np.bincount(key // span, weights=worst, minlength=len(sets))
    return np.where(sizes > 0, load, -np.inf)


def capacity_rows(
    iv: timeline.Intervals,
    n_res: int,
    item: np.ndarray,
    capacity,
    step_s: float | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """The rows needed for every resource: (interval positions, amounts, capacity) each.

    ``item[k]`` is the request of interval ``k``'s option (for the redundancy test);
    ``capacity(resource, times)`` gives capacities at times.
    """
    rows_iv, rows_amt, rows_cap = [], [], []
    for r in range(n_res):
        times = timeline.check_times(iv, r, step_s)
        if len(times) == 0:
            continue
        cap = np.asarray(capacity(r, times), dtype=float)
        sets = timeline.active_sets(iv, r, times)
        keep = (
            _worst_load(sets, item, iv.amount) > cap * (1 + timeline.RTOL) + timeline.RTOL
        ).tolist()
        # Implied by the next kept row: its active set contains this one's (nothing active
        # here ends before it) and its capacity is no larger.
        kept = [k for k, v in enumerate(keep) if v]
        for a, b in itertools.pairwise(kept):
            act = sets[a]
            if iv.end[act].min() > times[b] and cap[b] <= cap[a]:
                keep[a] = False
        for k, v in enumerate(keep):
            if v:
                act = sets[k]
                rows_iv.append(act)
                rows_amt.append(iv.amount[act])
                rows_cap.append(float(cap[k]))
    return rows_iv, rows_amt, rows_cap


def concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    """``parts`` joined as one array of ``dtype`` (empty without parts)."""
    return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype=dtype)


def sleep_gates(
    instance: Instance, dispatch_s: np.ndarray, service_s: np.ndarray, server: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gates ``on_{j,b}`` of every (sleepy server, sleep block) the options touch: for
    each (option, gate) link the option's position and the gate's, and each gate's cost
    (the server's weighted idle energy over the block)."""
    _, _, w_idle = instance.weights
    block = instance.sleep_block_s
    sleepy = np.flatnonzero(instance.topology.server_can_sleep[server])
    first, last = timeline.block_span(dispatch_s[sleepy], (dispatch_s + service_s)[sleepy], block)
    span = last - first + 1
    g_opt = np.repeat(sleepy, span)
    g_block = np.repeat(first, span) + (
        np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
    )
    n_blocks = int(g_block.max()) + 1 if len(g_block) else 1
    gate_key, g_gate = np.unique(server[g_opt] * n_blocks + g_block, return_inverse=True)
    gate_cost = w_idle * instance.server_idle_power_w[gate_key // n_blocks] * block
    return g_opt.astype(np.int64), g_gate.astype(np.int64).ravel(), gate_cost.astype(float)


def window_problem(
    instance: Instance,
    requests: np.ndarray,
    reduce: bool = True,
    options: np.ndarray | None = None,
) -> RoundProblem:
    """The MILP data of one window's requests (continuous mode, fixed deployment); with
    ``reduce``, without the rows, options and requests no optimum needs
    (:func:`perllm_opt.milp.perllm.reduce_problem`: the optimum is unchanged). ``options``
    (global indices, each of a request in ``requests``) replaces the requests' on-time
    options, in the order given."""
    o = instance.options
    requests = np.asarray(requests, dtype=np.int64)
    if options is None:
        opts = on_time_options(instance, requests)
    else:
        opts = np.asarray(options, dtype=np.int64)
    n_opt = len(opts)
    local = np.full(instance.n_requests, -1, dtype=np.int64)
    local[requests] = np.arange(len(requests))
    req = o.request[opts]
    item = local[req]
    d = instance.request_dispatch_s[req]
    service = o.service_s[opts]
    srv = o.server[opts]
    u_opt, u_res, u_amt, caps = [], [], [], []
    for _, iv, n_res, cap, step in capacity_families(instance, opts, kv_unit=GB):
        rows_iv, rows_amt, rows_cap = capacity_rows(iv, n_res, item[iv.option], cap, step)
        for act, amt, c in zip(rows_iv, rows_amt, rows_cap, strict=True):
            # An option's two transmissions never overlap: one entry per option and row.
            u_opt.append(iv.option[act])
            u_res.append(np.full(len(act), len(caps), dtype=np.int64))
            u_amt.append(amt)
            caps.append(c)

    g_opt, g_gate, gate_cost = sleep_gates(instance, d, service, srv)

    data = AssignmentData(
        n_items=len(requests),
        option_item=item,
        option_cost=option_costs(instance, opts),
        capacity=np.asarray(caps, dtype=float),
        usage_option=concat(u_opt, np.int64),
        usage_resource=concat(u_res, np.int64),
        usage_amount=concat(u_amt, float),
        drop_cost=np.full(len(requests), instance.drop_penalty_j),
        gate_cost=gate_cost.astype(float),
        option_gate_option=g_opt.astype(np.int64),
        option_gate_gate=g_gate.astype(np.int64).ravel(),
        constant=0.0,
    )
    assert data.n_options == n_opt
    prob = RoundProblem(data=data, option=opts, request=requests)
    return reduce_problem(prob) if reduce else prob


def always_on_idle_continuous_j(instance: Instance) -> float:
    """Weighted idle energy of the servers that never sleep over ``[0, accounting_end_s)``
    (the same for every solution of the MILP, whose options all end inside it)."""
    _, _, w_idle = instance.weights
    on = ~instance.topology.server_can_sleep
    return float(w_idle * instance.server_idle_power_w[on].sum() * instance.accounting_end_s)


def window_requests(instance: Instance) -> list[np.ndarray]:
    """Request indices of each window, in time order."""
    w = instance.request_window
    has = np.flatnonzero(w >= 0)
    if len(has) == 0:
        return []
    order = has[np.argsort(w[has], kind="stable")]
    bounds = np.flatnonzero(np.diff(w[order])) + 1
    return np.split(order, bounds)
