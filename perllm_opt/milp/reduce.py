"""Exact reductions of assignment data: options no optimal solution needs.

Option ``b`` of an item is *dominated* by option ``a`` of the same item when ``a`` costs no
more, takes no more of any resource row, and needs no gate that ``b`` does not. Replacing
``b`` by ``a`` in any feasible solution keeps it feasible (every row's load can only fall,
and the gates that ``b`` opened may stay open) and does not raise its cost, so removing
every dominated option (keeping one of each group of identical ones) leaves the optimum
unchanged. Only the rows present in the data matter: rows the builder left out are
satisfied by every choice of one option per item (docs/model.md, "Smaller exact models").
"""

from __future__ import annotations

import numpy as np

from perllm_opt.milp.data import AssignmentData

#: Relative slack when comparing costs and amounts.
_TOL = 1e-12


def dominated_options(data: AssignmentData) -> np.ndarray:
    """Boolean mask of the options dominated by another option of the same item."""
    n_opt = data.n_options
    out = np.zeros(n_opt, dtype=bool)
    if n_opt == 0:
        return out
    n_res = data.n_resources
    # Columns: resource rows, then gates (amount 1).
    col_opt = np.concatenate([data.usage_option, data.option_gate_option])
    col = np.concatenate([data.usage_resource, n_res + data.option_gate_gate])
    amt = np.concatenate([data.usage_amount, np.ones(len(data.option_gate_option))])
    order = np.argsort(col_opt, kind="stable")
    col_opt, col, amt = col_opt[order], col[order], amt[order]
    starts = np.searchsorted(col_opt, np.arange(n_opt + 1))
    items = np.argsort(data.option_item, kind="stable")
    bounds = np.searchsorted(data.option_item[items], np.arange(data.n_items + 1))
    cost = data.option_cost
    for i in range(data.n_items):
        members = items[bounds[i] : bounds[i + 1]]
        k = len(members)
        if k < 2:
            continue
        pieces = [(starts[o], starts[o + 1]) for o in members]
        cols = np.unique(np.concatenate([col[a:b] for a, b in pieces]))
        dense = np.zeros((k, len(cols)))
        for r, (a, b) in enumerate(pieces):
            dense[r, np.searchsorted(cols, col[a:b])] += amt[a:b]
        c = cost[members]
        scale = np.maximum(np.abs(dense), 1.0)
        # le[a, b]: option a uses no more than option b of every column.
        le = np.all(dense[:, None, :] <= dense[None, :, :] + _TOL * scale[None, :, :], axis=2)
        cheaper = c[:, None] <= c[None, :] + _TOL * np.maximum(np.abs(c[None, :]), 1.0)
        dom = le & cheaper
        equal = dom & dom.T
        # a dominates b strictly, or they are equal and a comes first.
        idx = np.arange(k)
        beats = (dom & ~equal) | (equal & (idx[:, None] < idx[None, :]))
        np.fill_diagonal(beats, False)
        out[members[beats.any(axis=0)]] = True
    return out


def without_options(data: AssignmentData, drop: np.ndarray) -> tuple[AssignmentData, np.ndarray]:
    """``data`` with the options in mask ``drop`` removed; also the kept options' old
    indices."""
    keep = np.flatnonzero(~drop)
    new = np.full(data.n_options, -1, dtype=np.int64)
    new[keep] = np.arange(len(keep))
    u = ~drop[data.usage_option]
    g = ~drop[data.option_gate_option]
    reduced = AssignmentData(
        n_items=data.n_items,
        option_item=data.option_item[keep],
        option_cost=data.option_cost[keep],
        capacity=data.capacity,
        usage_option=new[data.usage_option[u]],
        usage_resource=data.usage_resource[u],
        usage_amount=data.usage_amount[u],
        drop_cost=data.drop_cost,
        gate_cost=data.gate_cost,
        gate_usage_gate=data.gate_usage_gate,
        gate_usage_resource=data.gate_usage_resource,
        gate_usage_amount=data.gate_usage_amount,
        option_gate_option=new[data.option_gate_option[g]],
        option_gate_gate=data.option_gate_gate[g],
        constant=data.constant,
        sense=data.sense,
    )
    return reduced, keep
