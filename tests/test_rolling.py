"""Time decomposition of continuous mode (perllm_opt/milp/rolling.py): fixing items keeps
the optimum given them, the Lagrangian bound lies between the LP bound and the optimum, and
the rolling plan is feasible, evaluates to what it reports and brackets the exact optimum
with its bound."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from support import small_config
from test_optimum_scale import random_data

from perllm_opt.config import SolverConfig, SystemConfig, WorkloadConfig
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.instance.build import build_instance
from perllm_opt.milp.continuous import window_problem, window_requests
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.highs_direct import lp_duals
from perllm_opt.milp.optimum import on_time_start, solve_optimum
from perllm_opt.milp.result import OPTIMAL
from perllm_opt.milp.rolling import (
    _Clock,
    block_data,
    fix_items,
    lagrangian_bound,
    time_blocks,
)
from perllm_opt.milp.solve import solve_assignment

EXACT = SolverConfig(mip_rel_gap=0.0, time_limit_s=60)


def forced_optimum(data: AssignmentData, forced: dict[int, int]) -> tuple[float, float]:
    """Brute force: (least drops, least cost) over the choices that take option
    ``forced[i]`` for each item ``i`` in ``forced`` (gates opened as needed)."""
    by_item = []
    for i in range(data.n_items):
        opts = np.flatnonzero(data.option_item == i).tolist()
        by_item.append([forced[i]] if i in forced else [-1, *opts])
    best = (math.inf, math.inf)
    for combo in itertools.product(*by_item):
        x = np.zeros(data.n_options)
        x[[o for o in combo if o >= 0]] = 1.0
        x, drop, gate = data.columns_for(x)
        load = np.zeros(data.n_resources)
        np.add.at(load, data.usage_resource, data.usage_amount * x[data.usage_option])
        np.add.at(
            load, data.gate_usage_resource, data.gate_usage_amount * gate[data.gate_usage_gate]
        )
        if np.any(load > data.capacity + 1e-9):
            continue
        cost = float(data.option_cost @ x + data.gate_cost @ gate) + data.constant
        best = min(best, (float(drop.sum()), cost))
    return best


@pytest.mark.parametrize("with_gates", [False, True])
def test_fixing_items_keeps_the_optimum_given_them(with_gates):
    """40 random problems: fix one or two items to options that fit together; the fixed
    problem's optimum (its constant included) is the brute-force optimum of the choices
    that contain them."""
    rng = np.random.default_rng(40 + with_gates)
    checked = 0
    for _ in range(40):
        data = random_data(rng, with_gates)
        n_fix = int(rng.integers(1, 3))
        items = rng.choice(data.n_items, size=n_fix, replace=False)
        forced = {int(i): int(rng.choice(np.flatnonzero(data.option_item == i))) for i in items}
        want = forced_optimum(data, forced)
        if not math.isfinite(want[0]):
            continue  # the forced options do not fit together
        fixed, keep, keep_item = fix_items(data, np.asarray(list(forced.values())))
        assert fixed.n_items == data.n_items - n_fix
        np.testing.assert_array_equal(data.option_item[keep], keep_item[fixed.option_item])
        res = solve_assignment(fixed, EXACT, lexicographic=True)
        assert res.status == OPTIMAL
        assert res.drops == want[0]
        assert res.objective == pytest.approx(want[1], rel=1e-9, abs=1e-9)
        checked += 1
    assert checked >= 20


def continuous_instance(seed: int = 1, rate: float = 2.0):
    return build_instance(
        small_config(
            seed=seed, horizon_s=60.0, system=SystemConfig(mode="continuous"),
            workload=WorkloadConfig(rate_rps=rate),
        )
    )  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1])
def test_lagrangian_bound_lies_between_the_lp_bound_and_the_optimum(seed):
    """One window of 117-127 requests in blocks of 10 s: LP <= Lagrangian <= MILP optimum
    (weighted), with rows crossing blocks; prices of zero give a weaker, still valid bound."""
    inst = continuous_instance(seed)
    (requests,) = window_requests(inst)
    prob = window_problem(inst, requests)
    data = prob.data
    blocks = time_blocks(inst, requests, 10.0)
    assert len(blocks) == 6
    block_of = np.zeros(inst.n_requests, dtype=np.int64)
    for k, blk in enumerate(blocks):
        block_of[blk] = k
    item_block = np.unique(block_of[prob.request], return_inverse=True)[1].ravel()
    opt = solve_assignment(data, EXACT)
    assert opt.status == OPTIMAL
    lag, lp, n_cross = lagrangian_bound(data, item_block, EXACT, _Clock())
    assert n_cross > 0
    assert lp == pytest.approx(lp_duals(data, EXACT)[0], rel=1e-9)
    tol = 1e-7 * abs(opt.objective)
    assert lp - tol <= lag <= opt.objective + tol
    # Zero prices: the crossing rows are dropped, every gate split equally.
    parts, constant, _ = block_data(
        data, item_block, np.zeros(data.n_resources), np.zeros(len(data.option_gate_option))
    )
    zero = constant + sum(solve_assignment(p, EXACT).objective for p in parts)
    assert zero <= opt.objective + tol
    assert zero <= lag + tol


@pytest.mark.parametrize("window_s", [10.0, 20.0])
def test_rolling_plan_is_feasible_and_brackets_the_optimum(window_s):
    """By blocks: the plan is feasible (the evaluator re-derives its objective), no better
    than the exact optimum, and its bound no higher; a window within one block is solved
    whole (the exact result)."""
    inst = continuous_instance(1)
    exact = solve_optimum(inst, EXACT)
    assert exact.status == OPTIMAL
    cfg = replace(EXACT, window_s=window_s, time_limit_s=20.0)
    dec = solve_optimum(inst, cfg)
    tol = 1e-7 * abs(exact.objective)
    assert dec.bound <= exact.objective + tol <= dec.objective + 2 * tol
    m = evaluate(inst, dec.assignment).metrics
    assert m.objective == pytest.approx(dec.objective, rel=1e-9)
    served = evaluate(inst, exact.assignment).metrics.served
    assert m.served <= served <= dec.served_bound
    whole = solve_optimum(inst, replace(cfg, window_s=1e6))
    assert whole.objective == pytest.approx(exact.objective, rel=1e-12)
    assert whole.status == OPTIMAL


def test_rolling_plan_is_no_worse_than_its_start():
    """With a scheduler's on-time choices as the start, the plan serves at least as many
    requests on time, at no higher objective."""
    from support import scheduler_from_conf

    from perllm_opt.simulation.simulator import simulate

    inst = continuous_instance(0, rate=3.0)
    sim = simulate(inst, scheduler_from_conf("greedy_energy"), np.random.default_rng(0))
    start_obj = evaluate(inst, sim.assignment).metrics.objective
    cfg = replace(EXACT, window_s=5.0, lookahead_blocks=0, time_limit_s=5.0)
    dec = solve_optimum(inst, cfg, start=on_time_start(inst, sim.assignment))
    assert dec.objective <= start_obj * (1 + 1e-9)
    assert evaluate(inst, dec.assignment).metrics.objective == pytest.approx(dec.objective)


def test_relaxed_items_are_continuous_and_the_rest_integer():
    """Relaxing items makes their options and drops continuous, nothing else: with every
    item relaxed only the sleep gates stay integer (between the LP and the MILP, gates 0/1);
    with half, the other half's options come back 0/1."""
    from perllm_opt.milp.highs_direct import solve_assignment_direct

    inst = continuous_instance(0)
    (requests,) = window_requests(inst)
    data = window_problem(inst, requests).data
    lp = solve_assignment_direct(data, EXACT, relax=True).objective
    milp = solve_assignment_direct(data, EXACT).objective
    everything = np.ones(data.n_items, dtype=bool)
    gated = solve_assignment_direct(data, EXACT, relaxed_items=everything)
    assert lp * (1 - 1e-9) <= gated.objective <= milp * (1 + 1e-9)
    assert data.n_gates and np.all(np.isclose(gated.gate, 0) | np.isclose(gated.gate, 1))
    assert not np.all(np.isclose(gated.x, 0) | np.isclose(gated.x, 1))
    half = np.arange(data.n_items) >= data.n_items // 2
    res = solve_assignment_direct(data, EXACT, relaxed_items=half)
    assert lp * (1 - 1e-9) <= res.objective <= milp * (1 + 1e-9)
    kept = ~half[data.option_item]
    assert np.all(np.isclose(res.x[kept], 0) | np.isclose(res.x[kept], 1))
    assert lp < milp  # the relaxation is not integral here, so the checks bite
