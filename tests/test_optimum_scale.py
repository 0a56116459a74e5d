"""The exact optimum at scale (issue 12): the reductions keep the optimum, a warm start is
feasible and never makes the result worse, and the parallel backends give the serial result."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from perllm_opt.config import InstanceConfig, SolverConfig, SystemConfig, WorkloadConfig
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.instance.build import build_instance
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.optimum import on_time_start, solve_optimum
from perllm_opt.milp.reduce import free_items, reduce_data, redundant_rows
from perllm_opt.milp.result import OPTIMAL
from perllm_opt.milp.solve import solve_assignment

EXACT = SolverConfig(mip_rel_gap=0.0, time_limit_s=60)


def random_data(rng: np.random.Generator, with_gates: bool) -> AssignmentData:
    """A small random assignment problem: 4-5 items with 1-4 options each, 2-4 resource
    rows (some loose, some binding), optional gates with costs, droppable items."""
    n_items = int(rng.integers(4, 6))
    per_item = rng.integers(1, 5, size=n_items)
    option_item = np.repeat(np.arange(n_items), per_item)
    n_opt = len(option_item)
    n_res = int(rng.integers(2, 5))
    u_opt, u_res, u_amt = [], [], []
    for o in range(n_opt):
        for r in range(n_res):
            if rng.random() < 0.6:
                u_opt.append(o)
                u_res.append(r)
                u_amt.append(float(rng.choice([0.0, 0.25, 0.5, 1.0, 1.5])))
    # Duplicated options make dominance bite: copy a few with the same rows and cost.
    cost = rng.choice([1.0, 2.0, 3.0, 5.0], size=n_opt)
    capacity = rng.choice([0.5, 1.0, 2.0, 100.0], size=n_res)
    gates = {}
    if with_gates:
        n_g = 2
        g_opt = np.flatnonzero(rng.random(n_opt) < 0.5)
        gates = dict(
            gate_cost=rng.choice([0.5, 4.0], size=n_g),
            option_gate_option=g_opt.astype(np.int64),
            option_gate_gate=rng.integers(0, n_g, size=len(g_opt)).astype(np.int64),
            gate_usage_gate=np.asarray([0], dtype=np.int64),
            gate_usage_resource=np.asarray([0], dtype=np.int64),
            gate_usage_amount=np.asarray([0.5]),
        )
    return AssignmentData(
        n_items=n_items,
        option_item=option_item.astype(np.int64),
        option_cost=cost,
        capacity=capacity,
        usage_option=np.asarray(u_opt, dtype=np.int64),
        usage_resource=np.asarray(u_res, dtype=np.int64),
        usage_amount=np.asarray(u_amt, dtype=float),
        drop_cost=np.full(n_items, 10.0),
        **gates,
    )


def brute_force(data: AssignmentData) -> tuple[float, float]:
    """(least drops, least cost with those drops) over every choice of at most one option per
    item, gates opened as the choice needs them."""
    by_item = [np.flatnonzero(data.option_item == i).tolist() for i in range(data.n_items)]
    best = (math.inf, math.inf)
    for combo in itertools.product(*[[-1, *opts] for opts in by_item]):
        chosen = np.asarray([o for o in combo if o >= 0], dtype=np.int64)
        load = np.zeros(data.n_resources)
        x = np.zeros(data.n_options)
        x[chosen] = 1.0
        np.add.at(load, data.usage_resource, data.usage_amount * x[data.usage_option])
        gate = np.zeros(data.n_gates)
        if data.n_gates:
            np.maximum.at(gate, data.option_gate_gate, x[data.option_gate_option])
            np.add.at(
                load,
                data.gate_usage_resource,
                data.gate_usage_amount * gate[data.gate_usage_gate],
            )
        if np.any(load > data.capacity + 1e-9):
            continue
        drops = data.n_items - len(chosen)
        cost = float(data.option_cost @ x + data.gate_cost @ gate) + data.constant
        best = min(best, (drops, cost))
    return best


@pytest.mark.parametrize("with_gates", [False, True])
def test_reductions_keep_the_optimum_of_random_problems(with_gates):
    """40 random problems each: the reduced problem plus its fixed items has the brute-force
    lexicographic optimum, and the reductions do remove something on some of them."""
    rng = np.random.default_rng(12 + with_gates)
    removed = 0
    for _ in range(40):
        data = random_data(rng, with_gates)
        drops, cost = brute_force(data)
        red = reduce_data(data)
        removed += red.options_removed + red.rows_removed + len(red.fixed_item)
        res = solve_assignment(red.data, EXACT, lexicographic=True)
        assert res.status == OPTIMAL
        assert res.drops == drops
        assert res.objective == pytest.approx(cost, rel=1e-9, abs=1e-9)
        # The maps back: every kept option and fixed option belongs to its item.
        np.testing.assert_array_equal(data.option_item[red.option], red.item[red.data.option_item])
        np.testing.assert_array_equal(data.option_item[red.fixed_option], red.fixed_item)
    assert removed > 0


def test_redundant_rows_and_free_items_by_hand():
    """Two items on two rows: row 0 (capacity 1) binds only if both take 0.75; row 1 is
    loose. Item 1's second option is free and the only one left after dominance."""
    data = AssignmentData(
        n_items=2,
        option_item=np.asarray([0, 0, 1, 1]),
        option_cost=np.asarray([1.0, 2.0, 3.0, 0.5]),
        capacity=np.asarray([1.0, 10.0]),
        usage_option=np.asarray([0, 1, 2, 0, 2]),
        usage_resource=np.asarray([0, 0, 0, 1, 1]),
        usage_amount=np.asarray([0.75, 0.75, 0.75, 3.0, 3.0]),
        drop_cost=np.asarray([10.0, 10.0]),
    )
    np.testing.assert_array_equal(redundant_rows(data), [False, True])
    red = reduce_data(data)
    assert red.rows_removed == 1
    # Item 0: option 1 (cost 2) is dominated by option 0; item 1: option 3 (free, 0.5)
    # dominates option 2 and is then fixed.
    np.testing.assert_array_equal(red.fixed_item, [1])
    np.testing.assert_array_equal(red.fixed_option, [3])
    np.testing.assert_array_equal(red.option, [0])
    assert red.data.constant == pytest.approx(0.5)
    assert free_items(red.data).tolist() == [-1]


