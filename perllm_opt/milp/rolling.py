"""Time decomposition of a continuous-mode window: a rolling plan and a certified bound.

With ``solver.window_s`` a window longer than that is split into blocks of ``window_s``
seconds of dispatch times (docs/model.md, "Time decomposition"). The plan: a rolling pass
(relax-and-fix: each block solved with the next ``solver.lookahead_blocks`` as an LP and
the earlier blocks' choices fixed), then ``solver.improve_passes`` of fix-and-optimize,
never worse. The bound: the rows that span blocks priced at the LP's duals (Lagrangian
relaxation), which leaves one MILP per block and a bound at least the window's LP bound.
The plan is sequential, the bound's blocks independent. In full: docs/design_notes.md.

"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
from tqdm.auto import tqdm

from perllm_opt.config import SolverConfig
from perllm_opt.instance.realised import Instance
from perllm_opt.instance.windows import option_spans
from perllm_opt.milp.continuous import window_problem
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.highs_direct import lp_duals, solve_assignment_direct
from perllm_opt.milp.parallel import Task, solve_each, solve_task
from perllm_opt.milp.perllm import RoundProblem, on_time_options, reduce_problem
from perllm_opt.milp.reduce import without_options
from perllm_opt.milp.solve import start_outcome


@dataclass(frozen=True, eq=False)
class DecomposedResult:
    """A window solved by blocks.

    Attributes
    ----------
    option : ndarray of int
        Global option per request of the instance (-1 for the requests not in the window's
        plan, dropped or elsewhere).
    x : ndarray
        The plan as 0/1 per option of the window's (reduced) problem.
    drops : float
    energy : float
        The plan's drops and weighted energy (the problem's constant included): its
        objective is ``M drops + energy``.
    bound : float
        Proven lower bound on ``M drops + energy`` over the window: the larger of the
        Lagrangian bound and the LP bound.
    lagrangian_bound, lp_bound : float
        Both bounds (NaN where one failed: a block or the LP without a proven bound).
    n_blocks, n_crossing_rows : int
    build_s, solve_s, solver_s : float
        Summed over the plan's blocks, the bound's blocks and the LP.
    plan_proven : int
        Plan solves proven optimal.
    pass_drops : tuple of int
        The plan's drops among the window's requests after the rolling pass and after each
        improvement pass.
    """

    option: np.ndarray
    x: np.ndarray
    drops: float
    energy: float
    bound: float
    lagrangian_bound: float
    lp_bound: float
    n_blocks: int
    n_crossing_rows: int
    build_s: float
    solve_s: float
    solver_s: float
    plan_proven: int
    pass_drops: tuple[int, ...] = ()


def by_blocks(instance: Instance, requests: np.ndarray, cfg: SolverConfig) -> bool:
    """Whether the window of ``requests`` is solved by blocks: ``cfg.window_s`` is set and
    its requests' dispatch times span more than one block."""
    if cfg.window_s is None or len(requests) == 0:
        return False
    d = instance.request_dispatch_s[np.asarray(requests, dtype=np.int64)]
    return bool(d.max() - d.min() >= cfg.window_s)


def block_index(instance: Instance, requests: np.ndarray, block_s: float) -> np.ndarray:
    """The block of each of ``requests`` (in their order) when they are split by dispatch
    time into blocks of ``block_s`` seconds from the first dispatch: numbered 0, 1, ... in
    time order, empty blocks left out."""
    d = instance.request_dispatch_s[np.asarray(requests, dtype=np.int64)]
    if len(d) == 0:
        return np.empty(0, dtype=np.int64)
    k = np.floor((d - d.min()) / block_s).astype(np.int64)
    return np.unique(k, return_inverse=True)[1].ravel()


def time_blocks(instance: Instance, requests: np.ndarray, block_s: float) -> list[np.ndarray]:
    """``requests`` split by dispatch time into blocks of ``block_s`` seconds (from the
    first dispatch), in time order; empty blocks are left out (:func:`block_index`)."""
    requests = np.asarray(requests, dtype=np.int64)
    if len(requests) == 0:
        return []
    k = block_index(instance, requests, block_s)
    order = np.argsort(k, kind="stable")
    cuts = np.flatnonzero(np.diff(k[order])) + 1
    return np.split(requests[order], cuts)


