"""Exact reductions of assignment data: rows, options and items no optimal solution needs.

Three reductions, applied in this order by :func:`reduce_data` (docs/model.md, "Smaller
exact models", proves each):

1. *Redundant rows.* A resource row whose capacity covers the largest use of every item
   (and of every gate) at once can bind no choice of at most one option per item: it is
   removed.
2. *Dominated options.* Option ``b`` of an item is dominated by option ``a`` of the same
   item when ``a`` costs no more, takes no more of any resource row, and needs no gate that
   ``b`` does not. Replacing ``b`` by ``a`` in any feasible solution keeps it feasible (every
   row's load can only fall, and the gates that ``b`` opened may stay open) and does not
   raise its cost, so removing every dominated option (keeping one of each group of
   identical ones) leaves the optimum unchanged. Only the rows present in the data matter:
   rows left out are satisfied by every choice of one option per item.
3. *Free items.* An item left with a single option that takes no row and needs no gate, and
   costs no more than dropping it, is served by that option in some optimal solution (moving
   it there from a drop keeps feasibility and lowers both the drops and the cost): it is
   fixed, and its cost moves into the constant.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from perllm_opt.milp.data import AssignmentData

#: Relative slack when comparing costs and amounts.
_TOL = 1e-12


def dominated_options(data: AssignmentData) -> np.ndarray:
    """Boolean mask of the options dominated by another option of the same item."""
    return dominators(data) >= 0


def dominators(data: AssignmentData) -> np.ndarray:
    """Per option, an undominated option of the same item that dominates it (-1 for the
    undominated ones). One exists: dominance is transitive, so a maximal element of the
    options dominating ``b`` is undominated and dominates ``b``."""
    n_opt = data.n_options
    out = np.full(n_opt, -1, dtype=np.int64)
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
        beaten = beats.any(axis=0)
        free = ~beaten
        for b in np.flatnonzero(beaten):
            out[members[b]] = members[np.flatnonzero(beats[:, b] & free)[0]]
    return out


def without_options(data: AssignmentData, drop: np.ndarray) -> tuple[AssignmentData, np.ndarray]:
    """``data`` with the options in mask ``drop`` removed; also the kept options' old
    indices."""
    keep = np.flatnonzero(~drop)
    new = np.full(data.n_options, -1, dtype=np.int64)
    new[keep] = np.arange(len(keep))
    u = ~drop[data.usage_option]
    g = ~drop[data.option_gate_option]
    reduced = replace(
        data,
        option_item=data.option_item[keep],
        option_cost=data.option_cost[keep],
        usage_option=new[data.usage_option[u]],
        usage_resource=data.usage_resource[u],
        usage_amount=data.usage_amount[u],
        option_gate_option=new[data.option_gate_option[g]],
        option_gate_gate=data.option_gate_gate[g],
    )
    return reduced, keep


def redundant_rows(data: AssignmentData) -> np.ndarray:
    """Boolean mask of the resource rows that no choice of at most one option per item (and
    any set of open gates) can violate: the largest use of each item, summed over items, plus
    every gate's use, fits the capacity. Rows with a negative amount are kept."""
    n_res = data.n_resources
    if n_res == 0:
        return np.zeros(0, dtype=bool)
    item = data.option_item[data.usage_option]
    key, inv = np.unique(item * n_res + data.usage_resource, return_inverse=True)
    worst = np.full(len(key), -np.inf)
    np.maximum.at(worst, inv, data.usage_amount)
    load = np.bincount(key % n_res, weights=worst, minlength=n_res)
    load += np.bincount(data.gate_usage_resource, weights=data.gate_usage_amount, minlength=n_res)
    negative = np.zeros(n_res, dtype=bool)
    negative[data.usage_resource[data.usage_amount < 0]] = True
    negative[data.gate_usage_resource[data.gate_usage_amount < 0]] = True
    cap = np.asarray(data.capacity, dtype=float)
    return (load <= cap + _TOL * np.maximum(np.abs(cap), 1.0)) & ~negative