def rounds_instance(seed: int, rate: float = 2.0, horizon_s: float = 120.0):
    from support import small_config  # rounds mode by default

    return build_instance(
        small_config(seed, horizon_s=horizon_s, workload=WorkloadConfig(rate_rps=rate))
    )


@pytest.mark.parametrize("seed", [0, 3])
def test_reduced_optimum_equals_the_full_one_in_rounds_mode(seed):
    inst = rounds_instance(seed)
    full = solve_optimum(inst, replace(EXACT, reduce=False, warm_start=False))
    small = solve_optimum(inst, replace(EXACT, reduce=True, warm_start=False))
    assert full.status == small.status == OPTIMAL
    assert small.n_options < full.n_options == small.n_options_full
    assert small.objective == pytest.approx(full.objective, rel=1e-9)
    assert small.served_bound == full.served_bound
    m_full = evaluate(inst, full.assignment).metrics
    m_small = evaluate(inst, small.assignment).metrics
    assert m_small.served == m_full.served
    assert m_small.objective == pytest.approx(m_full.objective, rel=1e-9)


def test_reduced_optimum_equals_the_full_one_in_placement_mode():
    cfg = InstanceConfig(
        seed=1,
        horizon_s=60.0,
        workload=WorkloadConfig(rate_rps=1.0),
        system=SystemConfig(mode="rounds"),
    )
    inst = build_instance(cfg, placement=True)
    full = solve_optimum(inst, replace(EXACT, reduce=False))
    small = solve_optimum(inst, replace(EXACT, reduce=True))
    assert full.status == small.status == OPTIMAL
    assert small.n_options < full.n_options
    assert small.objective == pytest.approx(full.objective, rel=1e-9)


def test_reduced_optimum_equals_the_full_one_in_continuous_mode():
    from support import small_config

    inst = build_instance(
        small_config(seed=4, horizon_s=40.0, system=SystemConfig(mode="continuous"))
    )
    assert inst.continuous
    full = solve_optimum(inst, replace(EXACT, reduce=False))
    small = solve_optimum(inst, replace(EXACT, reduce=True))
    assert full.status == small.status == OPTIMAL
    assert small.n_options < full.n_options
    assert small.objective == pytest.approx(full.objective, rel=1e-9)


