"""The rival schedulers of baselines/: each one's decision rule checked on hand-built
decision epochs, with the profile's estimates written out independently."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from support import (
    DISTINCT_SCHEDULERS,
    lone_view,
    profile_energy_j,
    profile_time_s,
    scheduler_from_conf,
    scheduler_spec,
    small_config,
)

from baselines.cloud_only import CloudOnly
from baselines.edge_only import EdgeOnly
from baselines.epsilon_greedy import EpsilonGreedy
from baselines.greedy_energy import GreedyEnergy
from baselines.greedy_latency import GreedyLatency
from baselines.oracle_greedy import OracleGreedy
from baselines.random_choice import RandomScheduler
from baselines.round_robin import RoundRobin
from baselines.thompson import Thompson
from baselines.ucb1 import UCB1
from perllm_opt.config import TopologyConfig
from perllm_opt.errors import InputError
from perllm_opt.instance.assignment import ADMITTED
from perllm_opt.instance.build import build_instance
from perllm_opt.rng import RngStreams
from perllm_opt.schedulers.base import DECLINE, Scheduler
from perllm_opt.schedulers.factory import make_scheduler
from perllm_opt.simulation.knowledge import oracle_info, public_info
from perllm_opt.simulation.simulator import simulate
from perllm_opt.simulation.view import Feedback, free_mask


@pytest.fixture(scope="module")
def insts():
    return {
        p: build_instance(small_config(seed=21, topology=TopologyConfig(preset=p)))
        for p in ("paper", "large")
    }


def _epoch(data, insts):
    """A random lone-request decision epoch: (instance, info, view, template)."""
    inst = insts[data.draw(st.sampled_from(["paper", "large"]), label="preset")]
    info = public_info(inst)
    i = data.draw(st.integers(0, inst.n_requests - 1), label="request")
    levels = [0.0, 0.0, 0.0, 0.5, 0.875, 1.0]
    used = data.draw(
        st.lists(st.sampled_from(levels), min_size=info.n_servers, max_size=info.n_servers),
        label="compute",
    )
    wait = data.draw(st.floats(0.0, 30.0), label="wait")
    left = data.draw(st.floats(-1.0, 60.0), label="time left")
    link = data.draw(st.sampled_from([0.0, 0.0, 0.5, 0.95]), label="links")
    view = lone_view(
        inst, info, i, deadline=wait + left, wait=wait, compute_used=used, link_frac=link
    )
    return inst, info, view, info.templates[int(view.template[0])]


def _ready(sched: Scheduler, inst, oracle: bool = False) -> Scheduler:
    sched.reset(public_info(inst), np.random.default_rng(0), oracle_info(inst) if oracle else None)
    return sched


def _budget(info, view):
    return min(float(view.deadline_s[0] - view.wait_s[0]), info.time_cap_s)


@given(data=st.data())
def test_greedy_latency_picks_the_fastest_free_candidate(insts, data):
    inst, info, view, t = _epoch(data, insts)
    c = _ready(GreedyLatency(), inst).select(view, 0)
    free = free_mask(info, view, 0, t)
    if not free.any():
        assert c == DECLINE
        return
    time_s, _ = profile_time_s(info, t, float(view.up_bits[0]), float(view.prompt_tokens[0]))
    assert free[c]
    assert time_s[c] == pytest.approx(time_s[free].min(), rel=1e-9)


@given(data=st.data())
def test_greedy_energy_least_energy_expected_on_time(insts, data):
    inst, info, view, t = _epoch(data, insts)
    c = _ready(GreedyEnergy(), inst).select(view, 0)
    up, prompt = float(view.up_bits[0]), float(view.prompt_tokens[0])
    time_s, _ = profile_time_s(info, t, up, prompt)
    energy = profile_energy_j(info, t, up, prompt, view.compute_used)
    ok = free_mask(info, view, 0, t) & (time_s <= _budget(info, view))
    event("some candidate ok" if ok.any() else "declines")
    if not ok.any():
        assert c == DECLINE
        return
    assert ok[c]
    assert energy[c] == pytest.approx(energy[ok].min(), rel=1e-9)


@given(data=st.data())
def test_oracle_greedy_uses_true_speed_and_expected_slowdown(insts, data):
    inst, info, view, t = _epoch(data, insts)
    orc = oracle_info(inst)
    c = _ready(OracleGreedy(), inst, oracle=True).select(view, 0)
    up, prompt = float(view.up_bits[0]), float(view.prompt_tokens[0])
    kw = {
        "speed": orc.speed_factor,
        "slowdown": orc.expected_slowdown,
        "mean_out": orc.mean_output_tokens,
    }
    time_s, _ = profile_time_s(info, t, up, prompt, **kw)
    energy = profile_energy_j(info, t, up, prompt, view.compute_used, **kw)
    ok = free_mask(info, view, 0, t) & (time_s <= _budget(info, view))
    if not ok.any():
        assert c == DECLINE
        return
    assert ok[c]
    assert energy[c] == pytest.approx(energy[ok].min(), rel=1e-9)


def _nearest_server(info, t, cloud):
    kind = np.asarray(info.server_is_cloud)[t.server] == cloud
    if not kind.any():
        return None
    lat = np.where(kind, np.asarray(info.path_latency_s)[t.path_id], np.inf)
    return int(t.server[int(np.argmin(lat))])


@pytest.mark.parametrize(("cls", "cloud"), [(EdgeOnly, False), (CloudOnly, True)])
@given(data=st.data())
def test_nearest_server_baselines(insts, cls, cloud, data):
    """edge_only / cloud_only: only the nearest server of their kind; the least-energy
    candidate expected on time there, else the fastest free one there, else decline."""
    inst, info, view, t = _epoch(data, insts)
    c = _ready(cls(), inst).select(view, 0)
    best = _nearest_server(info, t, cloud)
    if best is None:
        assert c == DECLINE
        return
    on = t.server == best
    up, prompt = float(view.up_bits[0]), float(view.prompt_tokens[0])
    time_s, _ = profile_time_s(info, t, up, prompt)
    energy = profile_energy_j(info, t, up, prompt, view.compute_used)
    free = free_mask(info, view, 0, t) & on
    if not free.any():
        assert c == DECLINE
        return
    assert t.server[c] == best and free[c]
    meets = free & (time_s <= _budget(info, view))
    if meets.any():
        assert meets[c]
        assert energy[c] == pytest.approx(energy[meets].min(), rel=1e-9)
    else:
        assert time_s[c] == pytest.approx(time_s[free].min(), rel=1e-9)


def test_nearest_edge_is_the_zones_own_edge(insts):
    """In the paper preset zone k's nearest edge is edgek (3 ms direct access link)."""
    inst = insts["paper"]
    info = public_info(inst)
    servers = inst.topology.servers
    for t in info.templates:
        best = _nearest_server(info, t, cloud=False)
        if best is not None:
            assert servers[best] == f"edge{t.zone}"