def without_rows(data: AssignmentData, drop: np.ndarray) -> AssignmentData:
    """``data`` with the resource rows in mask ``drop`` removed (the rest renumbered)."""
    new = np.cumsum(~drop) - 1
    u = ~drop[data.usage_resource]
    g = ~drop[data.gate_usage_resource]
    return replace(
        data,
        capacity=np.asarray(data.capacity)[~drop],
        usage_option=data.usage_option[u],
        usage_resource=new[data.usage_resource[u]],
        usage_amount=data.usage_amount[u],
        gate_usage_gate=data.gate_usage_gate[g],
        gate_usage_resource=new[data.gate_usage_resource[g]],
        gate_usage_amount=data.gate_usage_amount[g],
    )


def free_items(data: AssignmentData) -> np.ndarray:
    """Per item, the option it can be fixed to (-1 if none): its only option, which takes no
    row, needs no gate and costs no more than dropping the item. Minimisation only."""
    out = np.full(data.n_items, -1, dtype=np.int64)
    if data.sense != "min" or data.n_options == 0:
        return out
    count = np.bincount(data.option_item, minlength=data.n_items)
    bound = np.zeros(data.n_options, dtype=bool)
    bound[data.usage_option[data.usage_amount != 0]] = True
    bound[data.option_gate_option] = True
    single = count[data.option_item] == 1
    ok = single & ~bound
    if data.drop_cost is not None:
        ok &= data.option_cost <= data.drop_cost[data.option_item]
    out[data.option_item[ok]] = np.flatnonzero(ok)
    return out


@dataclass(frozen=True, eq=False)
class Reduction:
    """Reduced assignment data and the maps back to the original.

    Attributes
    ----------
    data : AssignmentData
        The smaller problem (fixed items' costs are in its constant).
    option : ndarray of int
        Original index of each option of ``data``.
    item : ndarray of int
        Original index of each item of ``data``.
    fixed_item, fixed_option : ndarray of int
        Items fixed to an option (original indices), served in every optimum found.
    rows_removed, options_removed : int
    stand_in : ndarray of int
        Per original option, an option of the same item that is kept or fixed and does at
        least as well in every solution (itself when kept): how a start that uses a removed
        option is carried over.
    """

    data: AssignmentData
    option: np.ndarray
    item: np.ndarray
    fixed_item: np.ndarray
    fixed_option: np.ndarray
    rows_removed: int
    options_removed: int
    stand_in: np.ndarray


def reduce_data(data: AssignmentData) -> Reduction:
    """Apply the three reductions of this module; the optimum of the result plus its fixed
    items is an optimum of ``data`` (same objective, lexicographic or weighted)."""
    rows = redundant_rows(data)
    small = without_rows(data, rows) if rows.any() else data
    dom = dominators(small)
    stand_in = np.where(dom >= 0, dom, np.arange(data.n_options))
    small, keep = without_options(small, dom >= 0)
    fix = free_items(small)
    fixed_item = np.flatnonzero(fix >= 0)
    kept_items = np.flatnonzero(fix < 0)
    drop_opt = np.zeros(small.n_options, dtype=bool)
    drop_opt[fix[fixed_item]] = True
    fixed_cost = float(small.option_cost[fix[fixed_item]].sum())
    small2, keep2 = without_options(small, drop_opt)
    new_item = np.full(data.n_items, -1, dtype=np.int64)
    new_item[kept_items] = np.arange(len(kept_items))
    small3 = replace(
        small2,
        n_items=len(kept_items),
        option_item=new_item[small2.option_item],
        drop_cost=None if small2.drop_cost is None else small2.drop_cost[kept_items],
        constant=small2.constant + fixed_cost,
    )
    return Reduction(
        small3,
        keep[keep2],
        kept_items,
        fixed_item,
        keep[fix[fixed_item]],
        int(rows.sum()),
        data.n_options - small3.n_options,
        stand_in,
    )
