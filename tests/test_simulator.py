"""The round-based simulator with every configured scheduler: capacity, accounting,
determinism, and what a scheduler may see."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from support import (
    DISTINCT_SCHEDULERS,
    SCHEDULER_NAMES,
    Scripted,
    candidate,
    scheduler_from_conf,
    small_config,
    spy_for,
    with_realisation,
)

from perllm_opt.config import DynamicsConfig, SystemConfig, TopologyConfig, WorkloadConfig
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.instance.assignment import ADMITTED, DECLINED, REFUSED
from perllm_opt.instance.build import build_instance
from perllm_opt.rng import RngStreams
from perllm_opt.schedulers.base import DECLINE, Scheduler, SchedulerError
from perllm_opt.simulation.knowledge import OracleInfo
from perllm_opt.simulation.simulator import simulate
from perllm_opt.simulation.view import RoundView, SystemInfo

INSTANCE_CONFIGS = {
    "paper": small_config(seed=0),
    "paper-seed3-busy": small_config(seed=3, workload=WorkloadConfig(rate_rps=3.0)),
    # A narrow, strongly fluctuating WAN: bandwidth is what refuses requests.
    "paper-narrow-wan": small_config(
        seed=1,
        horizon_s=90.0,
        workload=WorkloadConfig(rate_rps=2.0),
        topology=TopologyConfig(preset="paper", wan_bandwidth_mbps=30.0),
        dynamics=DynamicsConfig(bandwidth_links="all", bandwidth_min_fraction=0.1),
    ),
    "large-bursty": small_config(
        seed=2,
        horizon_s=60.0,
        workload=WorkloadConfig(kind="bursty", rate_rps=3.0),
        topology=TopologyConfig(preset="large"),
    ),
}


@pytest.fixture(scope="module")
def instances():
    return {k: build_instance(c) for k, c in INSTANCE_CONFIGS.items()}


class Runs(dict):
    """(instance key, scheduler name) -> (instance, assignment), simulated when first asked
    for: each pytest-xdist worker simulates only the combinations its tests use."""

    def __init__(self, instances):
        super().__init__()
        self.instances = instances

    def __missing__(self, pair):
        key, name = pair
        inst = self.instances[key]
        res = simulate(inst, scheduler_from_conf(name), RngStreams(7).stream(name))
        self[pair] = (inst, res.assignment)
        return self[pair]


@pytest.fixture(scope="module")
def runs(instances):
    return Runs(instances)


def own_usage(inst, option):
    """Compute share, KV bytes per (server, round) and rate per (link, round), by loops."""
    opts, topo = inst.options, inst.topology
    n_s, n_l, n_r = topo.n_servers, topo.n_links, inst.n_rounds
    admitted = np.flatnonzero(option >= 0)
    o = option[admitted]
    rnd = inst.request_round[admitted]
    cell = opts.server[o] * n_r + rnd
    compute = np.bincount(cell, weights=opts.phi[o], minlength=n_s * n_r).reshape(n_s, n_r)
    kv = np.bincount(cell, weights=inst.request_kv_bytes[admitted], minlength=n_s * n_r).reshape(
        n_s, n_r
    )
    rate = np.zeros((n_l, n_r))
    for oi, t in zip(o.tolist(), rnd.tolist(), strict=True):
        for e in topo.path_links[int(opts.path_id[oi])]:
            rate[e, t] += opts.rate_mbps[oi]
    return compute, kv, rate


@pytest.mark.parametrize("key", list(INSTANCE_CONFIGS))
@pytest.mark.parametrize("name", DISTINCT_SCHEDULERS)
def test_capacity_never_exceeded(runs, key, name):
    inst, a = runs[key, name]
    compute, kv, rate = own_usage(inst, a.option)
    assert compute.max(initial=0.0) <= 1.0 + 1e-9
    assert np.all(kv <= inst.server_kv_budget_bytes[:, None] * (1 + 1e-9))
    assert np.all(rate <= inst.round_bandwidth_mbps * (1 + 1e-9) + 1e-9)
    evaluate(inst, a)  # raises CapacityViolationError otherwise


@pytest.mark.parametrize("key", list(INSTANCE_CONFIGS))
@pytest.mark.parametrize("name", DISTINCT_SCHEDULERS)
def test_every_request_counted_once(runs, key, name):
    inst, a = runs[key, name]
    n = inst.n_requests
    assert a.option.shape == a.status.shape == (n,)
    # The simulator only admits, declines or refuses (DROPPED is the MILP's).
    assert set(np.unique(a.status).tolist()) <= {ADMITTED, DECLINED, REFUSED}
    admitted = a.status == ADMITTED
    assert np.all((a.option >= 0) == admitted)
    np.testing.assert_array_equal(
        inst.options.request[a.option[admitted]], np.flatnonzero(admitted)
    )
    m = evaluate(inst, a).metrics
    on_time = np.zeros(n, dtype=bool)
    on_time[admitted] = inst.options.on_time[a.option[admitted]]
    late = admitted & ~on_time
    refused = ~admitted
    # The three classes partition the requests.
    assert np.all(on_time.astype(int) + late.astype(int) + refused.astype(int) == 1)
    assert (m.served, m.late, m.refused) == (on_time.sum(), late.sum(), refused.sum())
    assert m.served + m.late + m.refused == m.requests == n
    assert m.declined + m.refused_capacity == m.refused
    assert m.declined == int((a.status == DECLINED).sum())
    assert m.refused_capacity == int((a.status == REFUSED).sum())


def test_instances_do_stress_capacity(runs):
    """The instances above do stress the simulator: on each of them someone is refused (the
    fast schedulers are enough to show it)."""
    slow = ("cs_ucb", "cs_ucb_greedy", "cs_ucb_milp", "oracle_milp")
    fast = [n for n in DISTINCT_SCHEDULERS if n not in slow]
    for key in runs.instances:
        refused = sum(int((runs[key, n][1].status == REFUSED).sum()) for n in fast)
        assert refused > 0, key


@pytest.mark.parametrize("name", DISTINCT_SCHEDULERS)
def test_deterministic_in_the_seed(instances, name):
    inst = instances["paper"]
    a1 = simulate(inst, scheduler_from_conf(name), RngStreams(5).stream(name)).assignment
    a2 = simulate(inst, scheduler_from_conf(name), RngStreams(5).stream(name)).assignment
    np.testing.assert_array_equal(a1.option, a2.option)
    np.testing.assert_array_equal(a1.status, a2.status)
    # One object run twice in a process: reset() forgets everything learnt.
    sched = scheduler_from_conf(name)
    b1 = simulate(inst, sched, RngStreams(5).stream(name)).assignment
    simulate(instances["large-bursty"], sched, RngStreams(9).stream(name))
    b2 = simulate(inst, sched, RngStreams(5).stream(name)).assignment
    np.testing.assert_array_equal(b1.option, a1.option)
    np.testing.assert_array_equal(b2.option, a1.option)
    np.testing.assert_array_equal(b2.status, a1.status)


@pytest.mark.parametrize("name", ["random", "epsilon_greedy", "thompson"])
def test_stochastic_schedulers_differ_across_seeds(instances, name):
    inst = instances["paper"]
    a = simulate(inst, scheduler_from_conf(name), RngStreams(1).stream(name)).assignment
    b = simulate(inst, scheduler_from_conf(name), RngStreams(2).stream(name)).assignment
    assert not np.array_equal(a.option, b.option)


def test_instance_is_deterministic_and_seed_dependent():
    a, b = build_instance(small_config(seed=4)), build_instance(small_config(seed=4))
    c = build_instance(small_config(seed=5))
    np.testing.assert_array_equal(a.requests.arrival_s, b.requests.arrival_s)
    np.testing.assert_array_equal(a.options.latency_s, b.options.latency_s)
    np.testing.assert_array_equal(a.dynamics.bandwidth_mbps, b.dynamics.bandwidth_mbps)
    assert a.n_requests != c.n_requests or not np.array_equal(
        a.requests.arrival_s, c.requests.arrival_s
    )
    ra = simulate(a, scheduler_from_conf("cs_ucb"), RngStreams(4).stream("s")).assignment
    rc = simulate(c, scheduler_from_conf("cs_ucb"), RngStreams(5).stream("s")).assignment
    assert len(ra.option) != len(rc.option) or not np.array_equal(ra.option, rc.option)


# -- what a scheduler sees ----------------------------------------------------------------


def test_round_view_and_system_info_hide_ground_truth():
    view_fields = {f.name for f in dataclasses.fields(RoundView)}
    info_fields = {f.name for f in dataclasses.fields(SystemInfo)}
    for name in view_fields:
        assert "output" not in name, name
    for name in view_fields | info_fields:
        assert not any(bad in name for bad in ("speed", "slowdown")), name
    # The realised bandwidth is not there, only last round's observation and the nominal.
    assert "bandwidth_mbps" not in view_fields | info_fields
    assert "bandwidth_estimate_mbps" in view_fields
    # Sanity: the fields we rely on are there.
    assert {"prompt_tokens", "deadline_s", "wait_s", "kv_bytes", "up_bits"} <= view_fields
    # The only output-related public number is the mean per service type.
    assert [f for f in info_fields if "output" in f] == ["mean_output_tokens"]


@pytest.mark.parametrize("name", DISTINCT_SCHEDULERS)
def test_oracle_only_for_oracle_schedulers(instances, name):
    inner = scheduler_from_conf(name)
    spy = spy_for(inner)
    simulate(instances["paper"], spy, RngStreams(0).stream(name))
    if type(inner).uses_oracle:
        assert isinstance(spy.oracle_seen, OracleInfo)
    else:
        assert spy.oracle_seen is None
    assert inner.oracle is spy.oracle_seen


def test_only_the_oracles_use_the_oracle():
    users = [n for n in SCHEDULER_NAMES if type(scheduler_from_conf(n)).uses_oracle]
    assert users == ["oracle_greedy", "oracle_milp"]


def test_view_bandwidth_is_last_rounds_realisation(instances):
    inst = instances["paper-narrow-wan"]
    spy = spy_for(scheduler_from_conf("random"))
    simulate(inst, spy, RngStreams(0).stream("random"))
    est = spy.bandwidth_estimates
    assert len(est) == inst.n_rounds
    np.testing.assert_array_equal(est[0][:-1], inst.topology.link_bandwidth_mbps)
    for t in range(1, inst.n_rounds):
        np.testing.assert_array_equal(est[t][:-1], inst.round_bandwidth_mbps[:, t - 1])
        assert math.isinf(est[t][-1])
    # The fluctuating WAN really moves, so the check above means something.
    assert not np.allclose(inst.round_bandwidth_mbps[:, 0], inst.round_bandwidth_mbps[:, 1])


def test_view_arrays_are_read_only(instances):
    spy = spy_for(scheduler_from_conf("random"))
    simulate(instances["paper"], spy, RngStreams(0).stream("random"))
    view = spy.views[0]
    for f in dataclasses.fields(RoundView):
        value = getattr(view, f.name)
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable, f.name
            with pytest.raises(ValueError):
                value[...] = 0
    info = spy.info
    for f in dataclasses.fields(SystemInfo):
        value = getattr(info, f.name)
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable, f.name


def _with_other_outputs(inst, factor: int):
    """The same instance with every request's output length multiplied by ``factor``."""
    return with_realisation(inst, output_tokens=inst.requests.output_tokens * factor)


