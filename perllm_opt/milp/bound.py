"""A Lagrangian lower bound of an assignment MILP by blocks of options (e.g. by server).

In continuous mode only the items' assignment rows tie the servers together; dualizing them
with prices ``y`` (Geoffrion 1974) leaves one MILP per block, and every ``L(y)`` is a lower
bound on the optimum, at least the LP bound once the prices start at the LP's duals. The
prices improve by subgradient steps; each block contributes HiGHS's proven bound on it, so
the result stays valid when a block stops at its budget. The derivation, a call on a
window's first stage and its cost: docs/design_notes.md; the proof: docs/model.md, "A
Lagrangian bound by server".

"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import highspy
import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.highs_direct import highs_model, solve_assignment_direct


@dataclass(frozen=True, eq=False)
class LagrangianBound:
    """Outcome of :func:`lagrangian_bound`.

    Attributes
    ----------
    bound : float
        A proven lower bound on the MILP's optimum (weighted objective, constant included):
        the best ``L(y)`` met, never below ``lp_bound`` (the LP itself is a bound too);
        with ``integral``, rounded up and lifted by cutoff proofs.
    cutoff_rounds : int
        Integers gained by cutoff proofs above the rounded Lagrangian bound.
    lp_bound : float
        The LP relaxation's optimum.
    first_bound : float
        ``L`` at the LP's duals (iteration 0).
    iterations : int
        Evaluations of ``L`` (one MILP per block each).
    n_blocks : int
        Blocks after merging those that share a row.
    seconds : float
        Wall time.
    history : tuple of float
        ``L`` at each iteration.
    """

    bound: float
    cutoff_rounds: int
    lp_bound: float
    first_bound: float
    iterations: int
    n_blocks: int
    seconds: float
    history: tuple[float, ...]


def merged_blocks(data: AssignmentData, option_block: np.ndarray) -> np.ndarray:
    """``option_block`` with blocks that share a capacity row or a gate merged (union-find),
    renumbered 0..n-1: afterwards every row and gate lies inside one block."""
    option_block = np.asarray(option_block, dtype=np.int64)
    if option_block.shape != (data.n_options,):
        raise ValueError(
            f"option_block: expected shape ({data.n_options},), got {option_block.shape}"
        )
    _, blk = np.unique(option_block, return_inverse=True)
    blk = blk.ravel()
    parent = np.arange(int(blk.max()) + 1 if len(blk) else 0)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for owner, member in (
        (data.usage_resource, data.usage_option),
        (data.option_gate_gate, data.option_gate_option),
    ):
        first: dict[int, int] = {}
        for r, o in zip(owner.tolist(), member.tolist(), strict=True):
            b = find(int(blk[o]))
            a = first.setdefault(r, b)
            ra = find(a)
            if ra != b:
                parent[b] = ra
    roots = np.array([find(int(b)) for b in blk], dtype=np.int64)
    _, out = np.unique(roots, return_inverse=True)
    return out.ravel()


def _lp_item_duals(data: AssignmentData, cfg: SolverConfig) -> tuple[float, np.ndarray]:
    """The LP optimum and its assignment rows' duals ``y`` (HiGHS's row duals: reduced cost
    ``c - A^T y``)."""
    h = highs_model(data, cfg, relax=True)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        status = h.modelStatusToString(h.getModelStatus())
        raise RuntimeError(f"lagrangian_bound: the LP ended {status}")
    dual = np.asarray(h.getSolution().row_dual, dtype=float)[: data.n_items]
    return float(h.getInfo().objective_function_value), dual


class _Blocks:
    """Each block's sub-MILP with the prices ``y`` as a parameter."""

    def __init__(self, data: AssignmentData, block: np.ndarray) -> None:
        self.data = data
        n_blocks = int(block.max()) + 1
        item_blocks = np.zeros((data.n_items, n_blocks), dtype=bool)
        item_blocks[data.option_item, block] = True
        #: Items with options in several blocks: their rows are dualized.
        self.shared = item_blocks.sum(axis=1) > 1
        drop = np.zeros(data.n_items) if data.drop_cost is None else data.drop_cost
        self.drop = np.asarray(drop, dtype=float)
        self.parts = []
        row_block = np.full(data.n_resources, -1, dtype=np.int64)
        row_block[data.usage_resource] = block[data.usage_option]
        gate_block = np.full(data.n_gates, -1, dtype=np.int64)
        gate_block[data.option_gate_gate] = block[data.option_gate_option]
        for b in range(n_blocks):
            opts = np.flatnonzero(block == b)
            items, o_item = np.unique(data.option_item[opts], return_inverse=True)
            rows = np.flatnonzero(row_block == b)
            new_row = np.full(data.n_resources, -1, dtype=np.int64)
            new_row[rows] = np.arange(len(rows))
            new_opt = np.full(data.n_options, -1, dtype=np.int64)
            new_opt[opts] = np.arange(len(opts))
            u = block[data.usage_option] == b
            gates = np.flatnonzero(gate_block == b)
            new_gate = np.full(data.n_gates, -1, dtype=np.int64)
            new_gate[gates] = np.arange(len(gates))
            p = block[data.option_gate_option] == b
            gu = np.isin(data.gate_usage_gate, gates)
            own = ~self.shared[items]
            self.parts.append(
                (
                    opts,
                    items,
                    dict(
                        n_items=len(items),
                        option_item=o_item.ravel().astype(np.int64),
                        capacity=np.asarray(data.capacity, dtype=float)[rows],
                        usage_option=new_opt[data.usage_option[u]],
                        usage_resource=new_row[data.usage_resource[u]],
                        usage_amount=data.usage_amount[u],
                        # An item of this block only keeps its drop cost here; a shared
                        # item's drop is priced outside, so here it is free (at most one).
                        drop_cost=np.where(own, self.drop[items], 0.0),
                        gate_cost=np.asarray(data.gate_cost, dtype=float)[gates],
                        gate_usage_gate=new_gate[data.gate_usage_gate[gu]],
                        gate_usage_resource=new_row[data.gate_usage_resource[gu]],
                        gate_usage_amount=data.gate_usage_amount[gu],
                        option_gate_option=new_opt[data.option_gate_option[p]],
                        option_gate_gate=new_gate[data.option_gate_gate[p]],
                    ),
                )
            )

    def outside(self, y: np.ndarray) -> float:
        """The terms of ``L(y)`` outside the blocks (constant, prices, shared drops)."""
        y = np.where(self.shared, y, 0.0)
        return float(self.data.constant + y.sum() + np.minimum(0.0, self.drop - y).sum())

    def sub(self, b: int, y: np.ndarray) -> AssignmentData:
        """Block ``b``'s sub-MILP at prices ``y``."""
        opts, _, kw = self.parts[b]
        y = np.where(self.shared, y, 0.0)
        return AssignmentData(
            option_cost=self.data.option_cost[opts] - y[self.data.option_item[opts]], **kw
        )

    def value(self, y: np.ndarray, cfg: SolverConfig) -> tuple[float, np.ndarray, list, list]:
        """``L(y)`` (with each block's proven bound), a subgradient (shared items), and
        each block's proven bound and best plan value (inf without one)."""
        total = self.outside(y)
        taken = np.zeros(self.data.n_items)
        lows, plans = [], []
        for b, (opts, _, _) in enumerate(self.parts):
            sub = self.sub(b, y)
            res = solve_assignment_direct(sub, cfg, max_checks=cfg.checks)
            low = res.bound
            if not math.isfinite(low):
                # No proven bound (stopped before the root LP): the LP of the block bounds it.
                low = solve_assignment_direct(sub, cfg, relax=True).objective
            total += low
            lows.append(low)
            plans.append(res.objective if res.x is not None else math.inf)
            if res.x is not None:
                np.add.at(taken, self.data.option_item[opts], res.x)
        # Drop that the outer minimum chooses for shared items: 1 where d_i < y_i.
        drop_out = (self.drop < np.where(self.shared, y, 0.0)).astype(float)
        grad = np.where(self.shared, 1.0 - taken - drop_out, 0.0)
        return total, grad, lows, plans


