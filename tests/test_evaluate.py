"""The evaluator on the hand-made instance (every number worked out by hand from the formulas
of docs/model.md) and its invariants on simulated assignments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import (
    DISTINCT_SCHEDULERS,
    assignment_from,
    build_hand_instance,
    option_of,
    scheduler_from_conf,
    small_config,
)

from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.evaluation.per_bin import CapacityViolationError
from perllm_opt.instance.assignment import ADMITTED, DECLINED, DROPPED, REFUSED, Assignment
from perllm_opt.instance.build import build_instance
from perllm_opt.rng import RngStreams
from perllm_opt.simulation.simulator import simulate

TAU = 30.0

# Assignment A on the hand instance (support.py):
#   req0 (round 0, wait 30, 100/50 tokens) -> edge, phi 0.25, 1 Mbps   completes, late
#   req1 (round 0, wait 20, 200/20)        -> cloud, phi 0.125, 1 Mbps on time
#   req2 (round 1, wait 20, 100/100)       -> cloud, phi 0.5, 10 Mbps  on time
#   req3 (round 1, wait 15, 1000/200)      -> edge, phi 0.25, 1 Mbps   cut off at round end
CHOICE_A = {
    0: ("e", 0.25, 1.0),
    1: ("c", 0.125, 1.0),
    2: ("c", 0.5, 10.0),
    3: ("e", 0.25, 1.0),
}

# Hand arithmetic (bits = 8 * 4 bytes/token * tokens = 32 * tokens).
# edge path: 5 ms, 0.5e-6 J/bit; cloud path: 1 + 19 = 20 ms, (0.1 + 1.9)e-6 = 2e-6 J/bit.
# edge, phi 0.25: prefill 1/(0.25*100) = 0.04 s/tok, decode max(0.05, 1/(0.25*40)) = 0.1
# cloud (2 devices pooled: prefill 2000, decode 400 tok/s, floor 0.01, active 800 W, idle 200 W)
#   phi 0.125: prefill 1/(0.125*2000) = 0.004, decode max(0.01, 1/(0.125*400)) = 0.02
#   phi 0.5:   prefill 1/(0.5*2000) = 0.001,   decode max(0.01, 1/(0.5*400)=0.005) = 0.01
TRAN = {
    0: 3200 / 1e6 + 2 * 0.005,  # 0.0132
    1: 6400 / 1e6 + 2 * 0.020,  # 0.0464
    2: 3200 / 10e6 + 2 * 0.020,  # 0.04032
    3: 32000 / 1e6 + 2 * 0.005,  # 0.042
}
INFER = {
    0: 100 * 0.04 + 50 * 0.1,  # 9.0
    1: 200 * 0.004 + 20 * 0.02,  # 1.2
    2: 100 * 0.001 + 100 * 0.01,  # 1.1
    3: 1000 * 0.04 + 200 * 0.1,  # 60.0 > the round: cut off
}
WAIT = {0: 30.0, 1: 20.0, 2: 20.0, 3: 15.0}
RUN = {0: 9.0, 1: 1.2, 2: 1.1, 3: TAU - TRAN[3]}  # 29.958
PHI = {0: 0.25, 1: 0.125, 2: 0.5, 3: 0.25}
ACTIVE = {0: 50.0, 1: 800.0, 2: 800.0, 3: 50.0}
E_TRAN = {
    0: (3200 + 1600) * 0.5e-6,
    1: (6400 + 640) * 2e-6,
    2: (3200 + 3200) * 2e-6,
    3: (32000 + 6400) * 0.5e-6,
}
E_INFER = {i: ACTIVE[i] * PHI[i] * RUN[i] for i in range(4)}  # 112.5, 120, 440, 374.475
# Idle: edge on in rounds 0 and 1 only (it may sleep), cloud on in all three rounds.
E_IDLE = (
    10.0 * (TAU - 0.25 * 9.0)  # edge, round 0: 277.5
    + 200.0 * (TAU - 0.125 * 1.2)  # cloud, round 0: 5970
    + 10.0 * (TAU - 0.25 * RUN[3])  # edge, round 1: 225.105
    + 200.0 * (TAU - 0.5 * 1.1)  # cloud, round 1: 5890
    + 0.0  # edge asleep in round 2
    + 200.0 * TAU  # cloud, round 2: 6000
)


def test_hand_instance_as_built(hand_instance):
    """The hand instance is what support.py describes (guards the arithmetic below)."""
    inst = hand_instance
    assert inst.n_requests == 4
    assert inst.n_rounds == 3
    np.testing.assert_array_equal(inst.request_round, [0, 0, 1, 1])
    np.testing.assert_allclose(inst.request_wait_s, [30, 20, 20, 15])
    np.testing.assert_allclose(inst.requests.deadline_s, 35.0)
    np.testing.assert_array_equal(inst.requests.prompt_tokens, [100, 200, 100, 1000])
    np.testing.assert_array_equal(inst.requests.output_tokens, [50, 20, 100, 200])
    np.testing.assert_allclose(inst.request_up_bits, [3200, 6400, 3200, 32000])
    np.testing.assert_allclose(inst.request_down_bits, [1600, 640, 3200, 6400])
    # KV: 1e6 B/token x (prompt + output cap 300); budgets: 2 GB - 0.5 GB, 20 GB - 2 GB.
    np.testing.assert_allclose(inst.request_kv_bytes, [4e8, 5e8, 4e8, 1.3e9])
    np.testing.assert_allclose(inst.server_kv_budget_bytes, [1.5e9, 18e9])
    np.testing.assert_allclose(inst.server_idle_power_w, [10.0, 200.0])
    np.testing.assert_allclose(inst.server_active_power_w, [50.0, 800.0])
    np.testing.assert_allclose(inst.topology.path_latency_s, [[0.005, 0.020]])
    np.testing.assert_allclose(inst.topology.path_energy_j_per_bit, [[0.5e-6, 2e-6]])
    # 2 shares x 2 rates on each server.
    assert all(len(t) == 8 for t in inst.templates)
    np.testing.assert_allclose(inst.dynamics.bandwidth_mbps[2], 10.0)


def test_option_rows_of_assignment_a(hand_instance):
    opts = hand_instance.options
    for i, choice in CHOICE_A.items():
        o = option_of(hand_instance, i, *choice)
        assert opts.request[o] == i
        assert opts.tran_s[o] == pytest.approx(TRAN[i], rel=1e-12)
        assert opts.infer_s[o] == pytest.approx(INFER[i], rel=1e-12)
        assert opts.latency_s[o] == pytest.approx(WAIT[i] + TRAN[i] + INFER[i], rel=1e-12)
        assert opts.run_s[o] == pytest.approx(RUN[i], rel=1e-12)
        assert opts.energy_tran_j[o] == pytest.approx(E_TRAN[i], rel=1e-12)
        assert opts.energy_infer_j[o] == pytest.approx(E_INFER[i], rel=1e-12)
    completes = [bool(opts.completes[option_of(hand_instance, i, *CHOICE_A[i])]) for i in range(4)]
    on_time = [bool(opts.on_time[option_of(hand_instance, i, *CHOICE_A[i])]) for i in range(4)]
    assert completes == [True, True, True, False]
    # req0 completes at 30 + 9.0132 = 39.0132 s > 35 s: late.
    assert on_time == [False, True, True, False]


def test_evaluate_assignment_a_by_hand(hand_instance):
    ev = evaluate(hand_instance, assignment_from(hand_instance, CHOICE_A))
    m = ev.metrics
    assert m.requests == 4
    assert m.served == 2
    assert m.late == 2
    assert m.cut_off == 1
    assert m.refused == 0 and m.declined == 0 and m.refused_capacity == 0 and m.dropped == 0
    assert m.served_fraction == pytest.approx(0.5)
    assert m.throughput_rps == pytest.approx(2 / 90)
    e_tran = sum(E_TRAN.values())  # 0.04848
    e_infer = sum(E_INFER.values())  # 1046.975
    assert e_tran == pytest.approx(0.04848)
    assert e_infer == pytest.approx(1046.975)
    assert pytest.approx(18362.605) == E_IDLE
    assert m.energy_tran_j == pytest.approx(e_tran, rel=1e-9)
    assert m.energy_infer_j == pytest.approx(e_infer, rel=1e-9)
    assert m.energy_idle_j == pytest.approx(E_IDLE, rel=1e-9)
    assert m.energy_j == pytest.approx(e_tran + e_infer + E_IDLE, rel=1e-9)
    weighted = 2.0 * e_tran + 1.0 * e_infer + 0.5 * E_IDLE
    assert m.weighted_energy_j == pytest.approx(weighted, rel=1e-9)
    # Two requests not served on time, 1000 weighted J each: 12228.37446.
    assert m.objective == pytest.approx(1000.0 * 2 + weighted, rel=1e-9)
    assert m.objective == pytest.approx(12228.37446, rel=1e-9)
    assert m.energy_per_served_j == pytest.approx((e_tran + e_infer + E_IDLE) / 2, rel=1e-9)
    # Latency percentiles over the completed requests (numpy's linear interpolation):
    # sorted 21.14032 (req2), 21.2464 (req1), 39.0132 (req0).
    lat = sorted(WAIT[i] + TRAN[i] + INFER[i] for i in (0, 1, 2))
    assert lat == pytest.approx([21.14032, 21.2464, 39.0132])
    assert m.latency_p50_s == pytest.approx(21.2464, rel=1e-12)
    assert m.latency_p95_s == pytest.approx(21.2464 + 0.9 * (39.0132 - 21.2464), rel=1e-12)
    assert m.latency_p99_s == pytest.approx(21.2464 + 0.98 * (39.0132 - 21.2464), rel=1e-12)
    # Per-round series.
    np.testing.assert_array_equal(ev.served_per_round, [1, 1, 0])
    r0 = 2 * (E_TRAN[0] + E_TRAN[1]) + E_INFER[0] + E_INFER[1] + 0.5 * (277.5 + 5970.0)
    r1 = 2 * (E_TRAN[2] + E_TRAN[3]) + E_INFER[2] + E_INFER[3] + 0.5 * (225.105 + 5890.0)
    r2 = 0.5 * 6000.0
    np.testing.assert_allclose(ev.objective_per_round, [1000 + r0, 1000 + r1, r2], rtol=1e-9)
    np.testing.assert_allclose(
        ev.energy_per_round_j,
        [
            E_TRAN[0] + E_TRAN[1] + E_INFER[0] + E_INFER[1] + 277.5 + 5970.0,
            E_TRAN[2] + E_TRAN[3] + E_INFER[2] + E_INFER[3] + 225.105 + 5890.0,
            6000.0,
        ],
        rtol=1e-9,
    )


def test_evaluate_nothing_admitted_by_hand(hand_instance):
    """All declined: only the cloud idles (the edge sleeps), all four requests pay the penalty."""
    n = hand_instance.n_requests
    a = Assignment(np.full(n, -1), np.full(n, DECLINED, dtype=np.int8), "none")
    m = evaluate(hand_instance, a).metrics
    assert (m.served, m.late, m.refused, m.declined) == (0, 0, 4, 4)
    assert m.energy_tran_j == 0.0 and m.energy_infer_j == 0.0
    assert m.energy_idle_j == pytest.approx(3 * 200.0 * 30.0)
    assert m.objective == pytest.approx(4 * 1000.0 + 0.5 * 18000.0)
    assert m.throughput_rps == 0.0
    assert math.isnan(m.latency_p50_s) and math.isnan(m.energy_per_served_j)


def test_evaluate_counts_statuses(hand_instance):
    """declined / refused / dropped are told apart, and all count as not served."""
    option = np.asarray([option_of(hand_instance, 0, "c", 0.5, 10.0), -1, -1, -1])
    status = np.asarray([ADMITTED, DECLINED, REFUSED, DROPPED], dtype=np.int8)
    m = evaluate(hand_instance, Assignment(option, status, "mixed")).metrics
    # req0 on cloud phi 0.5 at 10 Mbps: 30 + 0.04032 + (0.1 + 50 * 0.01) = 30.64032 s on time.
    assert m.served == 1 and m.late == 0
    assert (m.refused, m.declined, m.refused_capacity, m.dropped) == (3, 1, 1, 1)
    assert m.latency_p50_s == pytest.approx(30.0 + 0.04032 + 0.6)
    # The edge never wakes: idle only on the cloud, less req0's busy share-seconds.
    assert m.energy_idle_j == pytest.approx(200.0 * (90.0 - 0.5 * 0.6))


def test_weights_change_only_the_objective(hand_files):
    inst = build_hand_instance(hand_files, weights=(0.0, 1.0, 1.0), drop_penalty_j=7.0)
    m = evaluate(inst, assignment_from(inst, CHOICE_A)).metrics
    assert m.energy_idle_j == pytest.approx(E_IDLE)
    assert m.energy_tran_j == pytest.approx(sum(E_TRAN.values()))
    assert m.objective == pytest.approx(7.0 * 2 + sum(E_INFER.values()) + E_IDLE)


@pytest.mark.parametrize(
    ("choice", "resource"),
    [
        # Both round-0 requests take the whole edge: 2 shares of compute.
        ({0: ("e", 1.0, 1.0), 1: ("e", 1.0, 1.0)}, "compute"),
        # Round 1 on the edge: 0.5 of compute but 4e8 + 1.3e9 > 1.5e9 bytes of KV.
        ({2: ("e", 0.25, 1.0), 3: ("e", 0.25, 1.0)}, "KV"),
        # Round 0 on the cloud at 10 Mbps each: 20 Mbps on the 10 Mbps WAN link.
        ({0: ("c", 0.125, 10.0), 1: ("c", 0.125, 10.0)}, "link"),
    ],
)
def test_capacity_violations_raise(hand_instance, choice, resource):
    with pytest.raises(CapacityViolationError, match=resource):
        evaluate(hand_instance, assignment_from(hand_instance, choice))


def test_capacity_at_the_limit_is_allowed(hand_instance):
    """Exactly full is no violation: 10 Mbps on the 10 Mbps WAN link, a share of 1 on the edge."""
    m = evaluate(
        hand_instance,
        assignment_from(hand_instance, {0: ("c", 0.5, 10.0), 1: ("e", 1.0, 1.0)}),
    ).metrics
    assert m.served + m.late == 2


def test_option_of_another_request_rejected(hand_instance):
    wrong = option_of(hand_instance, 1, "c", 0.5, 10.0)
    option = np.asarray([wrong, -1, -1, -1])
    status = np.asarray([ADMITTED, DECLINED, DECLINED, DECLINED], dtype=np.int8)
    with pytest.raises(ValueError, match="another request"):
        evaluate(hand_instance, Assignment(option, status, "bad"))


def test_assignment_consistency_checked():
    with pytest.raises(ValueError):
        Assignment(np.asarray([3, -1]), np.asarray([DECLINED, DECLINED], dtype=np.int8), "x")
    with pytest.raises(ValueError):
        Assignment(np.asarray([-1]), np.asarray([ADMITTED], dtype=np.int8), "x")
    a = Assignment.from_options(np.asarray([-1, 5]), "m")
    np.testing.assert_array_equal(a.status, [DROPPED, ADMITTED])


def test_drop_penalty_dominates_energy(hand_files):
    """The default penalty exceeds the largest weighted energy any round can have:
    sum over the round's requests of their costliest option, plus every server idling."""
    inst = build_hand_instance(hand_files, drop_penalty_j=None)
    opts = inst.options
    w_tran, w_infer, w_idle = inst.weights
    worst = {}
    for o in range(len(opts)):
        i = int(opts.request[o])
        e = w_tran * opts.energy_tran_j[o] + w_infer * opts.energy_infer_j[o]
        worst[i] = max(worst.get(i, 0.0), e)
    per_round = [0.0] * inst.n_rounds
    for i, e in worst.items():
        per_round[int(inst.request_round[i])] += e
    bound = max(per_round) + w_idle * (10.0 + 200.0) * 30.0
    assert inst.drop_penalty_j > bound
    assert inst.drop_penalty_j <= math.ceil(bound + 1.0)