def scheduler_start(inst, name: str = "greedy_energy") -> tuple[np.ndarray, float]:
    """A scheduler's on-time choices (option per request, -1 elsewhere) and their objective."""
    from support import scheduler_from_conf

    from perllm_opt.simulation.simulator import simulate

    res = simulate(inst, scheduler_from_conf(name), np.random.default_rng(0))
    return on_time_start(inst, res.assignment), evaluate(inst, res.assignment).metrics.objective


@pytest.mark.parametrize("seed", [0, 5])
def test_warm_start_is_feasible_and_never_worse(seed):
    """From a scheduler's on-time set: the optimum is no worse than the start, equal to the
    cold optimum, and a start cut short by a tiny time limit still returns a solution no
    worse than the start (it is feasible, so HiGHS keeps it as its incumbent)."""
    inst = rounds_instance(seed, rate=3.0)
    start, start_objective = scheduler_start(inst)
    cold = solve_optimum(inst, replace(EXACT, warm_start=False))
    warm = solve_optimum(inst, replace(EXACT, warm_start=True), start=start)
    assert cold.status == warm.status == OPTIMAL
    assert warm.objective == pytest.approx(cold.objective, rel=1e-9)
    assert warm.objective <= start_objective * (1 + 1e-9)
    # A limit too short for any search: the start is still there to return, given to
    # HiGHS or not (without the warm start it is only the floor).
    for warm_start in (True, False):
        rushed = replace(EXACT, warm_start=warm_start, time_limit_s=1e-3)
        quick = solve_optimum(inst, rushed, start=start)
        assert quick.assignment is not None
        assert quick.objective <= start_objective * (1 + 1e-9)
        assert evaluate(inst, quick.assignment).metrics.served >= int((start >= 0).sum())


def test_two_workers_give_the_serial_result():
    inst = rounds_instance(2, rate=2.0, horizon_s=180.0)
    serial = solve_optimum(inst, replace(EXACT, workers=1))
    parallel = solve_optimum(inst, replace(EXACT, workers=2))
    assert serial.subproblems == parallel.subproblems > 2
    assert parallel.objective == serial.objective  # the same sums in the same order
    assert parallel.bound == serial.bound
    np.testing.assert_array_equal(parallel.assignment.option, serial.assignment.option)
    np.testing.assert_array_equal(parallel.objective_per_round, serial.objective_per_round)


@pytest.mark.slow
def test_ray_backend_gives_the_serial_result(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    inst = rounds_instance(2, rate=2.0, horizon_s=120.0)
    serial = solve_optimum(inst, replace(EXACT, workers=1))
    on_ray = solve_optimum(inst, replace(EXACT, workers=2, backend="ray"))
    assert on_ray.objective == serial.objective
    np.testing.assert_array_equal(on_ray.assignment.option, serial.assignment.option)


@pytest.mark.slow
def test_a_start_does_not_trip_highs_presolve():
    """The round where HiGHS 1.16.0, started with its presolve on, claimed 33 drops optimal
    (benchmarks/highs_start_presolve_bug.py): started through solve_assignment, which runs a
    started model without presolve, it finds the cold optimum, 31 drops."""
    from support import scheduler_from_conf

    from perllm_opt.cli.config_store import compose_config, to_app_config
    from perllm_opt.milp.perllm import reduce_problem, round_problem
    from perllm_opt.simulation.simulator import simulate

    cfg = to_app_config(
        compose_config(
            ["system.mode=rounds", "system.round_s=30", "horizon_s=600", "workload.rate_rps=2"]
        )
    )
    inst = build_instance(cfg)
    res = simulate(inst, scheduler_from_conf("oracle_milp"), np.random.default_rng(0))
    start = on_time_start(inst, res.assignment)
    rounds = [r for r in inst.round_requests() if len(r)]
    prob = reduce_problem(round_problem(inst, rounds[18]))
    solver = replace(cfg.solver, warm_start=True)
    cold = solve_assignment(prob.data, replace(solver, warm_start=False), lexicographic=True)
    warm = solve_assignment(prob.data, solver, lexicographic=True, initial_x=prob.start_x(start))
    assert cold.status == warm.status == OPTIMAL
    assert warm.drops == cold.drops == 31
    assert warm.objective == pytest.approx(cold.objective, rel=1e-6)