def at_least(data: AssignmentData, value: float, cfg: SolverConfig) -> bool:
    """Whether HiGHS proves, within ``cfg``'s time limit, that every solution of ``data``
    (a minimisation) costs at least ``value``.

    HiGHS's ``objective_bound`` acts as an incumbent of that value: every node whose bound
    reaches it is pruned, so the search is smaller than one for the optimum. A search that
    ends without time out and without a solution below ``value`` has shown there is none.
    The caller keeps a margin above what it needs (HiGHS's tolerances are about 1e-6).
    """
    h = highs_model(data, cfg, relax=False)
    h.setOptionValue("objective_bound", float(value))
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return True
    if status != highspy.HighsModelStatus.kOptimal:
        return False
    info = h.getInfo()
    found = info.primal_solution_status == 2  # kSolutionStatusFeasible
    return not found or float(info.objective_function_value) >= value


def lagrangian_bound(
    data: AssignmentData,
    option_block: np.ndarray,
    cfg: SolverConfig | None = None,
    iterations: int = 30,
    target: float | None = None,
    time_limit_s: float = 120.0,
    integral: bool = False,
    cutoff_s: float = 60.0,
) -> LagrangianBound:
    """A lower bound on ``data``'s MILP (weighted objective, a minimisation) from the
    Lagrangian dual of its assignment rows over blocks of options.

    Parameters
    ----------
    data : AssignmentData
        A minimisation. For the lexicographic first stage pass the drops-only data (option
        and gate costs 0, drop costs 1).
    option_block : ndarray of int, shape (n_options,)
        A block per option (the option's server); blocks sharing a row or gate are merged.
    cfg : SolverConfig, optional
        The blocks' sub-MILPs: threads, gap, ``time_limit_s`` and ``checks`` per sub-MILP
        (default: one thread, 30 s, gap 1e-9). Any budget keeps the bound valid (each block
        contributes HiGHS's proven bound on it), a smaller one only makes it weaker.
    iterations : int
        Evaluations of ``L`` (each: one sub-MILP per block), the first at the LP's duals.
    target : float, optional
        An objective value to step toward (Polyak): e.g. the best plan's. Default: the
        LP bound plus 5% of its absolute value plus 1.
    time_limit_s : float
        Stop starting new iterations after this many seconds.
    integral : bool
        Every solution's objective is an integer (the drops-only first stage): the bound is
        rounded up, and then lifted by cutoff proofs (:func:`at_least`) on the block with
        the widest gap between its plan and its bound, at the best prices: to show the
        optimum is at least ``k + 1`` it suffices that ``L(y) > k``, that is that this
        block's minimum exceeds ``k`` less the other terms of ``L(y)``.
    cutoff_s : float
        Seconds for the cutoff proofs, in all.

    Returns
    -------
    LagrangianBound
    """
    t0 = time.perf_counter()
    if data.sense != "min":
        raise ValueError("lagrangian_bound: a minimisation is expected")
    if iterations < 1:
        raise ValueError(f"lagrangian_bound: iterations must be >= 1, got {iterations}")
    if integral:
        _check_integral(data)
    cfg = cfg or SolverConfig(time_limit_s=30.0, mip_rel_gap=1e-9, threads=1)
    if data.n_options == 0:
        drops = 0.0 if data.drop_cost is None else float(np.sum(data.drop_cost))
        value = float(data.constant) + drops + float(np.minimum(data.gate_cost, 0.0).sum())
        return LagrangianBound(value, 0, value, value, 0, 0, time.perf_counter() - t0, ())
    block = merged_blocks(data, option_block)
    lp_value, y = _lp_item_duals(data, cfg)
    blocks = _Blocks(data, block)
    goal = lp_value + 0.05 * abs(lp_value) + 1.0 if target is None else float(target)
    best, best_y, best_lows, best_plans, history = _subgradient(
        blocks, y, goal, cfg, iterations, t0 + time_limit_s
    )
    proven = max(best, lp_value)
    rounds = 0
    if integral and best_lows:
        proven, rounds = _round_up(blocks, best_y, best_lows, best_plans, proven, cfg, cutoff_s)
    return LagrangianBound(
        bound=proven,
        cutoff_rounds=rounds,
        lp_bound=lp_value,
        first_bound=history[0],
        iterations=len(history),
        n_blocks=int(block.max()) + 1 if len(block) else 0,
        seconds=time.perf_counter() - t0,
        history=tuple(history),
    )


