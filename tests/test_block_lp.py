"""The LP bound by time blocks (milp/block_lp.py): a proven lower bound whatever the prices,
the whole LP's value where one pair covers the window, and close to it on a real window."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_optimum_scale import random_data
from test_window_search import EXACT, SEARCH, _brute_force, continuous_instance

from perllm_opt.milp.block_lp import block_lp_bound, crossing_prices, items_data
from perllm_opt.milp.continuous import window_problem, window_requests
from perllm_opt.milp.continuous_optimum import _window_lp
from perllm_opt.milp.highs_direct import lp_solution
from perllm_opt.milp.optimum import solve_optimum
from perllm_opt.milp.rolling import block_index, time_blocks


def _without_gate_usage(data):
    return replace(
        data,
        gate_usage_gate=data.gate_usage_gate[:0],
        gate_usage_resource=data.gate_usage_resource[:0],
        gate_usage_amount=data.gate_usage_amount[:0],
    )


@pytest.mark.parametrize("n_blocks", [2, 3])
def test_the_bound_lies_below_the_lp_and_the_brute_force_optimum(n_blocks):
    """150 random problems with gates, items in random blocks: the bound is at most the
    whole LP (any prices give a Lagrangian of the LP) and so at most the brute-force
    optimum; with two blocks the one pair LP is the whole LP, whose duals close the
    Lagrangian to the LP's value."""
    rng = np.random.default_rng(31 + n_blocks)
    closed = 0
    for _ in range(150):
        data = _without_gate_usage(random_data(rng, with_gates=True))
        item_block = np.sort(rng.integers(0, n_blocks, size=data.n_items))
        item_block = np.unique(item_block, return_inverse=True)[1].ravel()
        bound, x, _ = block_lp_bound(data, item_block, EXACT)
        lp, _, _ = lp_solution(data, EXACT)
        drops, cost = _brute_force(data)
        best = 10.0 * drops + cost  # random_data's drop cost is 10
        tol = 1e-7 * max(abs(lp), 1.0)
        assert bound <= lp + tol <= best + 2 * tol
        assert x is not None and x.shape == (data.n_options,)
        taken = np.bincount(data.option_item, weights=x, minlength=data.n_items)
        assert np.all(x >= -1e-9) and np.all(taken <= 1 + 1e-7)
        if item_block.max() == 1:
            assert bound == pytest.approx(lp, rel=1e-6, abs=1e-6)
            closed += 1
    assert closed > 0 or n_blocks == 3


def test_items_data_keeps_the_items_rows_and_gates_they_use():
    rng = np.random.default_rng(5)
    data = _without_gate_usage(random_data(rng, with_gates=True))
    items = np.zeros(data.n_items, dtype=bool)
    items[[0, 2]] = True
    sub, rows, links = items_data(data, items)
    kept = np.flatnonzero(items[data.option_item])
    assert sub.n_items == 2 and sub.n_options == len(kept)
    np.testing.assert_array_equal(sub.option_cost, data.option_cost[kept])
    np.testing.assert_array_equal(
        np.unique(data.usage_resource[np.isin(data.usage_option, kept)]), rows
    )
    np.testing.assert_array_equal(sub.capacity, data.capacity[rows])
    np.testing.assert_array_equal(data.option_gate_option[links], kept[sub.option_gate_option])


def _window_in_blocks():
    """The 240-s continuous window (467 requests after the reductions) and its 30-s blocks:
    the instance, the problem, the blocks' requests, and the block of each item."""
    inst = continuous_instance(0, rate=2.0, horizon_s=240.0)
    (requests,) = [r for r in window_requests(inst) if len(r) > 400]
    prob = window_problem(inst, requests)
    return inst, prob, time_blocks(inst, prob.request, 30.0), block_index(inst, prob.request, 30.0)


def test_on_a_real_window_the_bound_is_the_whole_lp_to_within_a_hundredth_of_a_drop():
    """A 240-s continuous window (467 requests after the reductions) cut into 30-s blocks,
    whose rows cross at most two boundaries, so each price comes from an LP of three blocks
    of the eight: the bound is the whole LP's value to 0.01 drop, where the same blocks
    without prices lose 13% of it."""
    from perllm_opt.milp.rolling import block_data

    inst, prob, blocks, item_block = _window_in_blocks()
    data = prob.data
    use = item_block[data.option_item][data.usage_option]
    first = np.full(data.n_resources, len(blocks))
    last = np.full(data.n_resources, -1)
    np.minimum.at(first, data.usage_resource, use)
    np.maximum.at(last, data.usage_resource, use)
    assert len(blocks) == 8 and int((last - first).max()) + 1 < len(blocks)
    lp, _, _ = lp_solution(data, EXACT)
    bound, _, _ = block_lp_bound(data, item_block, EXACT)
    drop = inst.drop_penalty_j
    assert lp - 0.01 * drop <= bound <= lp + 1e-7 * lp
    price, _ = crossing_prices(data, item_block, EXACT)
    assert (price > 0).any()
    parts, unpriced, _ = block_data(data, item_block, np.zeros(data.n_resources),
                                    np.zeros(len(data.option_gate_option)))  # fmt: skip
    unpriced += sum(lp_solution(part, EXACT)[0] for part in parts)
    assert unpriced < 0.95 * bound


def test_the_optimum_certifies_its_plan_with_the_bound_by_blocks():
    """lp_max_options=0 sends the window's LP to blocks: the plan is the evaluator's, the
    bound below the exact optimum and within a drop of the whole LP's bound."""
    from perllm_opt.evaluation.metrics import evaluate

    inst = continuous_instance(1, rate=2.0)
    exact = solve_optimum(inst, EXACT)
    assert exact.status == "optimal"
    cfg = replace(SEARCH, search_gap=0.0, whole_max_options=0, checks=20, lp_block_s=15.0)
    by_blocks = solve_optimum(inst, replace(cfg, lp_max_options=0))
    whole = solve_optimum(inst, replace(cfg, lp_max_options=None))
    m = evaluate(inst, by_blocks.assignment).metrics
    assert m.objective == pytest.approx(by_blocks.objective, rel=1e-9)
    tol = 1e-7 * abs(exact.objective)
    assert by_blocks.bound <= exact.objective + tol
    assert by_blocks.bound >= whole.bound - inst.drop_penalty_j
    (requests,) = window_requests(inst)
    prob = window_problem(inst, requests)
    value, x, _ = _window_lp(inst, prob, replace(cfg, lp_max_options=0))
    assert x is not None and value <= lp_solution(prob.data, EXACT)[0] * (1 + 1e-9)


def test_a_run_lp_not_proven_leaves_its_rows_unpriced_and_the_bound_valid(monkeypatch):
    """A pricing LP that fails (as at HiGHS's time limit) prices nothing: the bound falls to
    the unpriced blocks' value, still below the LP, instead of being lost."""
    import perllm_opt.milp.block_lp as block_lp

    _, prob, _, item_block = _window_in_blocks()

    def fails(*args, **kwargs):
        raise RuntimeError("lp_duals: HiGHS ended with Time limit reached")

    priced, _, _ = block_lp_bound(prob.data, item_block, EXACT)
    monkeypatch.setattr(block_lp, "lp_duals", fails)
    price, link_price = crossing_prices(prob.data, item_block, EXACT)
    assert not price.any() and not link_price.any()
    unpriced, x, _ = block_lp_bound(prob.data, item_block, EXACT)
    assert x is not None and unpriced < 0.95 * priced
    assert unpriced <= lp_solution(prob.data, EXACT)[0]