def fix_items(
    data: AssignmentData, fixed: np.ndarray
) -> tuple[AssignmentData, np.ndarray, np.ndarray]:
    """``data`` with the options ``fixed`` (local indices, at most one per item) chosen and
    their items removed: their use comes off the capacities, the gates they open cost
    nothing more (what they cost moves into the constant, with the options' own costs).

    Returns the reduced data, the kept options' and the kept items' old indices.
    """
    fixed = np.asarray(fixed, dtype=np.int64)
    x = np.zeros(data.n_options)
    x[fixed] = 1.0
    items = data.option_item[fixed]
    if len(np.unique(items)) != len(items):
        raise ValueError("fix_items: two fixed options of one item")
    x, _, gate = data.columns_for(x)
    opened = gate > 0.5
    load = np.bincount(
        data.usage_resource, weights=data.usage_amount * x[data.usage_option],
        minlength=data.n_resources,
    )  # fmt: skip
    g_use = opened[data.gate_usage_gate]
    load += np.bincount(
        data.gate_usage_resource[g_use], weights=data.gate_usage_amount[g_use],
        minlength=data.n_resources,
    )  # fmt: skip
    constant = float(data.constant + data.option_cost @ x + data.gate_cost @ opened)
    is_fixed_item = np.zeros(data.n_items, dtype=bool)
    is_fixed_item[items] = True
    reduced, keep = without_options(data, is_fixed_item[data.option_item])
    keep_item = np.flatnonzero(~is_fixed_item)
    new_item = np.full(data.n_items, -1, dtype=np.int64)
    new_item[keep_item] = np.arange(len(keep_item))
    out = replace(
        reduced,
        n_items=len(keep_item),
        option_item=new_item[reduced.option_item],
        # The fixed choice fits, so what is left is >= 0 up to rounding.
        capacity=np.maximum(np.asarray(data.capacity, dtype=float) - load, 0.0),
        drop_cost=None if data.drop_cost is None else data.drop_cost[keep_item],
        gate_cost=np.where(opened, 0.0, data.gate_cost),
        gate_usage_gate=data.gate_usage_gate[~g_use],
        gate_usage_resource=data.gate_usage_resource[~g_use],
        gate_usage_amount=data.gate_usage_amount[~g_use],
        constant=constant,
    )
    return out, keep, keep_item


