"""The known-means oracle: nothing beats it in expectation round by round (rounds mode,
static dynamics), and it sees laws, not realisations."""

from __future__ import annotations

import numpy as np
import pytest
from support import SCHEDULER_NAMES, scheduler_from_conf, small_config, with_realisation

from perllm_opt.assignment import ADMITTED
from perllm_opt.config import DynamicsConfig, SystemConfig, WorkloadConfig
from perllm_opt.expected_options import expected_options
from perllm_opt.instance import build_instance
from perllm_opt.rng import RngStreams
from perllm_opt.simulator import simulate

STATIC = DynamicsConfig(bandwidth_links="none", slowdown_max=1.0, slowdown_step=0.0)


def rounds_instance(seed: int, dynamics: DynamicsConfig = STATIC, horizon_s: float = 120.0):
    return build_instance(
        small_config(
            seed=seed,
            horizon_s=horizon_s,
            workload=WorkloadConfig(rate_rps=2.0),
            system=SystemConfig(mode="rounds"),
            dynamics=dynamics,
        )
    )


def expected_on_time_per_round(inst, assignment, p):
    admitted = assignment.status == ADMITTED
    rnd = inst.request_round[admitted]
    return np.bincount(rnd, weights=p[assignment.option[admitted]], minlength=inst.n_rounds)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nothing_beats_the_oracle_in_expectation(seed):
    """Per round, every scheduler's expected on-time requests (its decisions scored on the
    expected option table) are at most the oracle's: the oracle maximises them under the
    exact capacities, and every scheduler's round is a feasible choice."""
    inst = rounds_instance(seed)
    p = expected_options(inst).p_on_time
    run = {
        name: simulate(inst, scheduler_from_conf(name), RngStreams(seed).stream(name)).assignment
        for name in SCHEDULER_NAMES
    }
    best = expected_on_time_per_round(inst, run["oracle_milp"], p)
    assert best.sum() > 10
    for name, a in run.items():
        mine = expected_on_time_per_round(inst, a, p)
        assert np.all(mine <= best + 1e-6), (name, np.flatnonzero(mine > best + 1e-6))


def test_decisions_do_not_depend_on_realisations():
    """Other realised output lengths and slowdowns (same laws): the same decisions."""
    dyn = DynamicsConfig(bandwidth_links="none")
    inst = rounds_instance(4, dyn, horizon_s=60.0)
    rng = np.random.default_rng(0)
    other = with_realisation(
        inst,
        output_tokens=rng.permutation(inst.requests.output_tokens),
        slowdown=rng.uniform(1.0, dyn.slowdown_max, inst.dynamics.slowdown.shape),
    )
    assert not np.array_equal(other.options.on_time, inst.options.on_time)
    a = simulate(inst, scheduler_from_conf("oracle_milp"), np.random.default_rng(0)).assignment
    b = simulate(other, scheduler_from_conf("oracle_milp"), np.random.default_rng(0)).assignment
    np.testing.assert_array_equal(a.option, b.option)
    np.testing.assert_array_equal(a.status, b.status)