def test_edge_and_cloud_only_stay_on_their_kind(insts):
    inst = insts["large"]
    for name, cloud in (("edge_only", False), ("cloud_only", True)):
        a = simulate(inst, scheduler_from_conf(name), np.random.default_rng(0)).assignment
        srv = inst.options.server[a.option[a.status == ADMITTED]]
        assert len(srv) > 0
        assert np.all(inst.topology.server_is_cloud[srv] == cloud)


def test_edge_only_declines_models_not_on_any_edge(insts):
    """With edge_small (7B on the edges), the 13B and 33B services are never admitted."""
    inst = insts["paper"]
    a = simulate(inst, EdgeOnly(), np.random.default_rng(0)).assignment
    names = [s.name for s in inst.services]
    big = np.isin(inst.requests.service, [names.index("chat"), names.index("doc")])
    assert big.any()
    assert np.all(a.status[big] != ADMITTED)


@given(data=st.data())
def test_random_picks_only_free_candidates(insts, data):
    inst, info, view, t = _epoch(data, insts)
    sched = _ready(RandomScheduler(), inst)
    free = free_mask(info, view, 0, t)
    picks = [sched.select(view, 0) for _ in range(20)]
    if not free.any():
        assert set(picks) == {DECLINE}
    else:
        assert all(free[c] for c in picks)