def span_end(instance: Instance, opts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return option_spans(
        instance.options, instance.request_dispatch_s, instance.topology.server_can_sleep,
        instance.sleep_block_s, opts,
    )  # fmt: skip


@dataclass
class _Clock:
    """Seconds summed over solves (mutable, local to one window)."""

    build_s: float = 0.0
    solve_s: float = 0.0
    solver_s: float = 0.0

    def add(self, res) -> None:
        self.build_s += res.build_s
        self.solve_s += res.solve_s
        self.solver_s += 0.0 if math.isnan(res.solver_s) else res.solver_s


def free_problem(
    instance: Instance,
    free: np.ndarray,
    chosen: np.ndarray,
    span: tuple[np.ndarray, np.ndarray],
) -> RoundProblem | None:
    """The MILP of the requests ``free`` with every other request's choice in ``chosen``
    (global option per request, -1 for none) that overlaps them in time fixed
    (:func:`fix_items`); None if ``free`` has no on-time option."""
    opts = on_time_options(instance, free)
    if len(opts) == 0:
        return None
    first, last = span_end(instance, opts)
    lo, hi = span
    is_free = np.zeros(instance.n_requests, dtype=bool)
    is_free[free] = True
    others = np.flatnonzero((chosen >= 0) & ~is_free)
    carried = others[(hi[others] > first.min()) & (lo[others] < last.max())]
    prob = window_problem(
        instance, np.concatenate([free, carried]), reduce=False,
        options=np.concatenate([opts, chosen[carried]]),
    )  # fmt: skip
    data, keep, keep_item = fix_items(prob.data, len(opts) + np.arange(len(carried)))
    return RoundProblem(data=data, option=prob.option[keep], request=prob.request[keep_item])


def rolling_plan(
    instance: Instance,
    blocks: list[np.ndarray],
    cfg: SolverConfig,
    start: np.ndarray | None,
    clock: _Clock,
    progress: bool = False,
) -> tuple[np.ndarray, int, list[int]]:
    """The rolling plan, then ``cfg.improve_passes`` passes of fix-and-optimize.

    Rolling: block ``k`` and the next ``cfg.lookahead_blocks`` are solved (lexicographic,
    within ``cfg``'s limits) with the earlier blocks' choices that still hold a resource
    fixed; block ``k``'s choices are kept. ``start`` (global option per request) is each
    solve's floor, as in :func:`perllm_opt.milp.solve.solve_assignment`. Fix-and-optimize
    (Helber and Sahling 2010): each window of ``1 + lookahead_blocks`` blocks is solved
    again with every other request's choice fixed, from the current plan as its floor, so a
    pass never makes the plan worse.

    Returns the global option per request (-1 for none), the solves proven optimal and the
    drops after the rolling pass and after each improvement pass.
    """
    n = instance.n_requests
    chosen = np.full(n, -1, dtype=np.int64)
    lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
    proven = 0
    width = 1 + cfg.lookahead_blocks
    drops = []
    bar = tqdm(
        total=len(blocks) * (1 + cfg.improve_passes), desc="optimum by blocks", unit="block",
        disable=not progress, leave=False,
    )  # fmt: skip
    for sweep in range(1 + cfg.improve_passes):
        for k, blk in enumerate(blocks):
            bar.update()
            if sweep > 0 and k + width > len(blocks) and k > 0:
                continue  # the last full window already covered these blocks
            free = np.concatenate(blocks[k : k + width])
            t0 = time.perf_counter()
            sub = free_problem(instance, free, chosen, (lo, hi))
            if sub is None:
                continue
            if cfg.reduce:
                sub = reduce_problem(sub)
            clock.build_s += time.perf_counter() - t0
            floor = start if sweep == 0 else chosen
            x0 = None if floor is None else sub.start_x(floor)
            if sweep == 0 and cfg.lookahead_relaxed:
                # Relax-and-fix: the look-ahead blocks as an LP, weighted objective (the
                # penalty makes it lexicographic); only this block's choice is kept.
                ahead = ~np.isin(sub.request, blk)
                res = solve_assignment_direct(sub.data, cfg, relaxed_items=ahead)
            else:
                res = solve_task(Task(sub.data, x0), cfg, lexicographic=True)
            clock.add(res)
            proven += res.status == "optimal"
            pick = sub.options_of(res.x if res.has_solution else None, n)
            keep = blk if sweep == 0 else free
            chosen[keep] = pick[keep]
            lo[keep], hi[keep] = np.inf, -np.inf
            new = keep[chosen[keep] >= 0]
            lo[new], hi[new] = span_end(instance, chosen[new])
        has = np.concatenate(blocks) if blocks else np.empty(0, dtype=np.int64)
        drops.append(int((chosen[has] < 0).sum()))
        bar.set_postfix(drops=drops[-1])
    bar.close()
    return chosen, proven, drops


def block_data(
    data: AssignmentData, item_block: np.ndarray, price: np.ndarray, link_price: np.ndarray
) -> tuple[list[AssignmentData], float, int]:
    """The Lagrangian blocks of ``data``: per block, its items' options with the prices of
    the rows that cross blocks added to their costs, the rows inside the block, and its
    share of each gate it touches (as the LP's link prices split the gate, equally where
    they are all zero). Returns the blocks' data (constant 0, in block order), the
    constant ``data.constant - sum lambda_r b_r`` and the number of crossing rows."""
    if len(data.gate_usage_gate):
        raise ValueError("block_data: gates that take capacity are not supported")
    n_opt, n_res = data.n_options, data.n_resources
    opt_block = item_block[data.option_item]
    u_block = opt_block[data.usage_option]
    lo = np.full(n_res, np.iinfo(np.int64).max)
    hi = np.full(n_res, -1)
    np.minimum.at(lo, data.usage_resource, u_block)
    np.maximum.at(hi, data.usage_resource, u_block)
    crossing = (hi >= 0) & (lo != hi)
    lam = np.where(crossing, price, 0.0)
    cost = data.option_cost + np.bincount(
        data.usage_option, weights=lam[data.usage_resource] * data.usage_amount, minlength=n_opt
    )
    constant = float(data.constant - lam @ np.asarray(data.capacity, dtype=float))
    # Gate shares: per (gate, block), the link prices of the block's links to the gate.
    n_blocks = int(item_block.max()) + 1 if len(item_block) else 0
    p_block = opt_block[data.option_gate_option]
    key = data.option_gate_gate * n_blocks + p_block
    weight = np.bincount(key, weights=link_price, minlength=data.n_gates * n_blocks)
    touch = np.bincount(key, minlength=data.n_gates * n_blocks) > 0
    weight = weight.reshape(data.n_gates, n_blocks)
    touch = touch.reshape(data.n_gates, n_blocks)
    total = weight.sum(axis=1, keepdims=True)
    share = np.where(
        total > 0,
        weight / np.where(total > 0, total, 1.0),
        touch / np.maximum(touch.sum(axis=1, keepdims=True), 1),
    )
    out = []
    inside = ~crossing
    for k in range(n_blocks):
        o_mask = opt_block == k
        items = np.flatnonzero(item_block == k)
        new_item = np.full(data.n_items, -1, dtype=np.int64)
        new_item[items] = np.arange(len(items))
        new_opt = np.full(n_opt, -1, dtype=np.int64)
        new_opt[o_mask] = np.arange(int(o_mask.sum()))
        rows = np.flatnonzero(inside & (lo == k))
        new_row = np.full(n_res, -1, dtype=np.int64)
        new_row[rows] = np.arange(len(rows))
        u = o_mask[data.usage_option] & inside[data.usage_resource]
        p = o_mask[data.option_gate_option]
        gates, g_inv = np.unique(data.option_gate_gate[p], return_inverse=True)
        out.append(
            AssignmentData(
                n_items=len(items),
                option_item=new_item[data.option_item[o_mask]],
                option_cost=cost[o_mask],
                capacity=np.asarray(data.capacity, dtype=float)[rows],
                usage_option=new_opt[data.usage_option[u]],
                usage_resource=new_row[data.usage_resource[u]],
                usage_amount=data.usage_amount[u],
                drop_cost=None if data.drop_cost is None else data.drop_cost[items],
                gate_cost=data.gate_cost[gates] * share[gates, k],
                option_gate_option=new_opt[data.option_gate_option[p]],
                option_gate_gate=g_inv.astype(np.int64).ravel(),
            )
        )
    return out, constant, int(crossing.sum())


def lagrangian_bound(
    data: AssignmentData, item_block: np.ndarray, cfg: SolverConfig, clock: _Clock
) -> tuple[float, float, int]:
    """The Lagrangian bound of ``data``'s weighted MILP over the blocks ``item_block`` (one
    per item) with the LP's prices, and the LP bound itself (NaN where it failed), and the
    number of crossing rows."""
    t0 = time.perf_counter()
    try:
        lp_value, price, link_price = lp_duals(data, cfg)
    except RuntimeError:
        lp_value = math.nan
        price, link_price = np.zeros(data.n_resources), np.zeros(len(data.option_gate_option))
    lp_s = time.perf_counter() - t0
    clock.solve_s += lp_s
    clock.solver_s += lp_s
    t1 = time.perf_counter()
    blocks, constant, n_cross = block_data(data, item_block, price, link_price)
    clock.build_s += time.perf_counter() - t1
    total = constant
    for res in solve_each((Task(b) for b in blocks), cfg, lexicographic=False):
        clock.add(res)
        total += res.bound
    return (total if total == total else math.nan), lp_value, n_cross


def solve_by_blocks(
    instance: Instance,
    full: RoundProblem,
    cfg: SolverConfig,
    start: np.ndarray | None = None,
    progress: bool = False,
) -> DecomposedResult:
    """Solve the window ``full`` (its reduced problem, :func:`window_problem`) by blocks of
    ``cfg.window_s`` seconds: the rolling plan and the larger of the Lagrangian and the LP
    bounds (weighted: ``M drops + energy``). With ``start``, the plan is no worse than it."""
    if cfg.window_s is None:
        raise ValueError("solve_by_blocks: solver.window_s is not set")
    clock = _Clock()
    requests = np.concatenate([full.request, full.fixed_request])
    blocks = time_blocks(instance, requests, cfg.window_s)
    chosen, proven, pass_drops = rolling_plan(instance, blocks, cfg, start, clock, progress)
    data = full.data
    plan = start_outcome(data, full.start_x(chosen), lexicographic=True)
    if plan is None:
        raise AssertionError("the rolling plan breaks a row of the window (a bug)")
    if start is not None:
        floor = start_outcome(data, full.start_x(start), lexicographic=True)
        if floor is not None and (floor[0], floor[1]) < (plan[0], plan[1]):
            plan = floor
    drops, energy, x, _, _ = plan
    # Blocks numbered 0.. among the MILP's items only (the first of ``requests``).
    items = block_index(instance, requests, cfg.window_s)[: len(full.request)]
    _, item_block = np.unique(items, return_inverse=True)
    lag, lp, n_cross = lagrangian_bound(data, item_block.ravel(), cfg, clock)
    bound = max(b for b in (lag, lp, -math.inf) if b == b)
    option = full.options_of(x, instance.n_requests)
    return DecomposedResult(
        option=option, x=x, drops=drops, energy=energy, bound=bound,
        lagrangian_bound=lag, lp_bound=lp, n_blocks=len(blocks), n_crossing_rows=n_cross,
        build_s=clock.build_s, solve_s=clock.solve_s, solver_s=clock.solver_s,
        plan_proven=proven, pass_drops=tuple(pass_drops),
    )  # fmt: skip
