"""Arrival processes (perllm_opt/workload/arrivals.py), request generation (generator.py), the
dynamics (instance/dynamics.py) and named random streams (rng.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perllm_opt.config import DynamicsConfig, ServiceTypeConfig, WorkloadConfig
from perllm_opt.errors import InputError
from perllm_opt.instance.dynamics import realise_dynamics, reflected_walk
from perllm_opt.rng import RngStreams
from perllm_opt.workload.arrivals import mmpp2_arrivals, poisson_arrivals
from perllm_opt.workload.generator import generate_requests


def test_poisson_count_mean_and_variance():
    """N ~ Poisson(rate x horizon): mean 100 and variance 100 over 400 seeds."""
    counts = np.asarray(
        [len(poisson_arrivals(2.0, 50.0, RngStreams(s).stream("arrivals"))) for s in range(400)]
    )
    # Standard error of the mean: 10 / 20 = 0.5; allow 5 of them.
    assert abs(counts.mean() - 100.0) < 2.5
    assert 70.0 < counts.var(ddof=1) < 135.0


def test_poisson_times_sorted_uniform_in_horizon():
    t = poisson_arrivals(5.0, 200.0, np.random.default_rng(0))
    assert np.all(np.diff(t) >= 0)
    assert t.min() >= 0.0 and t.max() < 200.0
    # Uniform on [0, 200): mean 100, sd of the mean 57.7 / sqrt(1000) = 1.8.
    assert abs(t.mean() - 100.0) < 9.0
    # Inter-arrival times are exponential of mean 1 / rate.
    assert np.diff(t).mean() == pytest.approx(0.2, rel=0.1)


def test_mmpp_long_run_rate():
    """The MMPP-2's time-average rate is rate_rps (with short bursts the count is tight:
    the variance per second is about rate + 2 (l_hi - l_lo)^2 f (1 - f) / (q_hi + q_lo))."""
    t = mmpp2_arrivals(2.0, 8.0, 0.2, 1.0, 100_000.0, np.random.default_rng(1))
    assert len(t) / 100_000.0 == pytest.approx(2.0, rel=0.02)
    assert np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() < 100_000.0


def test_mmpp_mean_over_seeds_with_long_bursts():
    n = [
        len(mmpp2_arrivals(1.0, 8.0, 0.2, 60.0, 20_000.0, RngStreams(s).stream("arrivals")))
        for s in range(20)
    ]
    assert np.mean(n) / 20_000.0 == pytest.approx(1.0, rel=0.06)


def test_mmpp_is_burstier_than_poisson():
    """Counts per 10 s window: Poisson has variance = mean; the MMPP far more."""
    h = 20_000.0
    rng = np.random.default_rng(3)
    bursty = np.histogram(mmpp2_arrivals(2.0, 8.0, 0.2, 60.0, h, rng), bins=2000, range=(0, h))[0]
    plain = np.histogram(poisson_arrivals(2.0, h, rng), bins=2000, range=(0, h))[0]
    assert plain.var() / plain.mean() == pytest.approx(1.0, abs=0.15)
    assert bursty.var() / bursty.mean() > 3.0
    # The high state runs at ratio x the low one: rate_low = 2 / (0.2 * 8 + 0.8) = 0.833/s.
    assert np.quantile(bursty, 0.95) > 3 * np.quantile(bursty, 0.25)


def test_burst_ratio_one_is_poisson_rate():
    t = mmpp2_arrivals(3.0, 1.0, 0.5, 10.0, 20_000.0, np.random.default_rng(2))
    assert len(t) / 20_000.0 == pytest.approx(3.0, rel=0.02)


def test_arrival_parameter_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match=r"workload\.rate_rps"):
        poisson_arrivals(0.0, 10.0, rng)
    with pytest.raises(InputError, match="horizon_s"):
        poisson_arrivals(1.0, -1.0, rng)
    with pytest.raises(InputError, match=r"workload\.rate_rps"):
        mmpp2_arrivals(-1.0, 8.0, 0.2, 60.0, 10.0, rng)


SERVICES = [
    ServiceTypeConfig(
        name="a",
        mix=3.0,
        prompt_median_tokens=50.0,
        prompt_sigma=1.5,
        prompt_min_tokens=20,
        prompt_max_tokens=80,
        output_median_tokens=10.0,
        output_sigma=2.0,
        output_min_tokens=5,
        output_max_tokens=15,
        deadline_min_s=5.0,
        deadline_max_s=6.0,
    ),
    ServiceTypeConfig(
        name="b",
        mix=1.0,
        model="llama2-13b",
        prompt_median_tokens=500.0,
        prompt_sigma=0.0,
        output_median_tokens=100.4,
        output_sigma=0.0,
        deadline_min_s=30.0,
        deadline_max_s=30.0,
        attachment_median_bytes=1000.0,
        attachment_sigma=3.0,
        attachment_max_bytes=5000.0,
    ),
]


@pytest.fixture(scope="module")
def many():
    return generate_requests(WorkloadConfig(rate_rps=10.0), SERVICES, 3, 1000.0, RngStreams(0))


def test_request_table_shapes(many):
    n = len(many)
    for f in (
        "zone",
        "service",
        "prompt_tokens",
        "output_tokens",
        "attachment_bytes",
        "deadline_s",
    ):
        assert getattr(many, f).shape == (n,)
    assert np.all(np.diff(many.arrival_s) >= 0)


def test_tokens_clipped_to_service_ranges(many):
    a, b = many.service == 0, many.service == 1
    assert many.prompt_tokens[a].min() == 20 and many.prompt_tokens[a].max() == 80
    assert many.output_tokens[a].min() == 5 and many.output_tokens[a].max() == 15
    # No spread: the rounded median.
    assert set(many.prompt_tokens[b].tolist()) == {500}
    assert set(many.output_tokens[b].tolist()) == {100}
    assert many.prompt_tokens.dtype.kind == "i"


def test_deadlines_within_ranges(many):
    a, b = many.service == 0, many.service == 1
    assert many.deadline_s[a].min() >= 5.0 and many.deadline_s[a].max() <= 6.0
    # Uniform: spread over the whole range.
    assert many.deadline_s[a].min() < 5.05 and many.deadline_s[a].max() > 5.95
    np.testing.assert_array_equal(many.deadline_s[b], 30.0)


def test_attachments(many):
    a, b = many.service == 0, many.service == 1
    np.testing.assert_array_equal(many.attachment_bytes[a], 0.0)
    assert many.attachment_bytes[b].max() == 5000.0
    assert np.all(many.attachment_bytes[b] > 0)
    assert np.median(many.attachment_bytes[b]) == pytest.approx(1000.0, rel=0.3)


def test_service_mix_and_zones(many):
    n = len(many)
    assert (many.service == 0).mean() == pytest.approx(0.75, abs=5 * np.sqrt(0.1875 / n))
    counts = np.bincount(many.zone, minlength=3) / n
    np.testing.assert_allclose(counts, 1 / 3, atol=5 * np.sqrt(2 / 9 / n))


def test_zone_weights():
    req = generate_requests(
        WorkloadConfig(rate_rps=5.0, zone_weights=[0.0, 1.0, 3.0]),
        SERVICES,
        3,
        400.0,
        RngStreams(1),
    )
    assert not np.any(req.zone == 0)
    assert (req.zone == 2).mean() == pytest.approx(0.75, abs=0.05)
    with pytest.raises(InputError, match=r"workload\.zone_weights"):
        generate_requests(WorkloadConfig(zone_weights=[1.0, 1.0]), SERVICES, 3, 10.0, RngStreams(1))


def test_streams_are_independent_per_concern():
    """Changing the deadlines' distribution leaves arrivals, tokens and zones untouched."""
    other = [SERVICES[0], ServiceTypeConfig(**{**SERVICES[1].__dict__, "deadline_max_s": 90.0})]
    a = generate_requests(WorkloadConfig(rate_rps=2.0), SERVICES, 3, 200.0, RngStreams(5))
    b = generate_requests(WorkloadConfig(rate_rps=2.0), other, 3, 200.0, RngStreams(5))
    np.testing.assert_array_equal(a.arrival_s, b.arrival_s)
    np.testing.assert_array_equal(a.zone, b.zone)
    np.testing.assert_array_equal(a.prompt_tokens, b.prompt_tokens)
    assert not np.array_equal(a.deadline_s, b.deadline_s)


