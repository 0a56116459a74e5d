"""The known-means oracle: nothing beats it in expectation round by round (rounds mode,
static dynamics), and it sees laws, not realisations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import SCHEDULER_NAMES, scheduler_from_conf, small_config, with_realisation

from perllm_opt.config import DynamicsConfig, SystemConfig, WorkloadConfig
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.evaluation.regret import outcome, regret_series
from perllm_opt.float_path import portable_env
from perllm_opt.instance.build import build_instance
from perllm_opt.instance.expected_options import expected_options
from perllm_opt.rng import RngStreams
from perllm_opt.simulation.simulator import simulate

DATA = Path(__file__).parent / "data"
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


@pytest.mark.parametrize("seed", range(20))
def test_nothing_beats_the_oracle_in_expectation(seed):
    """Acceptance (a): per round, every scheduler's pseudo-regret (the oracle's expected
    on-time requests minus its own, both on the expected option table) is >= 0 within the
    solver's tolerance: the oracle maximises them under the exact capacities, and every
    scheduler's round is a feasible choice. Rounds mode, static dynamics, 20 seeds."""
    inst = build_instance(
        small_config(
            seed=seed,
            horizon_s=40.0,
            workload=WorkloadConfig(rate_rps=2.0),
            system=SystemConfig(mode="rounds", round_s=10.0),
            dynamics=STATIC,
        )
    )
    table = expected_options(inst)
    outcomes = {}
    for name in SCHEDULER_NAMES:
        res = simulate(inst, scheduler_from_conf(name), RngStreams(seed).stream(name))
        ev = evaluate(inst, res.assignment)
        outcomes[name] = outcome(
            inst, table, res.assignment, ev.served_per_round, ev.objective_per_round
        )
    best = outcomes["oracle_milp"].expected_served
    assert best.sum() > 5
    series = regret_series(outcomes)
    worst = 0.0
    for name, o in outcomes.items():
        per_round = best - o.expected_served
        assert np.all(per_round >= -1e-6), (name, per_round)
        cum = series[series.scheduler == name]["pseudo_regret_requests"].to_numpy()
        np.testing.assert_allclose(cum, np.cumsum(per_round), atol=1e-9)
        worst = max(worst, per_round.sum())
    assert worst > 0.5  # the property is not vacuous: some scheduler does worse


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


@pytest.mark.slow
def test_decisions_are_pinned():
    """``oracle_milp`` is the reference of pseudo-regret: making its epoch plan faster
    (issue 24) must not change one decision. The options and statuses of a continuous and a
    rounds-mode run are those recorded before (tests/oracle_milp_pin.py says how), compared
    in a child process on numpy's portable floating-point path (:mod:`perllm_opt.float_path`;
    the two paths gave the same decisions when pinned)."""
    pinned = json.loads((DATA / "oracle_milp_decisions.json").read_text("utf-8"))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("oracle_milp_pin.py"))],
        capture_output=True,
        text=True,
        env=portable_env(dict(os.environ)),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(got) == set(pinned)
    for name, want in pinned.items():
        assert got[name]["requests"] == want["requests"], name
        assert got[name]["admitted"] == want["admitted"], name
        assert got[name]["option"] == want["option"], name
        assert got[name]["status"] == want["status"], name
