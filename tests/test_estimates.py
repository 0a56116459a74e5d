"""What schedulers estimate (perllm_opt/schedulers/estimates.py) and know
(perllm_opt/simulation/knowledge.py): linear coefficients against direct evaluation, agreement
with the option table given the truth, and the expected token counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import profile_energy_j, profile_time_s

from perllm_opt.schedulers.estimates import candidate_models, typical_energy_j
from perllm_opt.simulation.knowledge import oracle_info, public_info
from perllm_opt.workload.laws import expected_output_tokens, expected_tokens


@given(
    up=st.floats(0.0, 1e8),
    prompt=st.floats(1.0, 5000.0),
    which=st.integers(0, 10_000),
)
def test_linear_models_match_direct_evaluation(small_instance, up, prompt, which):
    info = public_info(small_instance)
    models = candidate_models(info)
    key = which % len(info.templates)
    t, cm = info.templates[key], models[key]
    time_s, _ = profile_time_s(info, t, up, prompt)
    energy = profile_energy_j(info, t, up, prompt, np.ones(info.n_servers))  # no wake-up
    np.testing.assert_allclose(cm.dispatch_time_s(up, prompt), time_s, rtol=1e-9)
    np.testing.assert_allclose(cm.energy_j(up, prompt), energy, rtol=1e-9, atol=1e-12)


def test_wake_energy(small_instance):
    info = public_info(small_instance)
    for t, cm in zip(info.templates, candidate_models(info), strict=True):
        idle = np.asarray(info.server_idle_power_w)[t.server]
        sleeps = np.asarray(info.server_can_sleep)[t.server]
        np.testing.assert_allclose(cm.wake_j, np.where(sleeps, idle * info.wake_s, 0.0))


def test_estimates_equal_the_option_table_given_the_truth(hand_instance):
    """With the true speed and slowdown and a request's own output length as the 'mean',
    the estimate is exactly the option table's D_tran + D_infer: one set of formulas."""
    inst = hand_instance
    info = public_info(inst)
    opts = inst.options
    for i in range(inst.n_requests):
        s = int(inst.requests.service[i])
        mean_out = np.asarray(info.mean_output_tokens, dtype=float).copy()
        mean_out[s] = inst.requests.output_tokens[i]
        models = candidate_models(
            info,
            speed_factor=inst.dynamics.speed_factor,
            slowdown=inst.dynamics.slowdown[:, inst.request_round[i]],
            mean_output_tokens=mean_out,
        )
        cm = models[int(inst.requests.zone[i]) * len(inst.services) + s]
        sl = slice(int(opts.ptr[i]), int(opts.ptr[i + 1]))
        est = cm.dispatch_time_s(
            float(inst.request_up_bits[i]), float(inst.requests.prompt_tokens[i])
        )
        np.testing.assert_allclose(est, opts.tran_s[sl] + opts.infer_s[sl], rtol=1e-12)


def test_estimates_equal_the_option_table_on_the_default_model(small_instance):
    inst = small_instance
    info = public_info(inst)
    opts = inst.options
    rng = np.random.default_rng(0)
    for i in rng.choice(inst.n_requests, size=15, replace=False):
        s = int(inst.requests.service[i])
        mean_out = np.asarray(info.mean_output_tokens, dtype=float).copy()
        mean_out[s] = inst.requests.output_tokens[i]
        cm = candidate_models(
            info,
            speed_factor=inst.dynamics.speed_factor,
            slowdown=inst.dynamics.slowdown[:, inst.request_round[i]],
            mean_output_tokens=mean_out,
        )[int(inst.requests.zone[i]) * len(inst.services) + s]
        sl = slice(int(opts.ptr[i]), int(opts.ptr[i + 1]))
        est = cm.dispatch_time_s(
            float(inst.request_up_bits[i]), float(inst.requests.prompt_tokens[i])
        )
        np.testing.assert_allclose(est, opts.tran_s[sl] + opts.infer_s[sl], rtol=1e-9)


def test_typical_energy_is_positive_per_service(small_instance):
    info = public_info(small_instance)
    scale = typical_energy_j(info, candidate_models(info))
    assert scale.shape == (info.n_services,)
    assert np.all(scale >= 1.0)


def test_expected_tokens_by_hand():
    # No spread: the median itself, rounded and clipped.
    assert expected_tokens(64.0, 0.0, 4, 256) == pytest.approx(64.0)
    assert expected_tokens(64.4, 0.0, 4, 256) == pytest.approx(64.0)
    assert expected_tokens(1000.0, 0.0, 4, 256) == pytest.approx(256.0)
    assert expected_tokens(1.0, 0.0, 4, 256) == pytest.approx(4.0)
    # A wide log-normal clipped at the median: half the mass at the cap, the rest below.
    e = expected_tokens(100.0, 2.0, 1, 100)
    assert 50.0 < e < 100.0


def test_expected_tokens_matches_monte_carlo():
    rng = np.random.default_rng(1)
    draws = np.clip(np.rint(64.0 * np.exp(0.6 * rng.standard_normal(1_000_000))), 4, 256)
    assert expected_tokens(64.0, 0.6, 4, 256) == pytest.approx(draws.mean(), rel=3e-3)
    # The log-normal mean exp(sigma^2 / 2) x median, before clipping: 64 e^0.18 = 76.6.
    assert expected_tokens(64.0, 0.6, 1, 10**9) == pytest.approx(64.0 * np.exp(0.18), rel=2e-3)


def test_public_and_oracle_info(small_instance):
    inst = small_instance
    info = public_info(inst)
    np.testing.assert_allclose(info.mean_output_tokens, expected_output_tokens(inst.services))
    assert np.isinf(info.nominal_bandwidth_mbps[-1])
    np.testing.assert_array_equal(
        info.nominal_bandwidth_mbps[:-1], inst.topology.link_bandwidth_mbps
    )
    orc = oracle_info(inst)
    np.testing.assert_array_equal(orc.speed_factor, inst.dynamics.speed_factor)
    # Expected slowdown of a walk uniform on [1, slowdown_max]: (1 + 1.5) / 2.
    np.testing.assert_allclose(orc.expected_slowdown, 1.25)
    # Fluctuating links (the WAN) average (0.3 + 1) / 2 of nominal; others are nominal.
    fl = inst.topology.link_fluctuates
    np.testing.assert_allclose(
        orc.expected_bandwidth_mbps[:-1][fl], inst.topology.link_bandwidth_mbps[fl] * 0.65
    )
    np.testing.assert_allclose(
        orc.expected_bandwidth_mbps[:-1][~fl], inst.topology.link_bandwidth_mbps[~fl]
    )


def test_oracle_mean_output_on_a_trace_is_the_population_mean(hand_instance):
    orc = oracle_info(hand_instance)
    # One service type; outputs 50, 20, 100, 200 in the window.
    np.testing.assert_allclose(orc.mean_output_tokens, [(50 + 20 + 100 + 200) / 4])
