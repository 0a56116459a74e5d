"""The expected option table: each option's probability of being on time and its expected
energies under the *laws* of the instance, not its realisation: what the known-means oracle
``oracle_milp`` optimises, and what pseudo-regret evaluates every scheduler's decisions on
(docs/metrics.md).

What is known (docs/model.md, "Online scheduling" and "Dynamics"): every server's true
speed factor, each service type's output-length law, and the slowdown law; unknown: the
request's realised output length and the slowdown it meets. Under drift the speed factors
in force at the request's dispatch (its round's start in rounds mode) are used: the drift is
part of the law. The laws used here:

- output tokens: the service type's clipped, rounded log-normal (synthetic workloads), or
  the empirical distribution of the type's output lengths over the instance (traces: a
  population law, not any request's value);
- slowdown: the stationary law of its process, uniform on ``[1, slowdown_max]`` (the
  reflected walk starts from it, so it is the marginal at every step), independent of the
  output length.

With ``g = prompt x prefill s/token + out x decode s/token`` (true speed, no slowdown) the
inference time is ``s g``, so for a time budget ``b`` left after transmission
``P(s g <= b) = clip((b / g - 1) / (s_max - 1), 0, 1)`` (an indicator when ``s_max = 1``),
averaged over the output law. The formulas are those of :mod:`perllm_opt.instance.delays`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perllm_opt.instance import delays
from perllm_opt.instance.options import Template
from perllm_opt.instance.realised import Instance
from perllm_opt.workload.laws import QUAD_W, QUAD_Z


@dataclass(frozen=True, eq=False)
class ExpectedOptions:
    """Per option of ``instance.options``: P(on time) and expected energies (J)."""

    p_on_time: np.ndarray
    energy_tran_j: np.ndarray
    energy_infer_j: np.ndarray


def _uniform_cdf(ratio: np.ndarray, s_max: float) -> np.ndarray:
    """``P(s <= ratio)`` for ``s`` uniform on ``[1, s_max]`` (a point mass at 1 if s_max=1)."""
    if s_max <= 1.0 + 1e-12:
        return (ratio >= 1.0).astype(float)
    return np.clip((ratio - 1.0) / (s_max - 1.0), 0.0, 1.0)


def _expected_min(x: np.ndarray, cap: np.ndarray, s_max: float) -> np.ndarray:
    """``E[min(s x, cap)]`` for ``s`` uniform on ``[1, s_max]`` (``x > 0``)."""
    if s_max <= 1.0 + 1e-12:
        return np.minimum(x, cap)
    finite = np.isfinite(cap)
    c = np.where(finite, cap, 0.0)
    u = np.where(finite, np.clip(c / np.maximum(x, 1e-300), 1.0, s_max), s_max)
    part = (x * (u**2 - 1.0) / 2.0 + c * (s_max - u)) / (s_max - 1.0)
    return np.where(finite, part, x * (1.0 + s_max) / 2.0)


def expected_block(
    t: Template,
    cand: np.ndarray,
    prompt_tokens: np.ndarray,
    up_bits: np.ndarray,
    budget_s: np.ndarray,
    speed_factor: np.ndarray,
    law: OutputLaw,
    slowdown_max: float,
    time_cap_s: float,
    bytes_per_token: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """P(on time), expected E_tran, E_infer and run seconds of candidates ``cand`` of
    template ``t`` for requests with the given prompts, uplink bits and time budgets from
    dispatch (``deadline - wait``); one entry per (request, candidate) pair given."""
    srv = t.server[cand]
    pre = delays.prefill_s_per_token(t.phi[cand], t.prefill_tok_s[cand], speed_factor[srv])
    dec = delays.decode_s_per_token(
        t.phi[cand], t.decode_floor_s_per_token[cand], t.decode_tok_s[cand], speed_factor[srv]
    )
    g = delays.inference_time_s(
        np.asarray(prompt_tokens, dtype=float)[:, None],
        law.values[None, :],
        pre[:, None],
        dec[:, None],
    )
    tran = delays.transmission_time_s(up_bits, t.rate_mbps[cand], t.path_latency_s[cand])
    budget = np.minimum(budget_s, time_cap_s)[:, None]
    p = _uniform_cdf((budget - tran[:, None]) / g, slowdown_max) @ law.weights
    run = _expected_min(g, np.maximum(time_cap_s - tran, 0.0)[:, None], slowdown_max) @ law.weights
    e_inf = delays.inference_energy_j(t.active_power_w[cand], t.phi[cand], run)
    down = delays.downlink_bits(law.mean, bytes_per_token)
    e_tran = delays.transmission_energy_j(up_bits + down, t.path_energy_j_per_bit[cand])
    return p, e_tran, e_inf, run


def expected_options(instance: Instance) -> ExpectedOptions:
    """The expected option table of ``instance`` (see the module docstring)."""
    opts, req = instance.options, instance.requests
    n_opt = len(opts)
    p, e_tran, e_inf = np.zeros(n_opt), np.zeros(n_opt), np.zeros(n_opt)
    laws = output_laws(instance)
    s_max = float(instance.config.dynamics.slowdown_max)
    cap = np.inf if instance.continuous else instance.round_s
    key = req.zone * len(instance.services) + req.service
    opt_key = key[opts.request]
    dyn = instance.dynamics
    late = instance.request_interval[opts.request] >= dyn.drift_interval
    for k, t in enumerate(instance.templates):
        for is_late in (False, True):
            sel = np.flatnonzero((opt_key == k) & (late == is_late))
            if len(sel) == 0:
                continue
            i = opts.request[sel]
            p[sel], e_tran[sel], e_inf[sel], _ = expected_block(
                t,
                opts.candidate[sel],
                req.prompt_tokens[i],
                instance.request_up_bits[i],
                req.deadline_s[i] - instance.request_wait_s[i],
                dyn.speed_factor_at(dyn.drift_interval if is_late else 0),
                laws[t.service],
                s_max,
                cap,
                instance.config.system.bytes_per_token,
            )
    return ExpectedOptions(p_on_time=p, energy_tran_j=e_tran, energy_infer_j=e_inf)


@dataclass(frozen=True, eq=False)
class OutputLaw:
    """A discrete law of output tokens: ``values`` with probabilities ``weights``."""

    values: np.ndarray
    weights: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.values @ self.weights)


def output_laws(instance: Instance) -> tuple[OutputLaw, ...]:
    """The output-length law of each service type: the clipped, rounded log-normal of a
    synthetic workload, or (traces) the empirical law of the type's output lengths over the
    instance (a population law, not any request's value)."""
    trace = instance.config.workload.kind == "trace"
    out = []
    for k, s in enumerate(instance.services):
        own = instance.requests.output_tokens[instance.requests.service == k]
        if trace and len(own):
            raw, weight = own.astype(float), np.ones(len(own))
        else:
            raw = np.clip(
                np.rint(s.output_median_tokens * np.exp(s.output_sigma * QUAD_Z)),
                s.output_min_tokens,
                s.output_max_tokens,
            )
            weight = QUAD_W
        values, inv = np.unique(raw, return_inverse=True)
        w = np.bincount(inv, weights=weight, minlength=len(values))
        out.append(OutputLaw(values=values, weights=w / w.sum()))
    return tuple(out)