@pytest.fixture(scope="module")
def simulated():
    """Every configured scheduler on two small instances of the default model."""
    out = []
    for seed in (0, 1):
        inst = build_instance(small_config(seed=seed))
        for name in DISTINCT_SCHEDULERS:
            res = simulate(inst, scheduler_from_conf(name), RngStreams(seed).stream(name))
            out.append((inst, name, res.assignment))
    return out


def test_metric_identities_on_simulated_assignments(simulated):
    for inst, name, a in simulated:
        ev = evaluate(inst, a)
        m = ev.metrics
        assert m.scheduler == name
        assert m.served + m.late + m.refused == m.requests == inst.n_requests
        assert m.refused == m.declined + m.refused_capacity + m.dropped
        assert m.cut_off <= m.late
        assert m.energy_j == pytest.approx(m.energy_tran_j + m.energy_infer_j + m.energy_idle_j)
        assert min(m.energy_tran_j, m.energy_infer_j, m.energy_idle_j) >= 0.0
        assert ev.objective_per_round.sum() == pytest.approx(m.objective)
        assert ev.served_per_round.sum() == m.served
        assert ev.energy_per_round_j.sum() == pytest.approx(m.energy_j)
        assert m.objective == pytest.approx(
            inst.drop_penalty_j * (m.requests - m.served) + m.weighted_energy_j
        )
        assert m.throughput_rps == pytest.approx(m.served / inst.horizon_s)
        if m.served + m.late - m.cut_off > 0:
            assert m.latency_p50_s <= m.latency_p95_s <= m.latency_p99_s
        # Idle energy is between 0 and every server on for the whole horizon.
        assert m.energy_idle_j <= inst.server_idle_power_w.sum() * inst.round_s * inst.n_rounds


