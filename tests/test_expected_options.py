"""The expected option table against Monte Carlo draws from the instance's laws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from support import small_config

from perllm_opt.config import DynamicsConfig, SystemConfig, WorkloadConfig
from perllm_opt.instance import delays
from perllm_opt.instance.build import build_instance
from perllm_opt.instance.expected_options import expected_options, output_laws


@pytest.fixture(scope="module", params=["rounds", "continuous", "continuous-drift"])
def inst(request):
    # The drift case changes half the servers' speeds 20 s in (both sides are sampled).
    drift = DynamicsConfig(
        drift_fraction=0.5, drift_factor=0.4, drift_at_fraction=0.34, speed_min=0.1, speed_max=10
    )
    return build_instance(
        small_config(
            seed=7,
            horizon_s=60.0,
            workload=WorkloadConfig(rate_rps=1.0),
            system=SystemConfig(mode=request.param.split("-")[0]),
            dynamics=drift if request.param.endswith("drift") else DynamicsConfig(),
        )
    )


def monte_carlo(inst, o: int, n: int, rng: np.random.Generator) -> tuple[float, float]:
    """P(on time) and E[E_infer] of option ``o`` by drawing output length and slowdown."""
    opts, req = inst.options, inst.requests
    i = int(opts.request[o])
    svc = inst.services[int(req.service[i])]
    out = np.clip(
        np.rint(svc.output_median_tokens * np.exp(svc.output_sigma * rng.standard_normal(n))),
        svc.output_min_tokens,
        svc.output_max_tokens,
    )
    s = rng.uniform(1.0, inst.config.dynamics.slowdown_max, n)
    t = inst.template_of(i)
    c = int(opts.candidate[o])
    j = int(t.server[c])
    kappa = inst.dynamics.speed_factor_at(int(inst.request_interval[i]))[j]
    pre = delays.prefill_s_per_token(t.phi[c], t.prefill_tok_s[c], kappa)
    dec = delays.decode_s_per_token(
        t.phi[c], t.decode_floor_s_per_token[c], t.decode_tok_s[c], kappa
    )
    infer = delays.inference_time_s(req.prompt_tokens[i], out, pre, dec, s)
    tran = opts.tran_s[o]
    cap = np.inf if inst.continuous else inst.round_s
    completes = tran + infer <= cap
    on_time = completes & (inst.request_wait_s[i] + tran + infer <= req.deadline_s[i])
    run = np.where(completes, infer, np.clip(cap - tran, 0.0, None))
    return float(on_time.mean()), float(
        delays.inference_energy_j(t.active_power_w[c], t.phi[c], run).mean()
    )


def test_p_on_time_matches_monte_carlo(inst):
    exp = expected_options(inst)
    rng = np.random.default_rng(11)
    # Options whose probability is neither 0 nor 1 are the informative ones; add some others.
    mid = np.flatnonzero((exp.p_on_time > 0.05) & (exp.p_on_time < 0.95))
    assert len(mid) >= 10
    picks = np.concatenate([rng.choice(mid, 15, replace=False), rng.choice(len(exp.p_on_time), 10)])
    for o in picks.tolist():
        p, e = monte_carlo(inst, o, 40_000, rng)
        assert exp.p_on_time[o] == pytest.approx(p, abs=0.01), o
        assert exp.energy_infer_j[o] == pytest.approx(e, rel=0.02), o


def test_laws_do_not_depend_on_the_realisation(inst):
    """Other realised output lengths and slowdowns (same laws) leave the table unchanged,
    and an option realised on time always has a positive probability."""
    laws = output_laws(inst)
    for law, svc in zip(laws, inst.services, strict=True):
        assert law.weights.sum() == pytest.approx(1.0)
        assert svc.output_min_tokens <= law.values.min()
        assert law.values.max() <= svc.output_max_tokens
    exp = expected_options(inst)
    assert np.all((exp.p_on_time >= 0) & (exp.p_on_time <= 1))
    assert not np.any(inst.options.on_time & (exp.p_on_time == 0.0))
    rng = np.random.default_rng(3)
    req = dataclasses.replace(
        inst.requests, output_tokens=rng.permutation(inst.requests.output_tokens)
    )
    dyn = dataclasses.replace(
        inst.dynamics,
        slowdown=rng.uniform(1.0, inst.config.dynamics.slowdown_max, inst.dynamics.slowdown.shape),
    )
    other = expected_options(dataclasses.replace(inst, requests=req, dynamics=dyn))
    np.testing.assert_array_equal(other.p_on_time, exp.p_on_time)
    np.testing.assert_array_equal(other.energy_infer_j, exp.energy_infer_j)
