"""Delay and energy formulas (perllm_opt/instance/delays.py) and the option table built from them
(perllm_opt/instance/options.py): hand-computed values, the decode floor, cut-offs and on-time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import candidate, small_config

from perllm_opt.instance import delays
from perllm_opt.instance.build import build_instance
from perllm_opt.instance.options import build_option_table


def test_bits():
    # 4 bytes/token: 100 tokens + 1000 attachment bytes = 1400 B = 11200 bits.
    assert delays.uplink_bits(100, 1000.0, 4.0) == 11200.0
    assert delays.downlink_bits(50, 4.0) == 1600.0


def test_transmission_time_and_energy():
    # 8 Mbit at 2 Mbps = 4 s, plus 20 ms there and back.
    assert delays.transmission_time_s(8e6, 2.0, 0.020) == pytest.approx(4.04)
    # 1e6 bits over a path of 0.3 + 1.7 uJ/bit.
    assert delays.transmission_energy_j(1e6, 2.0e-6) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("phi", "floor", "decode_tok_s", "speed", "expected"),
    [
        (1.0, 0.05, 40.0, 1.0, 0.05),  # 1 / 40 = 0.025 below the floor: the floor binds
        (0.25, 0.05, 40.0, 1.0, 0.1),  # 1 / (0.25 * 40) = 0.1 above the floor
        (0.5, 0.05, 40.0, 1.0, 0.05),  # exactly at the floor
        (0.25, 0.05, 40.0, 2.0, 0.05),  # twice as fast a device halves the time
        (1.0, 0.0737, 44.5, 1.0, 0.0737),  # Xeon 4214R, llama2-7b, full share
    ],
)
def test_decode_time_has_a_floor(phi, floor, decode_tok_s, speed, expected):
    assert delays.decode_s_per_token(phi, floor, decode_tok_s, speed) == pytest.approx(expected)


def test_prefill_scales_with_share_and_speed():
    assert delays.prefill_s_per_token(0.25, 100.0) == pytest.approx(0.04)
    assert delays.prefill_s_per_token(1.0, 100.0, 0.5) == pytest.approx(0.02)


def test_inference_time_and_energy():
    # 100 prompt tokens at 0.04 s + 50 output tokens at 0.1 s, 1.5x slowdown.
    assert delays.inference_time_s(100, 50, 0.04, 0.1, 1.5) == pytest.approx(13.5)
    assert delays.inference_energy_j(200.0, 0.5, 10.0) == pytest.approx(1000.0)
    # Idle: 80 W x (30 s on - 12 busy share-seconds).
    assert delays.idle_energy_j(80.0, 30.0, 12.0) == pytest.approx(1440.0)


def test_formulas_broadcast():
    phi = np.asarray([0.125, 0.25, 0.5, 1.0])
    got = delays.decode_s_per_token(phi, 0.01, 200.0)
    np.testing.assert_allclose(got, [0.04, 0.02, 0.01, 0.01])


def _table(inst, deadline=None, output=None, prompt=None, wait=None, slowdown=None):
    req = inst.requests
    return build_option_table(
        inst.templates,
        len(inst.services),
        req.zone,
        req.service,
        inst.request_round,
        inst.request_wait_s if wait is None else wait,
        req.prompt_tokens if prompt is None else prompt,
        req.output_tokens if output is None else output,
        req.deadline_s if deadline is None else deadline,
        inst.request_up_bits,
        inst.request_down_bits,
        inst.dynamics.speed_factor,
        inst.dynamics.slowdown if slowdown is None else slowdown,
        inst.round_s,
    )


def test_option_table_by_hand_all_candidates_of_request0(hand_instance):
    """Request 0 of the hand instance (100 prompt / 50 output tokens, wait 30 s, deadline
    35 s) on each of its 8 candidates."""
    inst = hand_instance
    opts = inst.options
    # (server, phi, rate) -> (tran, infer)
    cases = {
        ("e", 0.25, 1.0): (3200 / 1e6 + 0.010, 100 / 25 + 50 * 0.1),
        ("e", 0.25, 10.0): (3200 / 1e7 + 0.010, 100 / 25 + 50 * 0.1),
        # full share: 1/40 = 0.025 s/token is faster than the 0.05 floor
        ("e", 1.0, 1.0): (3200 / 1e6 + 0.010, 100 / 100 + 50 * 0.05),
        ("e", 1.0, 10.0): (3200 / 1e7 + 0.010, 100 / 100 + 50 * 0.05),
        ("c", 0.125, 1.0): (3200 / 1e6 + 0.040, 100 / 250 + 50 * 0.02),
        ("c", 0.125, 10.0): (3200 / 1e7 + 0.040, 100 / 250 + 50 * 0.02),
        ("c", 0.5, 1.0): (3200 / 1e6 + 0.040, 100 / 1000 + 50 * 0.01),
        ("c", 0.5, 10.0): (3200 / 1e7 + 0.040, 100 / 1000 + 50 * 0.01),
    }
    assert opts.ptr[1] - opts.ptr[0] == len(cases)
    for (srv, phi, rate), (tran, infer) in cases.items():
        o = int(opts.ptr[0]) + candidate(inst, 0, srv, phi, rate)
        assert opts.tran_s[o] == pytest.approx(tran, rel=1e-12)
        assert opts.infer_s[o] == pytest.approx(infer, rel=1e-12)
        assert opts.latency_s[o] == pytest.approx(30.0 + tran + infer, rel=1e-12)
        assert bool(opts.completes[o])
        assert bool(opts.on_time[o]) == (30.0 + tran + infer <= 35.0)
        assert opts.run_s[o] == pytest.approx(infer, rel=1e-12)
        active = 50.0 if srv == "e" else 800.0
        assert opts.energy_infer_j[o] == pytest.approx(active * phi * infer, rel=1e-12)
        per_bit = 0.5e-6 if srv == "e" else 2e-6
        assert opts.energy_tran_j[o] == pytest.approx(4800 * per_bit, rel=1e-12)
        assert opts.busy_share_s[o] == pytest.approx(phi * infer, rel=1e-12)
    # Only the edge at a quarter share (39.01 s) misses the 35 s deadline.
    late = [k for k in cases if not opts.on_time[int(opts.ptr[0]) + candidate(inst, 0, *k)]]
    assert sorted(late) == [("e", 0.25, 1.0), ("e", 0.25, 10.0)]


def test_cut_off_runs_until_the_round_ends(hand_instance):
    """Request 3 (1000 / 200 tokens) on the edge at a quarter share needs 60 s: it is cut
    off, holds its share for tau - D_tran and is never on time, even with a huge deadline."""
    inst = hand_instance
    o = int(inst.options.ptr[3]) + candidate(inst, 3, "e", 0.25, 1.0)
    tran = 32000 / 1e6 + 0.010
    for opts in (inst.options, _table(inst, deadline=np.full(4, 1e6))):
        assert opts.infer_s[o] == pytest.approx(60.0)
        assert not opts.completes[o]
        assert not opts.on_time[o]
        assert opts.run_s[o] == pytest.approx(30.0 - tran)
        assert opts.energy_infer_j[o] == pytest.approx(50.0 * 0.25 * (30.0 - tran))


def test_on_time_needs_latency_within_deadline(hand_instance):
    inst = hand_instance
    o = int(inst.options.ptr[0]) + candidate(inst, 0, "c", 0.5, 10.0)
    latency = 30.0 + 3200 / 1e7 + 0.04 + 0.1 + 0.5  # 30.64032
    tight = _table(inst, deadline=np.full(4, latency - 1e-6))
    loose = _table(inst, deadline=np.full(4, latency + 1e-6))
    assert not tight.on_time[o] and tight.completes[o]
    assert loose.on_time[o]


def test_completion_at_the_round_end(hand_instance):
    """An option whose D_tran + D_infer reaches tau completes; a little slower is cut off."""
    inst = hand_instance
    k = candidate(inst, 0, "e", 1.0, 1.0)
    o = int(inst.options.ptr[0]) + k
    tran = 3200 / 1e6 + 0.010
    # At full share D_infer = (100 * 0.01 + 50 * 0.05) s = 3.5 s; a slowdown s with
    # 3.5 s = 30 - D_tran puts the option on the round's end.
    s = (30.0 - tran) / 3.5
    slow = np.full_like(inst.dynamics.slowdown, s)
    opts = _table(inst, slowdown=slow, deadline=np.full(4, 1e6))
    assert opts.tran_s[o] + opts.infer_s[o] == pytest.approx(30.0, abs=1e-12)
    assert opts.completes[o]
    assert opts.run_s[o] == pytest.approx(opts.infer_s[o])
    slow_more = np.full_like(inst.dynamics.slowdown, s * 1.001)
    opts2 = _table(inst, slowdown=slow_more, deadline=np.full(4, 1e6))
    assert not opts2.completes[o]
    assert opts2.run_s[o] == pytest.approx(30.0 - tran)


def test_slowdown_uses_the_request_round(hand_instance):
    inst = hand_instance
    slow = np.ones_like(inst.dynamics.slowdown)
    slow[:, 1] = 2.0  # round 1 only
    opts = _table(inst, slowdown=slow)
    o0 = int(opts.ptr[0]) + candidate(inst, 0, "c", 0.5, 10.0)
    o2 = int(opts.ptr[2]) + candidate(inst, 2, "c", 0.5, 10.0)
    assert opts.infer_s[o0] == pytest.approx(0.6)
    assert opts.infer_s[o2] == pytest.approx(2.0 * (0.1 + 100 * 0.01))


@given(seed=st.integers(0, 2**16), preset=st.sampled_from(["paper", "large"]))
def test_option_table_invariants(seed, preset):
    from perllm_opt.config import TopologyConfig, WorkloadConfig

    inst = build_instance(
        small_config(
            seed=seed,
            horizon_s=60.0,
            workload=WorkloadConfig(rate_rps=0.5),
            topology=TopologyConfig(preset=preset),
        )
    )
    o = inst.options
    tau = inst.round_s
    assert o.ptr[0] == 0 and o.ptr[-1] == len(o)
    assert np.all(np.diff(o.ptr) >= 0)
    # CSR: option k of request i is ptr[i] + k.
    np.testing.assert_array_equal(o.request, np.repeat(np.arange(inst.n_requests), np.diff(o.ptr)))
    np.testing.assert_array_equal(np.arange(len(o)) - o.ptr[o.request], o.candidate)
    assert np.all(o.on_time <= o.completes)
    np.testing.assert_allclose(o.latency_s, inst.request_wait_s[o.request] + o.tran_s + o.infer_s)
    np.testing.assert_array_equal(o.completes, o.tran_s + o.infer_s <= tau)
    assert np.all(o.on_time == (o.completes & (o.latency_s <= inst.requests.deadline_s[o.request])))
    assert np.all((o.run_s >= 0) & (o.run_s <= tau))
    np.testing.assert_allclose(o.run_s[o.completes], o.infer_s[o.completes])
    np.testing.assert_allclose(
        o.run_s[~o.completes], np.clip(tau - o.tran_s[~o.completes], 0.0, None)
    )
    assert np.all(o.energy_tran_j >= 0) and np.all(o.energy_infer_j >= 0)
    act = inst.server_active_power_w[o.server]
    np.testing.assert_allclose(o.energy_infer_j, act * o.phi * o.run_s)
    # Every candidate's server hosts the request's model and is reachable from its zone.
    model = inst.service_model[inst.requests.service[o.request]]
    assert np.all(inst.deployment.hosts[o.server, model])
    assert np.all(inst.topology.path_reachable[inst.requests.zone[o.request], o.server])
    np.testing.assert_array_equal(
        o.path_id, inst.requests.zone[o.request] * inst.topology.n_servers + o.server
    )