@pytest.mark.parametrize("name", DISTINCT_SCHEDULERS)
def test_first_round_decisions_ignore_output_lengths(instances, name):
    """Outcomes only arrive at the end of a round, so no decision of round 0 may depend on
    the true output lengths (they change every option's delay and energy)."""
    inst = instances["paper-seed3-busy"]
    other = _with_other_outputs(inst, 3)
    assert not np.allclose(other.options.infer_s, inst.options.infer_s)
    a = simulate(inst, scheduler_from_conf(name), RngStreams(0).stream(name)).assignment
    b = simulate(other, scheduler_from_conf(name), RngStreams(0).stream(name)).assignment
    first = inst.request_round == 0
    assert first.sum() > 5
    np.testing.assert_array_equal(a.option[first], b.option[first])
    np.testing.assert_array_equal(a.status[first], b.status[first])


# -- the environment, on the hand instance --------------------------------------------------


def test_refusal_and_feedback_on_hand_instance(hand_instance):
    inst = hand_instance
    # Round 0: req0 takes the whole edge, req1 asks for it too -> refused (compute).
    # Round 1: req2 on the cloud at 10 Mbps, req3 at 1 Mbps (11 > 10 Mbps WAN) -> refused.
    script = {
        0: candidate(inst, 0, "e", 1.0, 10.0),
        1: candidate(inst, 1, "e", 0.25, 1.0),
        2: candidate(inst, 2, "c", 0.5, 10.0),
        3: candidate(inst, 3, "c", 0.125, 1.0),
    }
    sched = Scripted(script=script)
    a = simulate(inst, sched, np.random.default_rng(0)).assignment
    np.testing.assert_array_equal(a.status, [ADMITTED, REFUSED, ADMITTED, REFUSED])
    assert a.option[0] == inst.options.ptr[0] + script[0]
    assert a.option[2] == inst.options.ptr[2] + script[2]
    # Refusals are told at once, completions at the end of the round.
    assert sched.events == [
        ("begin", 0),
        ("update", 0),
        ("update", 0),
        ("begin", 1),
        ("update", 1),
        ("update", 1),
        ("begin", 2),
    ]
    (_, fb_ref0), (_, fb_done0), (_, fb_ref1), (_, fb_done1) = sched.feedback
    assert fb_ref0.request_id.tolist() == [1] and fb_ref0.refused.tolist() == [True]
    assert math.isnan(fb_ref0.latency_s[0]) and fb_ref0.energy_j[0] == 0.0
    assert fb_ref0.candidate.tolist() == [script[1]]
    assert fb_ref0.server_slice.tolist() == [inst.templates[0].server_slice[script[1]]]
    assert fb_done0.request_id.tolist() == [0] and not fb_done0.refused.any()
    # req0 on the edge, full share, 10 Mbps: 30 + 0.01032 + 3.5 = 33.51032 s <= 35 s.
    assert fb_done0.latency_s[0] == pytest.approx(30.0 + 3200 / 1e7 + 0.01 + 3.5)
    assert fb_done0.service_s[0] == pytest.approx(3200 / 1e7 + 0.01 + 3.5)
    assert fb_done0.on_time.tolist() == [True]
    assert fb_done0.energy_j[0] == pytest.approx(4800 * 0.5e-6 + 50.0 * 1.0 * 3.5)
    assert fb_ref1.request_id.tolist() == [3]
    assert fb_done1.request_id.tolist() == [2]
    m = evaluate(inst, a).metrics
    assert (m.served, m.late, m.refused_capacity) == (2, 0, 2)


