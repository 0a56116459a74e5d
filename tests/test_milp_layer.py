"""The generic assignment MILP layer on problems whose optimum is known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from perllm_opt.config import SolverConfig
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.result import INFEASIBLE, OPTIMAL
from perllm_opt.milp.solve import SolverUnavailableError, solve_assignment

CFG = SolverConfig(mip_rel_gap=0.0, time_limit_s=30)


def two_jobs_one_slot(drop_cost=None, sense="min") -> AssignmentData:
    """Two items; each has a cheap option on resource 0 (capacity 1, both need 1) and an
    expensive one on resource 1 (capacity 2)."""
    return AssignmentData(
        n_items=2,
        option_item=np.array([0, 0, 1, 1]),
        option_cost=np.array([1.0, 5.0, 2.0, 7.0]),
        capacity=np.array([1.0, 2.0]),
        usage_option=np.array([0, 1, 2, 3]),
        usage_resource=np.array([0, 1, 0, 1]),
        usage_amount=np.array([1.0, 1.0, 1.0, 1.0]),
        drop_cost=drop_cost,
        sense=sense,
    )


def test_capacity_forces_the_second_best_assignment():
    # Only one item fits on resource 0: min(1 + 7, 2 + 5) = 7, item 1 cheap, item 0 costly.
    res = solve_assignment(two_jobs_one_slot(), CFG)
    assert res.status == OPTIMAL
    assert res.objective == pytest.approx(7.0)
    assert res.bound == pytest.approx(7.0)
    assert list(np.flatnonzero(res.x > 0.5)) == [1, 2]


def test_maximisation_sense():
    # max: 5 + 7 on resource 1 (capacity 2) beats anything using resource 0.
    res = solve_assignment(two_jobs_one_slot(sense="max"), CFG)
    assert res.objective == pytest.approx(12.0)


def test_drops_weighted_and_lexicographic():
    # Dropping costs 3 per item: item 0 takes option 0 (1), item 1 is dropped (3) -> 4,
    # cheaper than serving both (7). Lexicographic serves both first, then costs 7.
    data = two_jobs_one_slot(drop_cost=np.array([3.0, 3.0]))
    weighted = solve_assignment(data, CFG)
    assert weighted.objective == pytest.approx(4.0)
    assert weighted.drops == pytest.approx(1.0)
    lex = solve_assignment(data, CFG, lexicographic=True)
    assert lex.drops == pytest.approx(0.0)
    assert lex.objective == pytest.approx(7.0)


def test_gates_cost_and_capacity():
    # One item, two options behind one gate of cost 10 that also takes 1 of resource 0
    # (capacity 1.5): the option needing 1 of resource 0 no longer fits, the other does.
    data = AssignmentData(
        n_items=1,
        option_item=np.array([0, 0]),
        option_cost=np.array([1.0, 2.0]),
        capacity=np.array([1.5]),
        usage_option=np.array([0, 1]),
        usage_resource=np.array([0, 0]),
        usage_amount=np.array([1.0, 0.5]),
        gate_cost=np.array([10.0]),
        gate_usage_gate=np.array([0]),
        gate_usage_resource=np.array([0]),
        gate_usage_amount=np.array([1.0]),
        option_gate_option=np.array([0, 1]),
        option_gate_gate=np.array([0, 0]),
        constant=0.5,
    )
    res = solve_assignment(data, CFG)
    assert res.objective == pytest.approx(12.5)
    assert res.gate[0] == pytest.approx(1.0)
    assert list(np.flatnonzero(res.x > 0.5)) == [1]


def test_infeasible_is_reported_without_solution():
    data = AssignmentData(
        n_items=1,
        option_item=np.array([0]),
        option_cost=np.array([1.0]),
        capacity=np.array([0.5]),
        usage_option=np.array([0]),
        usage_resource=np.array([0]),
        usage_amount=np.array([1.0]),
    )
    res = solve_assignment(data, CFG)
    assert res.status == INFEASIBLE
    assert not res.has_solution


def test_lp_relaxation_is_a_bound():
    # Relaxed, item 0 and item 1 can split resource 0: 0.5*1 + 0.5*5 ... the LP value is at
    # most the MILP's 7.
    data = two_jobs_one_slot()
    lp = solve_assignment(data, CFG, relax=True)
    assert lp.relaxed
    assert lp.objective <= 7.0 + 1e-9


def test_missing_solver_is_a_clear_error():
    with pytest.raises(SolverUnavailableError, match="no_such_solver"):
        solve_assignment(two_jobs_one_slot(), SolverConfig(name="no_such_solver"))
