"""Dynamics intervals that floating point cannot hit exactly (0.1 s): the simulator reads the
link capacity of the same interval as the evaluator (``Dynamics.interval_of``), so no plan it
admits breaks a link's rate in the evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from perllm_opt import load_config
from perllm_opt.runner import run_experiment
from perllm_opt.simulation.continuous import _link_fits


def test_a_boundary_time_reads_the_interval_it_opens():
    # 26.0 / 0.1 is 259.99999999999997 in floating point: 26.0 opens interval 260.
    capacity = [100.0] * 300
    capacity[260] = 10.0
    assert not _link_fits([], 26.0, 26.05, 20.0, capacity, 0.1)
    assert _link_fits([], 25.95, 25.999, 20.0, capacity, 0.1)


@pytest.mark.parametrize("interval_s", [0.1, 0.01])
def test_sub_epoch_bandwidth_steps_evaluate_without_a_capacity_error(interval_s):
    """Before the fix, random's plan broke a link at t = 25 s and bwk's at 26 s (interval
    0.1 s): the simulator had read the interval before the evaluator's."""
    cfg = load_config(
        [
            f"dynamics.interval_s={interval_s}",
            "horizon_s=30",
            "schedulers=[random,bwk]",
            "optimal=false",
            "progress=false",
        ]
    )
    rows = run_experiment(cfg, progress=False).rows
    assert {r["scheduler"] for r in rows} == {"random", "bwk"}
    assert all(np.isfinite(r["energy_j"]) and r["served"] > 0 for r in rows)