def _check_integral(data: AssignmentData) -> None:
    """Refuse ``integral=True`` on data with a cost that is not an integer."""
    parts = [data.option_cost, data.gate_cost, [data.constant]]
    parts += [] if data.drop_cost is None else [data.drop_cost]
    values = np.concatenate([np.asarray(p, dtype=float) for p in parts])
    if np.any(values != np.round(values)):
        raise ValueError(
            "lagrangian_bound: integral=True needs integer costs (option, gate, drop "
            "and constant), e.g. the drops-only first stage"
        )


def _subgradient(
    blocks: _Blocks,
    y: np.ndarray,
    goal: float,
    cfg: SolverConfig,
    iterations: int,
    deadline: float,
) -> tuple[float, np.ndarray, list, list, list[float]]:
    """Subgradient steps on the prices ``y`` toward ``goal`` (Polyak; the step halves
    after three evaluations without progress, from the best prices) until ``iterations``
    evaluations, a vanishing gradient, the goal, or ``deadline`` (``perf_counter``). The
    best value, its prices, blocks' bounds and plans, and every value."""
    best, best_y = -math.inf, y
    history = []
    step_scale = 2.0
    stall = 0
    best_lows: list = []
    best_plans: list = []
    for _ in range(iterations):
        val, grad, lows, plans = blocks.value(y, cfg)
        history.append(val)
        if val > best + 1e-9:
            best, best_y, stall = val, y, 0
            best_lows, best_plans = lows, plans
        else:
            stall += 1
            if stall >= 3:
                step_scale *= 0.5
                stall = 0
                y = best_y
        norm = float(grad @ grad)
        if norm < 1e-12 or best >= goal - 1e-9 or time.perf_counter() > deadline:
            break
        y = y + step_scale * (goal - val) / norm * grad
    return best, best_y, best_lows, best_plans, history


