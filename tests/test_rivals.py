"""The learning rivals (issue 10): the informed bandits' admission rule, LinUCB's ridge
model, and the bandits-with-knapsacks prices."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from support import lone_view, profile_time_s, scheduler_from_conf, small_config

from baselines.bwk import BwK
from baselines.linucb import LinUCB, Ridge
from baselines.ucb1 import UCB1
from perllm_opt.config import TopologyConfig
from perllm_opt.instance.assignment import ADMITTED
from perllm_opt.instance.build import build_instance
from perllm_opt.schedulers.base import DECLINE
from perllm_opt.simulation.knowledge import public_info
from perllm_opt.simulation.simulator import simulate
from perllm_opt.simulation.view import Feedback, free_mask

RIVALS = ("ucb1", "thompson", "epsilon_greedy", "linucb", "bwk")
#: The rivals whose admission rule is the informed heuristics' profile deadline filter.
PROFILE_FILTERED = ("ucb1", "thompson", "epsilon_greedy", "bwk")


@pytest.fixture(scope="module")
def insts():
    return {
        p: build_instance(small_config(seed=5, topology=TopologyConfig(preset=p)))
        for p in ("paper", "large")
    }


def _random_feedback(info, rng, n=300):
    """Outcomes on random arms: random on-time flags, times and energies."""
    service = rng.integers(0, info.n_services, n)
    arm = rng.integers(0, info.n_slices, n)
    return Feedback(
        request_id=np.arange(10_000, 10_000 + n),
        service=service,
        template=np.zeros(n, dtype=np.int64),
        candidate=np.zeros(n, dtype=np.int64),
        server_slice=arm,
        refused=rng.random(n) < 0.1,
        on_time=rng.random(n) < 0.7,
        latency_s=rng.uniform(1, 40, n),
        service_s=rng.uniform(1, 40, n),
        energy_j=rng.uniform(0, 500, n),
    )


@pytest.mark.parametrize("name", RIVALS)
@given(data=st.data())
def test_rivals_choose_free_candidates_and_decline_when_none(insts, name, data):
    """Whatever they learnt, every rival picks a candidate whose resources look free (and,
    for the informed bandits, whose profile time fits the time left), and declines when no
    candidate is free."""
    inst = insts[data.draw(st.sampled_from(["paper", "large"]), label="preset")]
    info = public_info(inst)
    sched = scheduler_from_conf(name)
    sched.reset(info, np.random.default_rng(data.draw(st.integers(0, 9), label="rng")))
    if data.draw(st.booleans(), label="learnt"):
        sched.update(_random_feedback(info, np.random.default_rng(1)))
    i = data.draw(st.integers(0, inst.n_requests - 1), label="request")
    levels = [0.0, 0.0, 0.5, 0.875, 1.0]
    used = data.draw(
        st.lists(st.sampled_from(levels), min_size=info.n_servers, max_size=info.n_servers),
        label="compute",
    )
    wait = data.draw(st.floats(0.0, 20.0), label="wait")
    left = data.draw(st.floats(-1.0, 60.0), label="time left")
    kv = data.draw(st.sampled_from([0.0, 0.5, 1.0]), label="kv")
    link = data.draw(st.sampled_from([0.0, 0.5, 0.99]), label="links")
    view = lone_view(inst, info, i, wait + left, wait, used, kv, link)
    sched.begin_round(view)
    c = sched.select(view, 0)
    t = info.templates[int(view.template[0])]
    free = free_mask(info, view, 0, t)
    event("declined" if c == DECLINE else "chose")
    if not free.any():
        assert c == DECLINE
        return
    if c == DECLINE:
        return
    assert free[c]
    if name in PROFILE_FILTERED:
        up, prompt = float(view.up_bits[0]), float(view.prompt_tokens[0])
        time_s, _ = profile_time_s(info, t, up, prompt)
        budget = min(left, info.time_cap_s)
        assert time_s[c] * sched.deadline_slack <= budget * (1 + 1e-9)


def test_informed_ucb1_declines_hopeless_requests(insts):
    """With a time left below every candidate's profile time, the informed UCB1 declines;
    the textbook one (no filter) still sends the request somewhere."""
    inst = insts["paper"]
    info = public_info(inst)
    view = lone_view(inst, info, 0, deadline=0.01, wait=0.0)
    for informed, declines in ((True, True), (False, False)):
        sched = UCB1(deadline_filter=informed)
        sched.reset(info, np.random.default_rng(0))
        assert (sched.select(view, 0) == DECLINE) is declines


def test_ridge_recovers_linear_coefficients():
    """y = X theta + N(0, 0.1^2): after 4,000 observations in batches the ridge estimate is
    within 0.02 of theta, and the confidence width shrinks like 1/sqrt(n)."""
    rng = np.random.default_rng(3)
    theta = np.array([0.7, -1.2, 0.0, 2.5, 0.3])
    model = Ridge(5, lam=1.0)
    x0 = rng.normal(size=(1, 5))
    _, w0 = model.predict(x0)
    for _ in range(40):
        x = rng.normal(size=(100, 5))
        model.update(x, x @ theta + rng.normal(0, 0.1, 100))
    np.testing.assert_allclose(model.theta, theta, atol=0.02)
    _, w = model.predict(x0)
    assert w[0] < w0[0] / 30  # n = 4,000: about 1/sqrt(4000) = 1/63 of the prior width
    assert math.sqrt(model.rss / model.n) == pytest.approx(0.1, rel=0.05)


def test_linucb_learns_a_misprofiled_server(insts):
    """Completions on one server take twice the profile time: LinUCB's predicted log ratio
    for that server's candidates approaches log 2, and stays near 0 elsewhere."""
    inst = insts["paper"]
    info = public_info(inst)
    sched = LinUCB()
    sched.reset(info, np.random.default_rng(0))
    view = lone_view(inst, info, 0, deadline=500.0, wait=0.0)
    t = info.templates[int(view.template[0])]
    x, prof = sched.features(view, 0)
    slow = int(t.server[0])
    rng = np.random.default_rng(1)
    for step in range(1600):
        c = int(rng.integers(len(t)))
        sched.pending[step] = (x[c], float(np.log(prof[c])))
        factor = 2.0 if t.server[c] == slow else 1.0
        sched.update(
            Feedback(
                request_id=np.array([step]),
                service=np.array([t.service]),
                template=np.array([0]),
                candidate=np.array([c]),
                server_slice=np.array([t.server_slice[c]]),
                refused=np.array([False]),
                on_time=np.array([True]),
                latency_s=np.array([prof[c] * factor]),
                service_s=np.array([prof[c] * factor]),
                energy_j=np.array([1.0]),
            )
        )
    mu, _ = sched.ridge.predict(x)
    on = t.server == slow
    np.testing.assert_allclose(mu[on], math.log(2.0), atol=0.05)
    np.testing.assert_allclose(mu[~on], 0.0, atol=0.05)