def test_bursty_workload_rate():
    req = generate_requests(
        WorkloadConfig(kind="bursty", rate_rps=2.0, burst_mean_s=2.0),
        SERVICES,
        2,
        20_000.0,
        RngStreams(0),
    )
    assert len(req) / 20_000.0 == pytest.approx(2.0, rel=0.03)


@given(
    median=st.floats(1.0, 5000.0),
    sigma=st.floats(0.0, 3.0),
    lo=st.integers(1, 100),
    span=st.integers(0, 3000),
    seed=st.integers(0, 1000),
)
def test_generated_tokens_always_in_range(median, sigma, lo, span, seed):
    svc = ServiceTypeConfig(
        name="x",
        prompt_median_tokens=median,
        prompt_sigma=sigma,
        prompt_min_tokens=lo,
        prompt_max_tokens=lo + span,
        output_median_tokens=median,
        output_sigma=sigma,
        output_min_tokens=lo,
        output_max_tokens=lo + span,
    )
    req = generate_requests(WorkloadConfig(rate_rps=2.0), [svc], 1, 20.0, RngStreams(seed))
    for arr in (req.prompt_tokens, req.output_tokens):
        assert np.all((arr >= lo) & (arr <= lo + span))
    assert np.all((req.deadline_s >= 10.0) & (req.deadline_s <= 40.0))