#: Margin kept above what a cutoff proof needs (HiGHS's tolerances are about 1e-6).
CUTOFF_MARGIN = 1e-4


def _round_up(
    blocks: _Blocks,
    y: np.ndarray,
    lows: list,
    plans: list,
    bound: float,
    cfg: SolverConfig,
    cutoff_s: float,
) -> tuple[float, int]:
    """An integer objective's bound ``ceil(bound)`` lifted one integer at a time: with
    ``L(y) = outside + sum_b v_b``, the optimum is at least ``k + 1`` once the block ``h``
    with the widest plan-bound gap is proven to cost more than ``k - outside - sum_{b != h}
    v_b`` (a margin above it). Stops at the first proof that fails or would need more than
    the block's own plan, or when ``cutoff_s`` seconds have passed."""
    proven = math.ceil(bound - 1e-6)
    lows = list(lows)
    gaps = [p - v for p, v in zip(plans, lows, strict=True)]
    h = int(np.argmax(gaps))
    rounds = 0
    start = time.perf_counter()
    while True:
        others = blocks.outside(y) + sum(v for b, v in enumerate(lows) if b != h)
        need = proven - others
        value = need + CUTOFF_MARGIN * max(1.0, abs(need))
        left = cutoff_s - (time.perf_counter() - start)
        if value > plans[h] or left <= 0:
            return float(proven), rounds
        sub_cfg = SolverConfig(time_limit_s=left, mip_rel_gap=cfg.mip_rel_gap, threads=cfg.threads)
        if not at_least(blocks.sub(h, y), value, sub_cfg):
            return float(proven), rounds
        lows[h] = value
        proven += 1
        rounds += 1