def test_random_is_uniform_over_free_candidates(insts):
    inst = insts["paper"]
    info = public_info(inst)
    names = [s.name for s in inst.services]
    i = int(np.flatnonzero(inst.requests.service == names.index("assistant"))[0])
    t = info.templates[int(inst.requests.zone[i]) * info.n_services + int(inst.requests.service[i])]
    used = np.zeros(info.n_servers)
    used[int(t.server[0])] = 1.0  # the first candidate's server is full
    view = lone_view(inst, info, i, compute_used=used)
    free = np.flatnonzero(free_mask(info, view, 0, t))
    assert 0 < len(free) < len(t)
    sched = _ready(RandomScheduler(), inst)
    n = 4000
    counts = np.bincount([sched.select(view, 0) for _ in range(n)], minlength=len(t))
    assert counts[np.setdiff1d(np.arange(len(t)), free)].sum() == 0
    expected = n / len(free)
    # Each count is Binomial(n, 1/len(free)): 5 standard deviations.
    sd = math.sqrt(n * (1 / len(free)) * (1 - 1 / len(free)))
    assert np.all(np.abs(counts[free] - expected) < 5 * sd)


def test_round_robin_cycles_servers_at_max_share_and_lowest_rate(insts):
    inst = insts["paper"]
    info = public_info(inst)
    names = [s.name for s in inst.services]
    i = int(np.flatnonzero(inst.requests.service == names.index("assistant"))[0])
    view = lone_view(inst, info, i)
    t = info.templates[int(view.template[0])]
    hosts = list(dict.fromkeys(t.server.tolist()))
    assert len(hosts) == 4  # three edges and the cloud host the 7B model
    for share, pick in (("max", max), ("min", min)):
        sched = _ready(RoundRobin(share=share), inst)
        got = [sched.select(view, 0) for _ in range(2 * len(hosts))]
        assert [int(t.server[c]) for c in got] == hosts + hosts
        for c in got:
            on = t.server == t.server[c]
            assert t.phi[c] == pick(t.phi[on])
            assert t.rate_mbps[c] == t.rate_mbps[on].min()
    # A full server is skipped.
    used = np.zeros(info.n_servers)
    used[hosts[1]] = 1.0
    view2 = lone_view(inst, info, i, compute_used=used)
    sched = _ready(RoundRobin(), inst)
    got = [int(t.server[sched.select(view2, 0)]) for _ in range(3)]
    assert got == [hosts[0], hosts[2], hosts[3]]
    # Nothing free: decline.
    view3 = lone_view(inst, info, i, compute_used=np.ones(info.n_servers))
    assert _ready(RoundRobin(), inst).select(view3, 0) == DECLINE


def _feedback(service, arm, on_time, energy, refused=False):
    n = len(arm)
    return Feedback(
        request_id=np.arange(n),
        service=np.full(n, service),
        template=np.zeros(n, dtype=np.int64),
        candidate=np.zeros(n, dtype=np.int64),
        server_slice=np.asarray(arm),
        refused=np.full(n, refused),
        on_time=np.asarray(on_time, dtype=bool),
        latency_s=np.ones(n),
        service_s=np.ones(n),
        energy_j=np.asarray(energy, dtype=float),
    )


def test_bandit_rewards_by_hand(insts):
    sched = _ready(UCB1(energy_weight=0.5), insts["paper"])
    scale = sched.energy_scale[0]
    fb = _feedback(0, [0, 1, 2, 3], [True, True, False, True], [0.0, scale / 2, 0.0, 10 * scale])
    # on time: 1 - 0.5 min(1, e / scale); late: 0.
    np.testing.assert_allclose(sched.rewards(fb), [1.0, 0.75, 0.0, 0.5])


def test_ucb1_scores_by_hand(insts):
    inst = insts["paper"]
    sched = _ready(UCB1(), inst)
    arms = np.asarray([0, 1, 2])
    sched.update(_feedback(0, [0, 0, 0, 1], [True, True, False, True], [0.0] * 4))
    # arm 0: mean 2/3, n 3; arm 1: mean 1, n 1; arm 2 untried: +inf; N = 4.
    scores = sched.scores(0, arms)
    assert scores[0] == pytest.approx(2 / 3 + math.sqrt(2 * math.log(4) / 3))
    assert scores[1] == pytest.approx(1.0 + math.sqrt(2 * math.log(4) / 1))
    assert math.isinf(scores[2])


def test_ucb1_tries_untried_arms_first(insts):
    inst = insts["paper"]
    info = public_info(inst)
    view = lone_view(inst, info, 0, deadline=500.0, wait=0.0)
    t = info.templates[int(view.template[0])]
    sched = _ready(UCB1(), inst)
    s = int(t.service)
    # Every arm of the template tried once except candidate 3's.
    for k, arm in enumerate(t.server_slice):
        if k != 3:
            sched.update(_feedback(s, [int(arm)], [True], [0.0]))
    assert sched.select(view, 0) == 3


