"""A feasible plan from an LP relaxation's fractional solution (greedy rounding).

The LP of a long continuous window is solved anyway for its bound; its solution also says
which requests fit together. Rounding it greedily (Raghavan and Thompson 1987 round
randomly; here deterministically, items by their largest fractional value) gives a start
for the window search far closer to the bound than an online scheduler's plan where the
trace overloads the system (docs/benchmarks.md, the Azure hour).
"""

from __future__ import annotations

import numpy as np

from perllm_opt.milp.data import AssignmentData


def round_lp(data: AssignmentData, x_lp: np.ndarray) -> np.ndarray | None:
    """A 0/1 choice of options that fits every capacity row of ``data``, built from the LP
    solution ``x_lp``.

    Items are taken by their largest fractional value (ties: lower index), and each item
    takes the first of its options, by fractional value then cost, that still fits every
    row it uses; an item none fits is left unserved. Gates open as the chosen options need
    them (:meth:`AssignmentData.columns_for`); where gates take capacity themselves the
    problem is not rounded (None).

    Parameters
    ----------
    data : AssignmentData
        A minimisation with capacity rows only.
    x_lp : ndarray of float, shape (n_options,)
        The LP relaxation's value of each option.

    Returns
    -------
    ndarray of float, shape (n_options,), or None
        1.0 for each chosen option, at most one per item.
    """
    if len(data.gate_usage_gate):
        return None
    n_o = data.n_options
    x_lp = np.asarray(x_lp, dtype=float)
    if x_lp.shape != (n_o,):
        raise ValueError(f"x_lp: expected shape ({n_o},), got {x_lp.shape}")
    by_option = np.argsort(data.usage_option, kind="stable")
    rows = data.usage_resource[by_option]
    amounts = data.usage_amount[by_option]
    first = np.searchsorted(data.usage_option[by_option], np.arange(n_o + 1))
    room = np.asarray(data.capacity, dtype=float).copy()
    order = np.lexsort((data.option_cost, -x_lp, data.option_item))
    item_first = np.searchsorted(data.option_item[order], np.arange(data.n_items + 1))
    largest = np.zeros(data.n_items)
    np.maximum.at(largest, data.option_item, x_lp)
    x = np.zeros(n_o)
    for item in np.argsort(-largest, kind="stable"):
        for o in order[item_first[item] : item_first[item + 1]]:
            r, a = rows[first[o] : first[o + 1]], amounts[first[o] : first[o + 1]]
            if np.all(a <= room[r]):
                room[r] -= a
                x[o] = 1.0
                break
    return x
