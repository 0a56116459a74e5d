"""Acceptance: at the default configuration (conf/config.yaml: paper preset, continuous
mode, 300 s at 5 requests/s, seed 0) CS-UCB serves more requests on time than the simple
baselines."""

from __future__ import annotations

import pytest

import perllm_opt.cli.main as cli_main
from perllm_opt.cli.config_store import compose_config
from perllm_opt.runner import run_experiment

RIVALS = ["random", "round_robin", "edge_only", "cloud_only"]


@pytest.fixture(scope="module")
def rows():
    cfg = compose_config(
        [f"schedulers=[cs_ucb,{','.join(RIVALS)}]", "optimal=false", "progress=false"]
    )
    app = cli_main.to_app_config(cfg)
    assert (
        app.seed,
        app.horizon_s,
        app.workload.rate_rps,
        app.topology.preset,
        app.system.mode,
    ) == (0, 300.0, 5.0, "paper", "continuous")
    result = run_experiment(app)
    return {r["scheduler"]: r for r in result.rows}


@pytest.mark.parametrize("rival", RIVALS)
def test_cs_ucb_serves_more_on_time(rows, rival):
    assert rows["cs_ucb"]["served"] > rows[rival]["served"], (
        rows["cs_ucb"]["served"],
        rows[rival]["served"],
    )


def test_same_instance_for_everyone(rows):
    assert len({r["requests"] for r in rows.values()}) == 1
    # About 5 requests/s for 300 s.
    assert 1300 < rows["cs_ucb"]["requests"] < 1700


def test_cs_ucb_spends_less_energy_per_request_served(rows):
    """PerLLM's claim is throughput and energy: per request served on time, CS-UCB spends
    less energy than the random and round-robin floors."""
    for rival in ("random", "round_robin"):
        assert rows["cs_ucb"]["energy_per_served_j"] < rows[rival]["energy_per_served_j"]