def test_feedback_in_completion_order(hand_instance):
    """Two round-0 requests: the one that finishes first is reported first; a cut-off
    request reports the round's end as its latency."""
    inst = hand_instance
    script = {
        0: candidate(inst, 0, "e", 0.25, 1.0),  # 9.0132 s of service
        1: candidate(inst, 1, "c", 0.125, 1.0),  # 1.2464 s
        3: candidate(inst, 3, "e", 0.25, 1.0),  # cut off
    }
    sched = Scripted(script=script)
    simulate(inst, sched, np.random.default_rng(0))
    (_, fb0), (_, fb1) = sched.feedback
    assert fb0.request_id.tolist() == [1, 0]
    np.testing.assert_allclose(fb0.service_s, [0.0464 + 1.2, 0.0132 + 9.0])
    assert fb1.request_id.tolist() == [3]
    assert fb1.latency_s[0] == pytest.approx(15.0 + 30.0)
    assert fb1.service_s[0] == pytest.approx(30.0)
    assert fb1.on_time.tolist() == [False]


class _OutOfRange(Scheduler):
    name = "bad"

    def select(self, view, k):
        return 10_000


class _Decliner(Scheduler):
    name = "decliner"

    def select(self, view, k):
        return DECLINE


def test_invalid_choice_raises_scheduler_error(hand_instance):
    with pytest.raises(SchedulerError, match="10000"):
        simulate(hand_instance, _OutOfRange(), np.random.default_rng(0))