def _own_idle(inst, option):
    """Idle energy recomputed with loops: P_idle (tau on - busy), edge servers off when idle."""
    opts = inst.options
    busy = np.zeros((inst.topology.n_servers, inst.n_rounds))
    count = np.zeros_like(busy)
    for i, o in enumerate(option):
        if o < 0:
            continue
        j, t = int(opts.server[o]), int(inst.request_round[i])
        busy[j, t] += opts.phi[o] * opts.run_s[o]
        count[j, t] += 1
    total = 0.0
    for j in range(inst.topology.n_servers):
        for t in range(inst.n_rounds):
            on = (not inst.topology.server_can_sleep[j]) or count[j, t] > 0
            total += inst.server_idle_power_w[j] * (inst.round_s * on - busy[j, t])
    return total


def test_idle_energy_matches_loop_recomputation(simulated):
    for inst, _, a in simulated:
        m = evaluate(inst, a).metrics
        assert m.energy_idle_j == pytest.approx(_own_idle(inst, a.option), rel=1e-9)


@given(data=st.data())
def test_random_subsets_of_a_valid_assignment_stay_valid(simulated, data):
    """Declining any subset of a valid assignment never violates capacity, never serves
    more, and changes the objective by exactly the penalty and energies of what was removed."""
    inst, _, a = data.draw(st.sampled_from(simulated))
    keep = np.asarray(
        data.draw(st.lists(st.booleans(), min_size=len(a.option), max_size=len(a.option))),
        dtype=bool,
    )
    option = np.where(keep, a.option, -1)
    status = np.where(option >= 0, ADMITTED, DECLINED).astype(np.int8)
    sub = Assignment(option, status, "sub")
    m_full, m_sub = evaluate(inst, a).metrics, evaluate(inst, sub).metrics
    assert m_sub.served <= m_full.served
    removed = a.option[(a.option >= 0) & ~keep]
    opts = inst.options
    assert m_full.energy_tran_j - m_sub.energy_tran_j == pytest.approx(
        opts.energy_tran_j[removed].sum(), abs=1e-6
    )
    assert m_full.energy_infer_j - m_sub.energy_infer_j == pytest.approx(
        opts.energy_infer_j[removed].sum(), abs=1e-6
    )
