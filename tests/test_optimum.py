"""PerLLM's offline optimum: exactness against brute force and consistency with the
evaluator, across objectives and modes."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perllm_opt.config import (
    CalibrationConfig,
    InstanceConfig,
    SolverConfig,
    SystemConfig,
    WorkloadConfig,
)
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.evaluation.per_bin import CapacityViolationError
from perllm_opt.instance.assignment import ADMITTED, DROPPED, Assignment
from perllm_opt.instance.build import build_instance
from perllm_opt.milp.optimum import solve_optimum
from perllm_opt.milp.perllm import joint_problem
from perllm_opt.milp.result import OPTIMAL
from perllm_opt.milp.solve import solve_assignment

EXACT = SolverConfig(mip_rel_gap=0.0, time_limit_s=60)
ROUNDS = SystemConfig(mode="rounds")


def tiny_config(seed: int) -> InstanceConfig:
    """One 30-s round with a handful of requests, one share level per device and one rate,
    so that every assignment can be enumerated; the cloud fits only two requests."""
    return InstanceConfig(
        seed=seed,
        horizon_s=30.0,
        system=SystemConfig(mode="rounds", round_s=30.0, rate_levels_mbps=[5.0]),
        workload=WorkloadConfig(rate_rps=0.17),
        calibration=CalibrationConfig(
            overrides={
                "cpu-xeon-4214r": {"share_levels": [0.5]},
                "a100-80gb": {"share_levels": [0.5]},
            }
        ),
    )


def brute_force_objective(instance) -> float:
    """Least evaluator objective over every assignment (each request: none or any option,
    on time or not) that respects capacity."""
    o = instance.options
    choices = [[-1, *range(o.ptr[i], o.ptr[i + 1])] for i in range(instance.n_requests)]
    best = math.inf
    for combo in itertools.product(*choices):
        option = np.asarray(combo, dtype=np.int64)
        status = np.where(option >= 0, ADMITTED, DROPPED).astype(np.int8)
        try:
            ev = evaluate(instance, Assignment(option, status, "brute"))
        except CapacityViolationError:
            continue
        best = min(best, ev.metrics.objective)
    return best


@pytest.mark.parametrize("seed", [9, 10, 16, 29])
def test_brute_force_equals_milp(seed):
    inst = build_instance(tiny_config(seed))
    assert 2 <= inst.n_requests <= 6, "fixture must stay enumerable"
    brute = brute_force_objective(inst)
    for objective in ("lexicographic", "weighted"):
        opt = solve_optimum(inst, SolverConfig(mip_rel_gap=0.0, objective=objective))
        assert opt.status == OPTIMAL
        assert opt.objective == pytest.approx(brute, rel=1e-9)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), rate=st.sampled_from([0.5, 1.5, 3.0]))
def test_evaluator_reproduces_milp_objective(seed, rate):
    inst = build_instance(
        InstanceConfig(
            seed=seed, horizon_s=90.0, workload=WorkloadConfig(rate_rps=rate), system=ROUNDS
        )
    )
    opt = solve_optimum(inst, SolverConfig(mip_rel_gap=1e-9))
    ev = evaluate(inst, opt.assignment)
    assert ev.metrics.objective == pytest.approx(opt.objective, rel=1e-6)
    np.testing.assert_allclose(ev.objective_per_round, opt.objective_per_round, rtol=1e-6)
    # The optimum never admits a late request and never violates capacity (evaluate checks).
    assert ev.metrics.late == 0


def test_lexicographic_weighted_and_joint_agree():
    inst = build_instance(
        InstanceConfig(
            seed=2, horizon_s=120.0, workload=WorkloadConfig(rate_rps=2.0), system=ROUNDS
        )
    )
    lex = solve_optimum(inst, SolverConfig(objective="lexicographic", mip_rel_gap=1e-9))
    wtd = solve_optimum(inst, SolverConfig(objective="weighted", mip_rel_gap=1e-9))
    assert lex.objective == pytest.approx(wtd.objective, rel=1e-7)
    joint = solve_assignment(
        joint_problem(inst, optimize_deployment=False).data,
        SolverConfig(objective="weighted", mip_rel_gap=1e-9),
    )
    assert joint.objective == pytest.approx(lex.objective, rel=1e-7)
    lp = solve_optimum(inst, SolverConfig(lp_relaxation=True))
    assert lp.assignment is None and math.isnan(lp.objective)
    assert lp.bound <= lex.objective * (1 + 1e-9)


def test_placement_optimum_is_no_worse_and_fits_memory():
    cfg = InstanceConfig(
        seed=5, horizon_s=90.0, workload=WorkloadConfig(rate_rps=2.0), system=ROUNDS
    )
    placed_inst = build_instance(cfg, placement=True)
    fixed_inst = build_instance(cfg, drop_penalty_j=placed_inst.drop_penalty_j)
    fixed = solve_optimum(fixed_inst, EXACT)
    placed = solve_optimum(placed_inst, SolverConfig(mip_rel_gap=1e-9, objective="weighted"))
    assert placed.hosts is not None
    dep = placed_inst.deployment
    assert np.all((dep.weight_bytes * placed.hosts).sum(axis=1) <= dep.memory_bytes)
    assert not np.any(placed.hosts & ~dep.can_host)
    ev = evaluate(
        placed_inst, placed.assignment, kv_budget_bytes=placed.kv_budget_bytes(placed_inst)
    )
    assert ev.metrics.objective == pytest.approx(placed.objective, rel=1e-6)
    # Every fixed deployment is a candidate deployment: the placement optimum is at least as
    # good (up to the solver gap).
    assert placed.objective <= fixed.objective * (1 + 1e-6)