def test_bwk_prices_rise_with_use_and_fall_when_idle(insts):
    inst = insts["paper"]
    info = public_info(inst)
    sched = BwK(price_rate=0.5, target_utilization=0.8, price_init=0.1)
    sched.reset(info, np.random.default_rng(0))
    busy = lone_view(inst, info, 0, compute_used=np.ones(info.n_servers), kv_frac=1.0)
    idle = lone_view(inst, info, 0)
    sched.begin_round(busy)
    np.testing.assert_allclose(sched.price_compute, 0.1 * math.exp(0.5 * 0.2))
    np.testing.assert_allclose(sched.price_kv, 0.1 * math.exp(0.5 * 0.2))
    for _ in range(3):
        sched.begin_round(idle)
    np.testing.assert_allclose(sched.price_compute, 0.1 * math.exp(0.1 - 3 * 0.4))
    # Many idle epochs: down to the floor, never below.
    for _ in range(200):
        sched.begin_round(idle)
    np.testing.assert_allclose(sched.price_compute, sched.price_min)
    # Rounds mode starts each round empty: what a round used before it ended still counts.
    sched.select(busy, 0)
    sched.begin_round(idle)
    assert np.all(sched.price_compute > sched.price_min)


def test_bwk_scores_reward_minus_priced_consumption_by_hand(insts):
    """Untried arms (optimistic reward 1, no bonus at exploration 0) in rounds mode: the
    choice is the eligible candidate of least ``p (phi + kv / KV budget + sum rate /
    nominal)`` at a uniform price p; at a price no reward covers, it declines."""
    inst = insts["paper"]
    info = public_info(inst)
    view = lone_view(inst, info, 0, deadline=500.0, wait=0.0)
    t = info.templates[int(view.template[0])]
    links = info.path_link_matrix[t.path_id]
    nominal = np.asarray(info.nominal_bandwidth_mbps)[links]
    frac = np.where(np.isfinite(nominal), t.rate_mbps[:, None] / nominal, 0.0).sum(axis=1)
    use = t.phi + float(view.kv_bytes[0]) / info.server_kv_budget_bytes[t.server] + frac
    sched = BwK(price_init=0.5, exploration=0.0)
    sched.reset(info, np.random.default_rng(0))
    ok = sched.eligible(view, 0)
    assert ok.any()
    c = sched.select(view, 0)
    assert use[c] == pytest.approx(use[ok].min(), rel=1e-12)
    dear = BwK(price_init=1e4, price_max=1e4, exploration=0.0)
    dear.reset(info, np.random.default_rng(0))
    assert 1e4 * use[ok].min() > 1.0
    assert dear.select(view, 0) == DECLINE


@pytest.mark.parametrize("name", ["linucb", "bwk"])
def test_new_rivals_run_end_to_end(insts, name):
    """A whole run: some requests served on time, and the learnt state moved."""
    inst = insts["paper"]
    sched = scheduler_from_conf(name)
    res = simulate(inst, sched, np.random.default_rng(0))
    assert np.sum(res.assignment.status == ADMITTED) > 0
    if name == "linucb":
        assert sched.ridge.n > 0
    else:
        assert np.any(sched.time_count > 0)
