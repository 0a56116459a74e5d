"""The epoch plan's dominance reduction: which candidates it drops, and that dropping them
changes neither stage's optimum in any round (the known-means oracle's expected misses and
expected weighted energy)."""

from __future__ import annotations

import numpy as np
import pytest
from support import scheduler_from_conf, small_config

from perllm_opt.config import DynamicsConfig, SystemConfig, WorkloadConfig
from perllm_opt.instance.build import build_instance
from perllm_opt.rng import RngStreams
from perllm_opt.schedulers import epoch_plan
from perllm_opt.simulation.simulator import simulate

STATIC = DynamicsConfig(bandwidth_links="none", slowdown_max=1.0, slowdown_step=0.0)


def test_undominated_by_hand():
    # Candidates 0-3 on server 0 and path 0; 4 on server 1; 5 on server 0 but path 1.
    server = np.array([0, 0, 0, 0, 1, 0])
    path = np.array([0, 0, 0, 0, 0, 1])
    share = np.array([0.25, 0.5, 0.25, 0.125, 0.125, 0.125])
    rate = np.array([2.0, 2.0, 2.0, 20.0, 2.0, 2.0])
    p = np.array([0.9, 0.9, 0.9, 0.95, 0.1, 0.1])
    cost = np.array([10.0, 10.0, 10.0, 10.0, 1.0, 1.0])
    keep = epoch_plan.undominated(server, path, share, rate, p, cost)
    # 1: 0 asks less share, all else equal. 2: twin of 0, the later one goes. 3: more rate
    # but likelier on time, so nobody dominates it. 4, 5: alone on their (server, path).
    assert keep.tolist() == [True, False, False, True, True, True]
    # Worse on one count only is enough to be dominated; better on one count protects.
    keep = epoch_plan.undominated(
        np.zeros(2, int),
        np.zeros(2, int),
        np.array([0.5, 0.5]),
        np.array([2.0, 2.0]),
        np.array([0.9, 0.9]),
        np.array([5.0, 5.0 + 1e-9]),
    )
    assert keep.tolist() == [True, False]
    assert epoch_plan.undominated(*(np.array([0.0]),) * 6).tolist() == [True]


def _stage_optima(seed: int, monkeypatch) -> np.ndarray:
    """The two stages' optima of every round of ``oracle_milp`` (rows: rounds; columns:
    stage 1's expected misses, stage 2's expected weighted energy with wake-ups)."""
    inst = build_instance(
        small_config(
            seed=seed,
            horizon_s=60.0,
            workload=WorkloadConfig(rate_rps=3.0),
            system=SystemConfig(mode="rounds", round_s=10.0),
            dynamics=STATIC,
        )
    )
    solve = epoch_plan.solve_assignment_direct
    optima = []

    def recorded(*args, **kwargs):
        result = solve(*args, **kwargs)
        assert result.status == "optimal"
        optima.append(result.objective)
        return result

    with monkeypatch.context() as m:
        m.setattr(epoch_plan, "solve_assignment_direct", recorded)
        simulate(inst, scheduler_from_conf("oracle_milp"), RngStreams(seed).stream("o"))
    return np.asarray(optima, dtype=float).reshape(-1, 2)


@pytest.mark.parametrize("seed", range(4))
def test_reduction_keeps_both_stages_optimal(seed, monkeypatch):
    """Rounds mode with static dynamics: each round is its own two-stage problem (servers
    start each round empty), so with and without the reduction every round's expected misses
    (stage 1) and expected weighted energy (stage 2) are the same optima. (The realised
    outcomes may differ: the two models may pick different plans among equally good ones.)"""
    optima = _stage_optima(seed, monkeypatch)
    dropped = []
    reduce = epoch_plan.undominated

    def keep_all(*args):
        dropped.append(int((~reduce(*args)).sum()))
        return np.ones(len(args[0]), dtype=bool)

    monkeypatch.setattr(epoch_plan, "undominated", keep_all)
    optima_all = _stage_optima(seed, monkeypatch)
    assert sum(dropped) > 0  # the reduction had something to drop
    assert len(optima) == 6  # six 10-s rounds, two stages each
    np.testing.assert_allclose(optima[:, 0], optima_all[:, 0], atol=1e-6)
    np.testing.assert_allclose(optima[:, 1], optima_all[:, 1], rtol=1e-7, atol=1e-6)


def test_check_budget_by_hand():
    """``work`` units give ``work // columns**2`` checks (options, drops and gates)."""
    from perllm_opt.milp.data import AssignmentData

    data = AssignmentData(
        n_items=3,
        option_item=np.array([0, 0, 1, 1, 2, 2, 2]),
        option_cost=np.zeros(7),
        capacity=np.ones(1),
        usage_option=np.arange(7),
        usage_resource=np.zeros(7, dtype=np.int64),
        usage_amount=np.ones(7),
        drop_cost=np.ones(3),
        gate_cost=np.ones(2),
        option_gate_option=np.array([0, 1]),
        option_gate_gate=np.array([0, 1]),
    )
    assert epoch_plan.check_limit(data, 1000) == 6  # 7 + 3 + 2 = 12 columns: 1000 // 144
    assert epoch_plan.check_limit(data, 5) == 1
    assert epoch_plan.check_limit(data, None) is None


def test_plans_stop_on_their_budget_not_the_clock(monkeypatch):
    """Every stage of both schedulers' rounds-mode plans is given its budget
    (``PLAN_WORK / columns**2`` interrupt checks, the same point on any machine), and the time
    limit is only the guard, far above any plan's seconds."""
    inst = build_instance(
        small_config(seed=2, horizon_s=90.0, workload=WorkloadConfig(rate_rps=3.0))
    )
    solve = epoch_plan.solve_assignment_direct
    seen = []

    def recorded(data, cfg, **kwargs):
        result = solve(data, cfg, **kwargs)
        seen.append((epoch_plan.check_limit(data, epoch_plan.PLAN_WORK), kwargs["max_checks"]))
        assert cfg.time_limit_s == epoch_plan.PLAN_GUARD_S
        return result

    monkeypatch.setattr(epoch_plan, "solve_assignment_direct", recorded)
    for name in ("oracle_milp", "cs_ucb"):
        simulate(inst, scheduler_from_conf(name), RngStreams(2).stream("o"))
    assert seen and all(want == got for want, got in seen)
    assert epoch_plan.PLAN_GUARD_S >= 60.0