# -- dynamics ----------------------------------------------------------------------------------


@given(
    lo=st.floats(0.0, 5.0),
    width=st.floats(0.0, 5.0),
    step=st.floats(0.0, 20.0),
    seed=st.integers(0, 1000),
)
def test_reflected_walk_stays_in_bounds(lo, width, step, seed):
    hi = lo + width
    w = reflected_walk(lo, hi, step, 3, 50, np.random.default_rng(seed))
    assert w.shape == (3, 50)
    assert np.all(w >= lo - 1e-9) and np.all(w <= hi + 1e-9)


def test_reflected_walk_is_uniform_in_the_long_run():
    w = reflected_walk(0.3, 1.0, 0.15, 200, 400, np.random.default_rng(0))
    assert w.mean() == pytest.approx(0.65, abs=0.01)
    # Uniform on [0.3, 1]: variance 0.7^2 / 12.
    assert w.var() == pytest.approx(0.49 / 12, rel=0.1)
    # It moves each round, by at most a free Gaussian step's mean |step| (reflection folds
    # some moves back).
    move = np.abs(np.diff(w, axis=1)).mean()
    assert 0.5 * 0.15 * np.sqrt(2 / np.pi) < move <= 1.02 * 0.15 * np.sqrt(2 / np.pi)


def test_reflected_walk_degenerate_cases():
    np.testing.assert_array_equal(
        reflected_walk(1.0, 1.0, 0.1, 2, 5, np.random.default_rng(0)), 1.0
    )
    flat = reflected_walk(0.0, 1.0, 0.0, 2, 5, np.random.default_rng(0))
    assert np.all(flat == flat[:, :1])
    assert reflected_walk(0.0, 1.0, 0.1, 2, 0, np.random.default_rng(0)).shape == (2, 0)


def test_dynamics_of_the_paper_preset(small_instance):
    inst = small_instance
    d, topo = inst.dynamics, inst.topology
    nominal = topo.link_bandwidth_mbps[:, None]
    assert d.bandwidth_mbps.shape == (topo.n_links, inst.n_rounds)
    fl = topo.link_fluctuates
    np.testing.assert_array_equal(
        d.bandwidth_mbps[~fl], np.broadcast_to(nominal, d.bandwidth_mbps.shape)[~fl]
    )
    assert np.all(d.bandwidth_mbps[fl] >= 0.3 * nominal[fl] - 1e-9)
    assert np.all(d.bandwidth_mbps[fl] <= nominal[fl] + 1e-9)
    assert np.all((d.slowdown >= 1.0) & (d.slowdown <= 1.5))
    assert np.all((d.speed_factor >= 0.5) & (d.speed_factor <= 2.0))


def test_dynamics_link_selection(small_instance):
    topo = small_instance.topology
    streams = RngStreams(0)
    none = realise_dynamics(DynamicsConfig(bandwidth_links="none"), topo, 20, streams)
    np.testing.assert_array_equal(
        none.bandwidth_mbps, np.repeat(topo.link_bandwidth_mbps[:, None], 20, 1)
    )
    every = realise_dynamics(DynamicsConfig(bandwidth_links="all"), topo, 20, streams)
    assert np.all(every.bandwidth_mbps.std(axis=1) > 0)
    np.testing.assert_allclose(every.expected_bandwidth_mbps, topo.link_bandwidth_mbps * 0.65)
    fixed = realise_dynamics(DynamicsConfig(slowdown_max=1.0, speed_sigma=0.0), topo, 20, streams)
    np.testing.assert_array_equal(fixed.slowdown, 1.0)
    np.testing.assert_array_equal(fixed.speed_factor, 1.0)


# -- rng ---------------------------------------------------------------------------------------


def test_named_streams():
    a, b = RngStreams(3), RngStreams(3)
    np.testing.assert_array_equal(a.stream("x").random(5), b.stream("x").random(5))
    assert not np.array_equal(a.stream("x").random(5), a.stream("y").random(5))
    assert not np.array_equal(RngStreams(4).stream("x").random(5), a.stream("x").random(5))
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(InputError, match="seed"):
            RngStreams(bad)
