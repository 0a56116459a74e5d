"""The size guard's estimate against the instance actually built, and its refusals."""

from __future__ import annotations

import pytest
from support import small_config

from perllm_opt.config import TopologyConfig, WorkloadConfig
from perllm_opt.errors import InputError
from perllm_opt.instance.build import build_instance
from perllm_opt.instance.size_guard import (
    budget_bytes,
    check_size,
    estimate_size,
    instance_size,
    machine_memory_bytes,
)


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
    assert est.bytes == 200 * 2**20 + 2e7 * 3 * 2**10 + 300 * 192 + 600 * 32
    with pytest.raises(InputError, match=r"horizon_s: got 'about 1,000,000 requests, "):
        check_size(est, 10.0, "horizon_s")
    check_size(est, 100.0, "horizon_s")  # fits a 100-GB budget
    optimum = estimate_size(1e6, 20.0, 300, 60, 10, optimal=True)
    assert optimum.bytes - est.bytes == pytest.approx(2e7 * 6 * 2**10)


@pytest.mark.parametrize(
    "kwargs, key, term",
    [
        ({"rounds": 3e7}, "system.epoch_s", "rounds"),
        ({"bins": 3e6, "n_schedulers": 4}, "system.bin_s", "bins"),
        ({"sleep_blocks": 1e7, "n_sleep_servers": 3}, "system.sleep_block_s", "sleep_blocks"),
        ({"intervals": 3e7}, "dynamics.interval_s", "intervals"),
    ],
)
def test_refusal_names_the_key_behind_the_largest_term(kwargs, key, term):
    """Each term is priced by its own per-item cost, and a refusal names its key and says
    how much of the estimate it holds."""
    base = {"rounds": 30, "intervals": 1, "n_links_servers": 14}
    est = estimate_size(150, 17.0, **{**base, **kwargs})
    assert est.driver() == term
    costs = {
        "rounds": kwargs.get("rounds", 0) * 192,
        "bins": kwargs.get("bins", 0) * 288 * kwargs.get("n_schedulers", 1),
        "sleep_blocks": kwargs.get("sleep_blocks", 0) * 96 * kwargs.get("n_sleep_servers", 0),
        "intervals": kwargs.get("intervals", 0) * 32 * 14,
    }
    assert dict(est.terms)[term] == pytest.approx(costs[term])
    with pytest.raises(InputError, match=rf"^{key}: got 'about 150 requests.* GB of it for"):
        check_size(est, 0.3, "horizon_s, workload.rate_rps, topology")
    rounds_mode = {"rounds": "system.round_s", "bins": "system.round_s"}
    if term in rounds_mode:
        with pytest.raises(InputError, match=r"^system.round_s: got"):
            check_size(est, 0.3, "horizon_s", rounds_mode)


def test_counts_beyond_any_machine_stay_finite():
    est = estimate_size(float("inf"), 1e300, rounds=1e300, intervals=1e300, n_links_servers=9)
    assert est.bytes == 2**62 and est.requests == 2**62


def test_instance_estimate_counts_bins_and_sleep_blocks():
    """The instance's estimate counts the bins of the per-bin series and the sleep blocks of
    continuous mode (horizon over their lengths), and names rate levels for the options
    when there are ten or more."""
    from perllm_opt.config import SystemConfig
    from perllm_opt.instance.size_guard import size_keys

    system = SystemConfig(mode="continuous", bin_s=0.5, sleep_block_s=0.25)
    cfg = small_config(horizon_s=100.0, system=system)
    inst = build_instance(cfg)
    est = instance_size(
        cfg,
        inst.templates,
        inst.topology.n_links + inst.topology.n_servers,
        inst.round_s,
        n_sleep_servers=int(inst.topology.server_can_sleep.sum()),
    )
    assert est.bins == 200 and est.sleep_blocks == 400
    keys, terms = size_keys(cfg, "horizon_s")
    assert keys == "horizon_s" and terms["rounds"] == "system.epoch_s"
    many = SystemConfig(rate_levels_mbps=[float(r) for r in range(1, 11)])
    keys, _ = size_keys(small_config(system=many), "horizon_s")
    assert keys == "system.rate_levels_mbps, horizon_s"


def test_default_budget_is_half_the_memory():
    total = machine_memory_bytes()
    assert total is None or budget_bytes(None) == pytest.approx(total / 2)
    assert budget_bytes(2.5) == 2.5e9


def test_the_optimum_is_priced_for_what_its_solver_holds_at_once():
    """In continuous mode with the windowed search, no whole MILP above
    solver.whole_max_options options and no whole LP above solver.lp_max_options is built,
    so the optimum's per-option cost applies to at most the larger of the two (the GEANT
    hour at 20 requests/s, 2.4 million options: 22.5 GB before, 8.3 GB now); anywhere else
    it applies to every option."""
    from dataclasses import replace

    from perllm_opt.config import AppConfig, SolverConfig, SystemConfig
    from perllm_opt.instance.size_guard import OPTIMUM_OPTION_BYTES, OPTION_BYTES
    from perllm_opt.runner import optimum_options

    def size(in_solver):
        kw = dict(rounds=3600, intervals=0, n_links_servers=0)
        est = estimate_size(1e6, 2.0, optimal=True, optimum_options=in_solver, **kw)
        return dict(est.terms)["options"]

    assert size(None) == 2e6 * (OPTION_BYTES + OPTIMUM_OPTION_BYTES)
    assert size(1e5) == 2e6 * OPTION_BYTES + 1e5 * OPTIMUM_OPTION_BYTES
    assert size(1e9) == size(None)
    cont = AppConfig(system=SystemConfig(mode="continuous"), solver=SolverConfig())
    assert optimum_options(cont) == 100000.0
    wide = replace(cont.solver, whole_max_options=300000)
    assert optimum_options(replace(cont, solver=wide)) == 300000.0
    for other in (
        replace(cont, system=SystemConfig(mode="rounds")),
        replace(cont, placement="optimize"),
        replace(cont, solver=replace(cont.solver, lp_max_options=None)),
        replace(cont, solver=replace(cont.solver, window_s=60.0)),
        replace(cont, solver=replace(cont.solver, search=False)),
        replace(cont, solver=replace(cont.solver, objective="weighted")),
    ):
        assert optimum_options(other) is None
