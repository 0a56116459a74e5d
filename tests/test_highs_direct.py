"""The direct HiGHS path (no Pyomo) solves the same assignment models as the Pyomo one."""

from __future__ import annotations

import numpy as np
import pytest

from perllm_opt.config import SolverConfig
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.highs_direct import _start_solution, solve_assignment_direct
from perllm_opt.milp.result import INFEASIBLE, OPTIMAL
from perllm_opt.milp.solve import solve_assignment

CFG = SolverConfig(time_limit_s=30.0, mip_rel_gap=1e-9)


def random_data(rng: np.random.Generator, drops: bool, sense: str = "min") -> AssignmentData:
    n_items, per_item, n_res, n_gates = 8, 3, 3, 2
    item = np.repeat(np.arange(n_items), per_item)
    n_opt = len(item)
    uo = np.repeat(np.arange(n_opt), 2)
    ur = rng.integers(0, n_res, 2 * n_opt)
    gate_of = rng.integers(0, n_gates, n_opt)
    return AssignmentData(
        n_items=n_items,
        option_item=item,
        option_cost=rng.uniform(-1.0, 5.0, n_opt),
        capacity=rng.uniform(2.0, 4.0, n_res),
        usage_option=uo,
        usage_resource=ur,
        usage_amount=rng.uniform(0.2, 1.5, 2 * n_opt),
        drop_cost=rng.uniform(3.0, 8.0, n_items) if drops else None,
        gate_cost=rng.uniform(0.0, 4.0, n_gates),
        gate_usage_gate=np.arange(n_gates),
        gate_usage_resource=np.zeros(n_gates, dtype=np.int64),
        gate_usage_amount=np.full(n_gates, 0.3),
        option_gate_option=np.arange(n_opt),
        option_gate_gate=gate_of,
        constant=1.25,
        sense=sense,
    )


def brute_force(data: AssignmentData) -> float:
    """Optimum by enumerating every choice per item (options, or the drop)."""
    per = [np.flatnonzero(data.option_item == i).tolist() for i in range(data.n_items)]
    if data.drop_cost is not None:
        per = [[*p, -1 - i] for i, p in enumerate(per)]
    best = np.inf if data.sense == "min" else -np.inf
    import itertools

    use = np.zeros((data.n_options, data.n_resources))
    np.add.at(use, (data.usage_option, data.usage_resource), data.usage_amount)
    for choice in itertools.product(*per):
        x = np.zeros(data.n_options)
        cost = data.constant
        for c in choice:
            if c >= 0:
                x[c] = 1.0
            else:
                cost += data.drop_cost[-1 - c]
        gates = np.zeros(data.n_gates)
        np.maximum.at(gates, data.option_gate_gate, x[data.option_gate_option])
        load = x @ use
        np.add.at(
            load, data.gate_usage_resource, gates[data.gate_usage_gate] * data.gate_usage_amount
        )
        if np.any(load > data.capacity + 1e-9):
            continue
        cost += data.option_cost @ x + data.gate_cost @ gates
        best = min(best, cost) if data.sense == "min" else max(best, cost)
    return float(best)


@pytest.mark.parametrize("seed", range(6))
def test_same_optimum_as_pyomo_and_brute_force(seed):
    rng = np.random.default_rng(seed)
    data = random_data(rng, drops=seed % 2 == 0, sense="max" if seed == 5 else "min")
    direct = solve_assignment_direct(data, CFG)
    pyomo = solve_assignment(data, CFG)
    assert pyomo.status == direct.status
    if direct.status == OPTIMAL:
        assert direct.objective == pytest.approx(pyomo.objective, abs=1e-6)
        assert direct.objective == pytest.approx(brute_force(data), abs=1e-6)
        # The solution is a valid assignment with that objective.
        x = direct.x.round()
        assert np.all(np.bincount(data.option_item, weights=x, minlength=data.n_items) <= 1)
        cost = data.option_cost @ x + data.gate_cost @ direct.gate.round() + data.constant
        if data.drop_cost is not None:
            cost += data.drop_cost @ direct.drop.round()
        assert cost == pytest.approx(direct.objective, abs=1e-6)
    else:
        assert brute_force(data) in (np.inf, -np.inf)


def test_infeasible_is_reported():
    data = AssignmentData(
        n_items=1,
        option_item=np.asarray([0]),
        option_cost=np.asarray([1.0]),
        capacity=np.asarray([0.5]),
        usage_option=np.asarray([0]),
        usage_resource=np.asarray([0]),
        usage_amount=np.asarray([1.0]),
    )
    res = solve_assignment_direct(data, CFG)
    assert res.status == INFEASIBLE and not res.has_solution


