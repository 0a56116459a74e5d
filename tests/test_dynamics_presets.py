"""The dynamics presets of conf/dynamics/: what each promises, checked on realised draws."""

from __future__ import annotations

import numpy as np
import pytest

from perllm_opt.cli.config_store import compose_config, to_app_config
from perllm_opt.instance.build import build_instance
from perllm_opt.instance.dynamics import realise_dynamics
from perllm_opt.rng import RngStreams


def app(*overrides: str):
    return to_app_config(compose_config(["optimal=false", *overrides]))


def lag1(series: np.ndarray) -> float:
    """Lag-1 autocorrelation pooled over rows."""
    x = series - series.mean(axis=1, keepdims=True)
    return float((x[:, 1:] * x[:, :-1]).sum() / (x * x).sum())


def test_static_has_no_fluctuation():
    inst = build_instance(app("dynamics=static", "system.mode=rounds", "horizon_s=300"))
    d = inst.dynamics
    np.testing.assert_array_equal(d.slowdown, 1.0)
    nominal = inst.topology.link_bandwidth_mbps[:, None]
    np.testing.assert_array_equal(
        d.bandwidth_mbps, np.broadcast_to(nominal, d.bandwidth_mbps.shape)
    )
    np.testing.assert_array_equal(d.expected_bandwidth_mbps, inst.topology.link_bandwidth_mbps)


def test_iid_is_memoryless_with_the_walks_law():
    iid = build_instance(app("dynamics=iid", "horizon_s=3600")).dynamics
    walk = build_instance(app("horizon_s=3600")).dynamics
    assert abs(lag1(iid.slowdown)) < 0.15 < 0.5 < lag1(walk.slowdown)
    # Same stationary law: uniform on [1, slowdown_max] (mean 1.25, sd 0.5 / sqrt(12)).
    assert iid.slowdown.min() >= 1.0 and iid.slowdown.max() <= 1.5
    assert iid.slowdown.mean() == pytest.approx(1.25, abs=0.02)
    assert iid.slowdown.std() == pytest.approx(0.5 / np.sqrt(12), abs=0.01)
    np.testing.assert_array_equal(iid.expected_slowdown, walk.expected_slowdown)


def test_misprofiled_spreads_true_speeds():
    cfg = app("dynamics=misprofiled")
    topo = build_instance(app("dynamics=misprofiled", "horizon_s=30")).topology
    logs = np.concatenate(
        [
            np.log(realise_dynamics(cfg.dynamics, topo, 1, RngStreams(s)).speed_factor)
            for s in range(100)
        ]
    )
    assert logs.min() >= np.log(0.25) - 1e-12 and logs.max() <= np.log(4.0) + 1e-12
    assert logs.std() == pytest.approx(0.6, abs=0.06)  # the clip at +-2.3 sd trims little
    assert np.mean(np.abs(logs) > np.log(2.0)) > 0.15  # many servers off by over 2x


def test_drift_changes_speeds_half_way_and_the_option_table_follows():
    base = build_instance(app("horizon_s=600", "system.mode=rounds"))
    inst = build_instance(app("dynamics=drift", "horizon_s=600", "system.mode=rounds"))
    d = inst.dynamics
    np.testing.assert_array_equal(d.speed_factor, base.dynamics.speed_factor)
    ratio = d.speed_factor_late / d.speed_factor
    changed = ~np.isclose(ratio, 1.0)
    assert changed.sum() == round(0.5 * inst.topology.n_servers)
    assert np.all(np.isclose(ratio[changed], 0.4) | np.isclose(ratio[changed], 2.5))
    assert d.drift_at_s == pytest.approx(300.0)
    # Inference time scales by 1 / (speed change) from the drift on, on the changed servers.
    o, ob = inst.options, base.options
    late = inst.request_interval[o.request] >= d.drift_interval
    expect = np.where(late, 1.0 / ratio[o.server], 1.0)
    np.testing.assert_allclose(o.infer_s / ob.infer_s, expect, rtol=1e-9)
    assert late.any() and (~late).any()
