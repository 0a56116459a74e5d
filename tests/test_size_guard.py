"""The size guard's estimate against the instance actually built, and its refusals."""

from __future__ import annotations

import pytest
from support import small_config

from perllm_opt.config import TopologyConfig, WorkloadConfig
from perllm_opt.errors import InputError
from perllm_opt.instance import build_instance, instance_size
from perllm_opt.size_guard import budget_bytes, check_size, estimate_size, machine_memory_bytes


@pytest.mark.parametrize("preset", ["paper", "large"])
def test_estimate_matches_the_built_instance(preset):
    cfg = small_config(
        seed=1,
        horizon_s=200.0,
        topology=TopologyConfig(preset=preset),
        workload=WorkloadConfig(rate_rps=4.0),
    )
    inst = build_instance(cfg)
    est = instance_size(
        cfg, inst.templates, inst.topology.n_links + inst.topology.n_servers, inst.round_s
    )
    # Requests: a Poisson count of mean 800 (sd 28); options: the template mean per request.
    assert est.requests == 800
    assert abs(inst.n_requests - est.requests) < 4 * 28.3
    per_request = len(inst.options.request) / inst.n_requests
    assert est.options / est.requests == pytest.approx(per_request, rel=0.1)
    assert est.rounds == inst.n_rounds


def test_refusal_names_the_keys_and_the_estimate():
    est = estimate_size(1e6, 20.0, rounds=300, intervals=60, n_links_servers=10)
    # 1e6 requests x 20 options x 3 KB, plus the base: about 61.6 GB.
    assert est.bytes == pytest.approx(200 * 2**20 + 2e7 * 3 * 2**10 + 300 * 64 + 600 * 32)
    with pytest.raises(InputError, match=r"horizon_s: got 'about 1,000,000 requests, "):
        check_size(est, 10.0, "horizon_s")
    check_size(est, 100.0, "horizon_s")  # fits a 100-GB budget
    optimum = estimate_size(1e6, 20.0, 300, 60, 10, optimal=True)
    assert optimum.bytes - est.bytes == pytest.approx(2e7 * 6 * 2**10)


def test_default_budget_is_half_the_memory():
    total = machine_memory_bytes()
    assert total is None or budget_bytes(None) == pytest.approx(total / 2)
    assert budget_bytes(2.5) == 2.5e9