def test_declining_everything(hand_instance):
    res = simulate(hand_instance, _Decliner(), np.random.default_rng(0))
    assert np.all(res.assignment.status == DECLINED)
    assert res.assignment.source == "decliner"
    assert res.wall_s >= 0.0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # compute: 1 + 0.25 shares of the edge
        ((0, "e", 1.0, 1.0), (1, "e", 0.25, 1.0)),
        # KV: 4e8 + 1.3e9 bytes > the edge's 1.5e9 budget (compute only 0.5)
        ((2, "e", 0.25, 1.0), (3, "e", 0.25, 1.0)),
        # link: 10 + 1 Mbps on the 10 Mbps WAN link (compute 0.25 of the cloud)
        ((0, "c", 0.125, 10.0), (1, "c", 0.125, 1.0)),
    ],
    ids=["compute", "kv", "link"],
)
def test_environment_refuses_what_does_not_fit(hand_instance, first, second):
    inst = hand_instance
    script = {first[0]: candidate(inst, *first), second[0]: candidate(inst, *second)}
    a = simulate(inst, Scripted(script=script), np.random.default_rng(0)).assignment
    assert a.status[first[0]] == ADMITTED
    assert a.status[second[0]] == REFUSED
    # Alone, the second request fits.
    alone = simulate(
        inst, Scripted(script={second[0]: script[second[0]]}), np.random.default_rng(0)
    ).assignment
    assert alone.status[second[0]] == ADMITTED


