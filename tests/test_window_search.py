"""The continuous optimum's windowed search (perllm_opt/milp/window_search.py) and its
certified gap (perllm_opt/milp/optimum.py): plans are feasible and scored as the evaluator
scores them, never worse than their start, the same with sub-MILPs in parallel, and the
bound never above the brute-force optimum nor the plan."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from support import scheduler_from_conf, small_config

from perllm_opt.config import SolverConfig, SystemConfig, WorkloadConfig
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.instance.build import build_instance
from perllm_opt.instance.windows import option_spans
from perllm_opt.milp.continuous import window_problem, window_requests
from perllm_opt.milp.optimum import on_time_start, solve_optimum
from perllm_opt.milp.perllm import on_time_options
from perllm_opt.milp.solve import start_outcome
from perllm_opt.milp.window_search import improve_by_windows, independent_batches, stretches
from perllm_opt.simulation.simulator import simulate

EXACT = SolverConfig(mip_rel_gap=0.0, time_limit_s=60)
SEARCH = replace(EXACT, search_window_s=10.0, search_passes=2, search_checks=40, time_limit_s=20)


def continuous_instance(seed: int = 0, rate: float = 3.0, horizon_s: float = 60.0):
    return build_instance(
        small_config(
            seed=seed, horizon_s=horizon_s, system=SystemConfig(mode="continuous"),
            workload=WorkloadConfig(rate_rps=rate),
        )
    )  # fmt: skip


def scheduler_start(inst, name: str = "greedy_energy") -> np.ndarray:
    sim = simulate(inst, scheduler_from_conf(name), np.random.default_rng(0))
    return on_time_start(inst, sim.assignment)


def plan_key(inst, requests, option):
    """(drops, weighted objective) of ``option`` on the window's own rows (None if a row
    breaks)."""
    prob = window_problem(inst, requests, reduce=False)
    out = start_outcome(prob.data, prob.start_x(option), lexicographic=False)
    return None if out is None else (out[0], out[1])


def test_stretches_cover_the_window_once_and_shift_by_the_offset():
    inst = continuous_instance()
    (requests,) = window_requests(inst)
    d = inst.request_dispatch_s
    for offset in (0.0, 5.0):
        parts = stretches(inst, requests, 10.0, offset)
        assert sorted(np.concatenate(parts).tolist()) == sorted(requests.tolist())
        for a, b in itertools.pairwise(parts):
            assert d[a].max() < d[b].min()
        for p in parts:
            assert d[p].max() - d[p].min() < 10.0
    # Shifted by half a stretch: the first cut falls 5 s after the first dispatch.
    first = stretches(inst, requests, 10.0, 5.0)[0]
    assert d[first].max() - d[requests].min() < 5.0


def test_batches_hold_stretches_whose_option_spans_are_disjoint():
    # Options span up to about 130 s (and whole 60-s sleep blocks): stretches of 100 s.
    inst = continuous_instance(rate=0.5, horizon_s=600.0)
    (requests,) = window_requests(inst)
    groups = stretches(inst, requests, 100.0, 0.0)[::2]
    batches = independent_batches(inst, groups)
    assert sum(len(b) for b in batches) == len(groups)
    for batch in batches:
        spans = []
        for g in batch:
            lo, hi = option_spans(
                inst.options, inst.request_dispatch_s, inst.topology.server_can_sleep,
                inst.sleep_block_s, on_time_options(inst, groups[g]),
            )  # fmt: skip
            spans.append((lo.min(), hi.max()))
        for (_, end), (begin, _) in itertools.pairwise(sorted(spans)):
            assert end <= begin
    assert any(len(b) > 1 for b in batches)  # the check bites: some run together
    assert len(batches) > 1  # and some do not


@pytest.mark.parametrize("seed", [0, 1])
def test_search_is_feasible_and_never_worse_than_its_start(seed):
    inst = continuous_instance(seed, rate=3.0)
    (requests,) = window_requests(inst)
    start = scheduler_start(inst)
    before = plan_key(inst, requests, start)
    assert before is not None
    res = improve_by_windows(inst, requests, SEARCH, start)
    after = plan_key(inst, requests, res.option)
    assert after is not None  # every row of the whole window holds
    assert (after[0], after[1]) <= (before[0], before[1] * (1 + 1e-12))
    assert after[0] < before[0]  # it does improve here (the test bites)
    assert list(res.pass_drops) == sorted(res.pass_drops, reverse=True)
    assert res.pass_drops[-1] == after[0]
    # From nothing at all (every request unserved) it finds a feasible plan too.
    empty = np.full(inst.n_requests, -1, dtype=np.int64)
    assert plan_key(inst, requests, improve_by_windows(inst, requests, SEARCH, empty).option)


def test_sub_milps_in_parallel_give_the_serial_plan():
    inst = continuous_instance(0, rate=0.5, horizon_s=600.0)
    (requests,) = window_requests(inst)
    start = scheduler_start(inst)
    cfg = replace(SEARCH, search_window_s=100.0, search_passes=1)
    groups = stretches(inst, requests, 100.0, 0.0)
    assert any(len(b) > 1 for b in independent_batches(inst, groups[::2]))
    serial = improve_by_windows(inst, requests, cfg, start)
    parallel = improve_by_windows(inst, requests, replace(cfg, workers=2), start)
    np.testing.assert_array_equal(serial.option, parallel.option)
    assert serial.n_improved == parallel.n_improved > 0


@pytest.mark.parametrize("whole_max_options", [0, 10**9])
def test_the_optimum_reports_a_plan_the_evaluator_agrees_with(whole_max_options):
    """With the search forced (search_gap 0) and the whole MILP skipped (LP certificate) or
    run: the plan's objective is the evaluator's, no worse than the start, and the bound
    lies below the exact optimum."""
    inst = continuous_instance(1, rate=2.0)
    start = scheduler_start(inst)
    exact = solve_optimum(inst, EXACT)
    assert exact.status == "optimal"
    cfg = replace(SEARCH, search_gap=0.0, whole_max_options=whole_max_options, checks=20)
    opt = solve_optimum(inst, cfg, start=start)
    m = evaluate(inst, opt.assignment).metrics
    assert m.objective == pytest.approx(opt.objective, rel=1e-9)
    assert m.objective <= evaluate(inst, _as_assignment(start)).metrics.objective * (1 + 1e-9)
    tol = 1e-7 * abs(exact.objective)
    assert opt.bound <= exact.objective + tol <= opt.objective + 2 * tol
    served = evaluate(inst, exact.assignment).metrics.served
    assert m.served <= served <= opt.served_bound


def _as_assignment(option: np.ndarray):
    from perllm_opt.instance.assignment import Assignment

    return Assignment.from_options(option, source="start")


def _brute_force(data) -> tuple[float, float]:
    """Least (drops, weighted cost) over every choice of at most one option per item."""
    by_item = [[-1, *np.flatnonzero(data.option_item == i).tolist()] for i in range(data.n_items)]
    best = (math.inf, math.inf)
    for combo in itertools.product(*by_item):
        x = np.zeros(data.n_options)
        x[[o for o in combo if o >= 0]] = 1.0
        out = start_outcome(data, x, lexicographic=True)
        if out is not None:
            best = min(best, (out[0], out[1]))
    return best


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_the_certified_bound_is_never_above_the_brute_force_optimum(seed):
    """Tiny windows (4 s at 2 requests/s on the small system: 4-10 requests left after the
    exact reductions): the LP-certified optimum's bound is at most the brute-force optimum,
    which is at most its plan."""
    inst = continuous_instance(seed, rate=2.0, horizon_s=4.0)
    checked = 0
    for requests in window_requests(inst):
        prob = window_problem(inst, requests)
        sizes = [int((prob.data.option_item == i).sum()) + 1 for i in range(prob.data.n_items)]
        if math.prod(sizes) > 200_000 or prob.data.n_items < 4:
            continue
        drops, cost = _brute_force(prob.data)
        penalty = inst.drop_penalty_j
        want = penalty * drops + cost
        cfg = replace(SEARCH, search_gap=0.0, whole_max_options=0)
        opt = solve_optimum(inst, cfg)
        assert opt.bound <= opt.objective * (1 + 1e-12)
        one = replace(cfg)
        single = _window_alone(inst, requests, one)
        assert single[1] <= want * (1 + 1e-9) + 1e-9 <= single[0] * (1 + 1e-9) + 2e-9
        checked += 1
    assert checked >= 1


def _window_alone(inst, requests, cfg) -> tuple[float, float]:
    """(plan objective, bound) of one window through the optimum's search path."""
    from perllm_opt.milp.continuous_optimum import _searched

    prob = window_problem(inst, requests)
    empty = np.full(inst.n_requests, -1, dtype=np.int64)
    dec = _searched(inst, prob, None, empty, cfg, False)
    assert dec is not None
    return inst.drop_penalty_j * dec.drops + dec.energy, dec.bound


