"""The LP rounding that gives the window search its start (milp/rounding.py): always
feasible, keeps an integral LP solution, and the optimum starts from it where it is better."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_optimum_scale import random_data
from test_window_search import SEARCH, continuous_instance

from perllm_opt.milp.continuous import window_problem, window_requests
from perllm_opt.milp.continuous_optimum import _searched
from perllm_opt.milp.highs_direct import lp_solution
from perllm_opt.milp.rounding import round_lp
from perllm_opt.milp.solve import start_outcome


def test_rounding_any_fractional_point_fits_every_row():
    """200 random problems, each with a random fractional point: at most one option per
    item and no row above its capacity (start_outcome checks both)."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        data = random_data(rng, with_gates=False)
        x = round_lp(data, rng.random(data.n_options))
        assert x is not None and set(np.unique(x)) <= {0.0, 1.0}
        assert start_outcome(data, x, lexicographic=True) is not None


def test_gates_without_capacity_open_as_the_rounding_needs_them():
    rng = np.random.default_rng(13)
    for _ in range(100):
        data = random_data(rng, with_gates=True)
        data = replace(
            data,
            gate_usage_gate=data.gate_usage_gate[:0],
            gate_usage_resource=data.gate_usage_resource[:0],
            gate_usage_amount=data.gate_usage_amount[:0],
        )
        x = round_lp(data, rng.random(data.n_options))
        assert start_outcome(data, x, lexicographic=True) is not None


def test_an_integral_feasible_point_is_kept_and_only_filled_in():
    """Rounding a feasible 0/1 choice keeps every chosen option (items by their largest
    value come first and all fit together); items left out may get an option that fits."""
    rng = np.random.default_rng(12)
    kept = 0
    for _ in range(200):
        data = random_data(rng, with_gates=False)
        x0 = np.zeros(data.n_options)
        for i in range(data.n_items):
            opts = np.flatnonzero(data.option_item == i)
            if rng.random() < 0.7:
                x0[rng.choice(opts)] = 1.0
        if start_outcome(data, x0, lexicographic=True) is None:
            continue
        x = round_lp(data, x0)
        assert np.all(x[x0 == 1.0] == 1.0)
        assert start_outcome(data, x, lexicographic=True) is not None
        kept += 1
    assert kept >= 50


def test_gates_taking_capacity_are_not_rounded_and_a_bad_shape_is_refused():
    data = random_data(np.random.default_rng(0), with_gates=True)
    assert len(data.gate_usage_gate) and round_lp(data, np.zeros(data.n_options)) is None
    plain = random_data(np.random.default_rng(0), with_gates=False)
    with pytest.raises(ValueError, match="x_lp: expected shape"):
        round_lp(plain, np.zeros(plain.n_options + 1))


def test_the_optimum_starts_its_search_from_the_rounded_lp():
    """No search pass and nothing to start from: the window's plan is the LP's rounding
    (all but the requests the rounding leaves out served), and its bound the LP's."""
    inst = continuous_instance(0, rate=3.0)
    (requests,) = window_requests(inst)
    prob = window_problem(inst, requests)
    cfg = replace(SEARCH, search_gap=0.0, search_passes=0, search_polish_passes=0)
    value, x_lp, _ = lp_solution(prob.data, cfg)
    rounded = round_lp(prob.data, x_lp)
    want = start_outcome(prob.data, rounded, lexicographic=True)
    assert want is not None and want[0] < prob.data.n_items
    empty = np.full(inst.n_requests, -1, dtype=np.int64)
    dec = _searched(inst, prob, None, empty, cfg, False)
    assert dec.drops == want[0]
    assert dec.energy + prob.data.drop_cost[0] * dec.drops == pytest.approx(
        want[1] + prob.data.drop_cost[0] * want[0], rel=1e-9
    )
    assert dec.bound == pytest.approx(value, rel=1e-12)