def test_links_are_checked_against_the_realised_bandwidth(hand_files):
    """With the WAN at a constant 50-100 % of its 10 Mbps, a request asking for 10 Mbps is
    refused although the nominal bandwidth (what the view shows in round 0) would fit it."""
    from support import build_hand_instance

    inst = build_hand_instance(
        hand_files,
        dynamics=DynamicsConfig(
            bandwidth_links="all",
            bandwidth_min_fraction=0.5,
            bandwidth_step=0.0,
            slowdown_max=1.0,
            speed_sigma=0.0,
        ),
    )
    wan = inst.topology.links.index(("s", "c"))
    realised = inst.round_bandwidth_mbps[wan]
    assert np.all(realised == realised[0]) and 5.0 <= realised[0] < 10.0
    script = {0: candidate(inst, 0, "c", 0.5, 10.0), 2: candidate(inst, 2, "c", 0.5, 1.0)}
    spy = spy_for(Scripted(script=script))
    a = simulate(inst, spy, np.random.default_rng(0)).assignment
    assert spy.free_at_choice[0]  # free as far as the view (nominal 10 Mbps) could tell
    assert a.status[0] == REFUSED
    assert a.status[2] == ADMITTED


# derandomize: the same 12 examples on every run, so CI's time and verdict are reproducible
# (a random draw of `large` with 90-s rounds at 4 req/s took 230 s of exact epoch plans).
@settings(max_examples=12, derandomize=True)
@given(
    seed=st.integers(0, 1000),
    preset=st.sampled_from(["paper", "large"]),
    round_s=st.sampled_from([5.0, 12.5, 30.0, 90.0]),
    horizon=st.floats(10.0, 150.0),
    rates=st.sampled_from([[2.0], [2.0, 20.0], [0.5, 5.0, 50.0]]),
    rate=st.floats(0.05, 4.0),
    kind=st.sampled_from(["poisson", "bursty"]),
    links=st.sampled_from(["fluctuating", "all", "none"]),
    wan=st.sampled_from([None, 5.0, 1000.0]),
)
def test_every_scheduler_on_odd_configurations(
    seed, preset, round_s, horizon, rates, rate, kind, links, wan
):
    """Short rounds, rounds longer than the horizon, one rate level, a starved or a huge WAN:
    every scheduler runs, stays within capacity and accounts for every request. At most 240
    requests are expected (the odd shapes, not the size, are what this explores)."""
    assume(rate * horizon <= 240.0)
    inst = build_instance(
        small_config(
            seed=seed,
            horizon_s=horizon,
            system=SystemConfig(mode="rounds", round_s=round_s, rate_levels_mbps=rates),
            topology=TopologyConfig(preset=preset, wan_bandwidth_mbps=wan),
            workload=WorkloadConfig(kind=kind, rate_rps=rate),
            dynamics=DynamicsConfig(bandwidth_links=links),
        )
    )
    assert inst.n_rounds == math.ceil(horizon / round_s)
    for name in SCHEDULER_NAMES:
        a = simulate(inst, scheduler_from_conf(name), np.random.default_rng(seed)).assignment
        compute, kv, rate_used = own_usage(inst, a.option)
        assert compute.max(initial=0.0) <= 1.0 + 1e-9
        assert np.all(kv <= inst.server_kv_budget_bytes[:, None] * (1 + 1e-9))
        assert np.all(rate_used <= inst.round_bandwidth_mbps * (1 + 1e-9) + 1e-9)
        m = evaluate(inst, a).metrics
        assert m.served + m.late + m.refused == m.requests == inst.n_requests