@pytest.mark.parametrize("with_gates", [False, True])
def test_a_drops_cap_gives_the_least_cost_among_plans_that_serve_as_many(with_gates):
    """The polishing sub-MILP's row ``sum drop <= d``: brute force over 30 random problems,
    the least weighted cost among the choices with at most ``d`` drops, where ``d`` is one
    more than the fewest possible."""
    from test_optimum_scale import random_data

    from perllm_opt.milp.highs_direct import solve_assignment_direct

    rng = np.random.default_rng(7 + with_gates)
    checked = 0
    for _ in range(30):
        data = random_data(rng, with_gates)
        # Drops cost almost nothing: the row, not the penalty, keeps them down.
        data = replace(data, drop_cost=np.full(data.n_items, 1e-3))
        plans = []
        by_item = [
            [-1, *np.flatnonzero(data.option_item == i).tolist()] for i in range(data.n_items)
        ]
        for combo in itertools.product(*by_item):
            x = np.zeros(data.n_options)
            x[[o for o in combo if o >= 0]] = 1.0
            out = start_outcome(data, x, lexicographic=True)
            if out is not None:
                plans.append((out[0], out[1] + 1e-3 * out[0]))
        least = min(d for d, _ in plans)
        cap = least + 1
        want = min(c for d, c in plans if d <= cap)
        res = solve_assignment_direct(data, EXACT, max_drops=cap)
        assert res.status == "optimal"
        assert res.drops <= cap + 1e-9
        assert res.objective == pytest.approx(want, rel=1e-9, abs=1e-9)
        checked += 1
    assert checked == 30


@pytest.mark.parametrize("method", ["ipm", "simplex"])
def test_the_window_lp_bound_is_the_lp_optimum_below_the_milp(method):
    """The certificate's LP (interior point by default) equals the simplex LP's optimum and
    lies below the MILP's (the relaxation is not integral here, so the check bites)."""
    from perllm_opt.milp.highs_direct import lp_duals, lp_solution

    inst = continuous_instance(0, rate=2.0)
    (requests,) = window_requests(inst)
    data = window_problem(inst, requests).data
    value, _, seconds = lp_solution(data, EXACT, method)
    assert value == pytest.approx(lp_duals(data, EXACT)[0], rel=1e-7)
    from perllm_opt.milp.solve import solve_assignment

    milp = solve_assignment(data, EXACT)
    assert milp.status == "optimal" and seconds >= 0.0
    assert value < milp.objective - 1e-6
