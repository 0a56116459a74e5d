"""The LP bound of a long continuous window, by time blocks (docs/model.md, "The LP bound
by blocks").

One LP over an hour of requests (over 400,000 options) is not proven within HiGHS's time
limit, and without it the window's bound is only its count of requests with an on-time
option. Here the window is cut into blocks of dispatch time; the rows that cross blocks are
priced by the duals of small LPs over runs of consecutive blocks (pairs where rows cross
one boundary) and moved into the objective (Lagrangian relaxation, Geoffrion 1974, as
:mod:`perllm_opt.milp.rolling` does with the whole LP's duals). Each block's LP under those
prices is a lower bound on that block's term, so their sum is a proven bound whatever the
prices: the work grows linearly with the horizon, and with these prices it is the whole
LP's value to within 0.01 drop on a 10-minute GEANT window (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.highs_direct import lp_duals, lp_solution
from perllm_opt.milp.reduce import without_options
from perllm_opt.milp.rolling import block_data


def items_data(
    data: AssignmentData, items: np.ndarray
) -> tuple[AssignmentData, np.ndarray, np.ndarray]:
    """``data`` reduced to the items in mask ``items``: their options, the rows those
    options use (whole capacity) and the gates they link to (whole cost); also the kept
    rows' and gate links' old indices."""
    sub, _ = without_options(data, ~items[data.option_item])
    new_item = np.cumsum(items) - 1
    rows = np.zeros(data.n_resources, dtype=bool)
    rows[sub.usage_resource] = True
    new_row = np.cumsum(rows) - 1
    gates = np.zeros(data.n_gates, dtype=bool)
    gates[sub.option_gate_gate] = True
    new_gate = np.cumsum(gates) - 1
    out = replace(
        sub,
        n_items=int(items.sum()),
        option_item=new_item[sub.option_item],
        capacity=np.asarray(data.capacity, dtype=float)[rows],
        usage_resource=new_row[sub.usage_resource],
        drop_cost=None if data.drop_cost is None else data.drop_cost[items],
        gate_cost=data.gate_cost[gates],
        option_gate_gate=new_gate[sub.option_gate_gate],
        constant=0.0,
    )
    links = np.flatnonzero(items[data.option_item[data.option_gate_option]])
    return out, np.flatnonzero(rows), links


def _first_last(index: np.ndarray, block: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row (or gate) of ``index``, the first and last block of the entries that use
    it (first > last where none does)."""
    first = np.full(size, np.iinfo(np.int64).max)
    last = np.full(size, -1)
    np.minimum.at(first, index, block)
    np.maximum.at(last, index, block)
    return first, last


def crossing_prices(
    data: AssignmentData, item_block: np.ndarray, cfg: SolverConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Prices of the rows and gate links that cross blocks (block of each item in
    ``item_block``, numbered from 0), from the duals of LPs over runs of consecutive
    blocks: each run as long as the widest crossing (two blocks where rows cross one
    boundary), one starting at each block, and each crossing row or gate priced by the run
    that starts at its first block (the last run for the rows near the end), which holds
    every block that uses it. The gates' link prices split each gate's cost between the
    blocks (:func:`perllm_opt.milp.rolling.block_data`). Where a run's LP is not proven
    within ``cfg.time_limit_s`` its rows keep price 0: a weaker bound, still valid."""
    n_blocks = int(item_block.max()) + 1 if len(item_block) else 0
    opt_block = item_block[data.option_item]
    r_first, r_last = _first_last(
        data.usage_resource, opt_block[data.usage_option], data.n_resources
    )
    link_block = opt_block[data.option_gate_option]
    g_first, g_last = _first_last(data.option_gate_gate, link_block, data.n_gates)
    r_cross = r_last > r_first
    g_cross = g_last > g_first
    widest = max(int((r_last - r_first)[r_cross].max(initial=0)),
                 int((g_last - g_first)[g_cross].max(initial=0)))  # fmt: skip
    price = np.zeros(data.n_resources)
    link_price = np.zeros(len(data.option_gate_option))
    if widest == 0:
        return price, link_price
    width = widest + 1
    for k in range(n_blocks - width + 1):
        last_run = k == n_blocks - width
        rows = r_cross & ((r_first == k) | (last_run & (r_first > k)))
        gates = g_cross & ((g_first == k) | (last_run & (g_first > k)))
        if not rows.any() and not gates.any():
            continue
        run = (item_block >= k) & (item_block < k + width)
        sub, kept_rows, kept_links = items_data(data, run)
        try:
            _, row_price, sub_link_price = lp_duals(sub, cfg, method="ipm", crossover=False)
        except RuntimeError:
            continue
        run_price = np.zeros(data.n_resources)
        run_price[kept_rows] = row_price
        price[rows] = run_price[rows]
        priced = gates[data.option_gate_gate[kept_links]]
        link_price[kept_links[priced]] = sub_link_price[priced]
    return price, link_price


def block_lp_bound(
    data: AssignmentData, item_block: np.ndarray, cfg: SolverConfig
) -> tuple[float, np.ndarray | None, float]:
    """A proven lower bound on ``data``'s weighted MILP (a minimisation with capacity rows
    only) from its blocks ``item_block``: the crossing rows priced by :func:`crossing_prices`,
    each block's LP under those prices, summed with the prices' constant.

    Returns the bound (NaN where an LP was not proven), each option's value in its block's
    LP (a fractional point to round; None with a NaN bound) and the seconds taken.

    Raises
    ------
    ValueError
        Where gates take capacity (:func:`perllm_opt.milp.rolling.block_data`).
    """
    t0 = time.perf_counter()
    blocks, total, _ = block_data(data, item_block, *crossing_prices(data, item_block, cfg))
    x = np.zeros(data.n_options)
    opt_block = item_block[data.option_item]
    for k, block in enumerate(blocks):
        value, x_block, _ = lp_solution(block, cfg)
        if x_block is None:
            return math.nan, None, time.perf_counter() - t0
        total += value
        x[opt_block == k] = x_block
    return total, x, time.perf_counter() - t0