def test_start_solution_sets_drops_and_gates():
    # Items 0 and 1 have two options each; options 0 and 3 share gate 0, option 1 gate 1.
    data = AssignmentData(
        n_items=2,
        option_item=np.asarray([0, 0, 1, 1]),
        option_cost=np.zeros(4),
        capacity=np.asarray([10.0]),
        usage_option=np.arange(4),
        usage_resource=np.zeros(4, dtype=np.int64),
        usage_amount=np.ones(4),
        drop_cost=np.ones(2),
        gate_cost=np.ones(2),
        option_gate_option=np.asarray([0, 1, 3]),
        option_gate_gate=np.asarray([0, 1, 0]),
    )
    sol = _start_solution(data, np.asarray([0.0, 1.0, 0.0, 0.0]))
    # x = (0, 1, 0, 0); item 1 has no option, so its drop is 1; only gate 1 is open.
    assert list(sol.col_value) == [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match=r"initial_x: expected shape \(4,\)"):
        _start_solution(data, np.zeros(3))


@pytest.mark.parametrize("seed", range(2))
def test_warm_start_keeps_the_optimum(seed):
    """Starting from any feasible assignment (here: the cheapest drop-everything-but-one) or
    from the optimum itself, with presolve on or off, gives the brute-force optimum."""
    rng = np.random.default_rng(seed)
    data = random_data(rng, drops=True)
    cold = solve_assignment_direct(data, CFG)
    assert cold.status == OPTIMAL
    best = brute_force(data)
    assert cold.objective == pytest.approx(best, abs=1e-6)
    one = np.zeros(data.n_options)
    one[int(np.argmin(data.option_cost))] = 1.0
    for start in (one, cold.x):
        for presolve in (True, False):
            warm = solve_assignment_direct(data, CFG, presolve=presolve, initial_x=start)
            assert warm.status == OPTIMAL
            assert warm.objective == pytest.approx(best, abs=1e-6)


def test_interrupt_checks_are_a_repeatable_budget():
    """``max_checks`` ends the search at the same point every time (same incumbent, same
    bound), earlier than the unlimited search, with a valid bound; a larger budget is no
    worse. OR-Library gapc-1 (published optimum 1,931) needs more than 30 checks."""
    from pathlib import Path

    from perllm_opt.milp.gap import gap_data, read_orlib_gap

    root = Path(__file__).resolve().parents[1]
    data = gap_data(read_orlib_gap(root / "benchmarks/data/orlib-gap/gapc.txt")[0], "min")
    cfg = SolverConfig(time_limit_s=60.0, mip_rel_gap=0.0)
    a = solve_assignment_direct(data, cfg, max_checks=3)
    b = solve_assignment_direct(data, cfg, max_checks=3)
    more = solve_assignment_direct(data, cfg, max_checks=30)
    full = solve_assignment_direct(data, cfg)
    assert full.status == OPTIMAL and full.objective == pytest.approx(1931)
    assert a.status == "feasible" and (a.objective, a.bound) == (b.objective, b.bound)
    assert np.array_equal(a.x, b.x)
    assert a.bound <= 1931 <= a.objective and a.objective > 1931
    assert more.objective <= a.objective and a.bound <= more.bound <= 1931
    with pytest.raises(ValueError, match="checks"):
        solve_assignment_direct(data, cfg, max_checks=0)


def test_check_budget_through_pyomo_repeats_and_covers_both_stages(caplog):
    """``solver.checks`` through Pyomo's persistent HiGHS model: the same result twice, a
    budget too small for OR-Library gapc-1 stops short of its optimum (1,931) with a valid
    bound; the budget is removed after each search, so the lexicographic second stage, which
    solves the same HiGHS model again, starts a count of its own."""
    from dataclasses import replace
    from pathlib import Path

    from perllm_opt.milp.gap import gap_data, read_orlib_gap

    root = Path(__file__).resolve().parents[1]
    data = gap_data(read_orlib_gap(root / "benchmarks/data/orlib-gap/gapc.txt")[0], "min")
    cfg = SolverConfig(time_limit_s=60.0, mip_rel_gap=0.0, checks=3)
    with caplog.at_level("WARNING"):
        a, b = solve_assignment(data, cfg), solve_assignment(data, cfg)
    assert a.status == "feasible" and (a.objective, a.bound) == (b.objective, b.bound)
    assert a.bound <= 1931 < a.objective
    # The stop is the budget's, not news: Pyomo's "unhandled status kInterrupt" is dropped.
    assert not [r for r in caplog.records if "kInterrupt" in r.getMessage()]
    full = solve_assignment(data, replace(cfg, checks=None))
    assert full.status == OPTIMAL and full.objective == pytest.approx(1931)
    import highspy

    from perllm_opt.milp.highs_direct import stop_after_checks

    h = highspy.Highs()
    remove = stop_after_checks(h, 5)
    assert len(h.cbMipInterrupt.callbacks) == 1
    remove()
    assert len(h.cbMipInterrupt.callbacks) == 0