def test_epsilon_greedy_exploits_at_zero_and_explores_at_one(insts):
    inst = insts["paper"]
    info = public_info(inst)
    view = lone_view(inst, info, 0, deadline=500.0, wait=0.0)
    t = info.templates[int(view.template[0])]
    s = int(t.service)
    greedy = _ready(EpsilonGreedy(epsilon=0.0), inst)
    # All arms tried: candidate 2 earns 1, the others 0.
    for k, arm in enumerate(t.server_slice):
        greedy.update(_feedback(s, [int(arm)], [k == 2], [0.0]))
    assert {greedy.select(view, 0) for _ in range(20)} == {2}
    explorer = _ready(EpsilonGreedy(epsilon=1.0), inst)
    for k, arm in enumerate(t.server_slice):
        explorer.update(_feedback(s, [int(arm)], [k == 2], [0.0]))
    picks = {explorer.select(view, 0) for _ in range(400)}
    assert picks == set(np.flatnonzero(free_mask(info, view, 0, t)).tolist())


def test_thompson_follows_a_dominant_posterior(insts):
    inst = insts["paper"]
    info = public_info(inst)
    view = lone_view(inst, info, 0, deadline=500.0, wait=0.0)
    t = info.templates[int(view.template[0])]
    s = int(t.service)
    sched = _ready(Thompson(), inst)
    for k, arm in enumerate(t.server_slice):
        sched.update(_feedback(s, [int(arm)] * 200, [k == 1] * 200, [0.0] * 200))
    assert sched.success[s, int(t.server_slice[1])] == 200
    assert {sched.select(view, 0) for _ in range(50)} == {1}


def test_resource_check_off_ignores_reservations(insts):
    inst = insts["paper"]
    info = public_info(inst)
    view = lone_view(inst, info, 0, 500.0, 0.0, compute_used=np.ones(info.n_servers))
    assert _ready(UCB1(), inst).select(view, 0) == DECLINE
    assert _ready(UCB1(resource_check=False), inst).select(view, 0) != DECLINE


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("ucb1", "energy_weight", 1.5),
        ("thompson", "energy_weight", -0.1),
        ("epsilon_greedy", "epsilon", 2.0),
        ("epsilon_greedy", "energy_weight", 3.0),
        ("round_robin", "share", "mid"),
        ("ucb1", "deadline_slack", 0.0),
        ("linucb", "alpha", -1.0),
        ("linucb", "prior_sigma", 0.0),
        ("bwk", "target_utilization", 1.5),
        ("bwk", "price_init", 100.0),
    ],
)
def test_baseline_hyperparameter_validation(name, field, value):
    spec = {**scheduler_spec(name), field: value}
    with pytest.raises(InputError, match=rf"scheduler\.{name}\.{field}"):
        make_scheduler(name, spec)


@pytest.mark.parametrize("name", DISTINCT_SCHEDULERS)
def test_factory_builds_every_configured_scheduler(name):
    sched = scheduler_from_conf(name)
    assert isinstance(sched, Scheduler)
    assert sched.name == name


def test_factory_errors():
    with pytest.raises(InputError, match=r"scheduler\.x\.bogus"):
        make_scheduler("x", {"_target_": "baselines.ucb1.UCB1", "bogus": 1})
    with pytest.raises(InputError, match=r"_target_"):
        make_scheduler("x", {"epsilon": 0.1})
    with pytest.raises(InputError, match=r"scheduler\.x\._target_"):
        make_scheduler("x", {"_target_": "baselines.nope.Nope"})
    with pytest.raises(InputError, match="subclass of Scheduler"):
        make_scheduler("x", {"_target_": "collections.OrderedDict"})


def test_stochastic_baselines_use_only_their_stream(insts):
    """A scheduler's randomness comes from the generator it is given, not numpy's global
    state."""
    inst = insts["paper"]
    np.random.seed(0)
    a = simulate(inst, RandomScheduler(), RngStreams(3).stream("r")).assignment
    np.random.seed(12345)
    b = simulate(inst, RandomScheduler(), RngStreams(3).stream("r")).assignment
    np.testing.assert_array_equal(a.option, b.option)
