"""The expected option table: each option's probability of being on time and its expected
energies under the *laws* of the instance, not its realisation (groundwork for the
known-means oracle and pseudo-regret of issue 9).

What is known (docs/model.md, "Online scheduling" and "Dynamics"): every server's true
speed factor, each service type's output-length law, and the slowdown law; unknown: the
request's realised output length and the slowdown it meets. The laws used here:

- output tokens: the service type's clipped, rounded log-normal (synthetic workloads), or
  the empirical distribution of the type's output lengths over the instance (traces: a
  population law, not any request's value);
- slowdown: the stationary law of its process, uniform on ``[1, slowdown_max]`` (the
  reflected walk starts from it, so it is the marginal at every step), independent of the
  output length.

With ``g = prompt x prefill s/token + out x decode s/token`` (true speed, no slowdown) the
inference time is ``s g``, so for a time budget ``b`` left after transmission
``P(s g <= b) = clip((b / g - 1) / (s_max - 1), 0, 1)`` (an indicator when ``s_max = 1``),
averaged over the output law. The formulas are those of :mod:`perllm_opt.delays`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perllm_opt import delays
from perllm_opt.instance import Instance
from perllm_opt.knowledge import QUAD_W, QUAD_Z


@dataclass(frozen=True, eq=False)
class OutputLaw:
    """A discrete law of output tokens: ``values`` with probabilities ``weights``."""

    values: np.ndarray
    weights: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.values @ self.weights)


def output_laws(instance: Instance) -> tuple[OutputLaw, ...]:
    """The output-length law of each service type (module docstring)."""
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
    u = np.clip(cap / np.maximum(x, 1e-300), 1.0, s_max)
    part = (x * (u**2 - 1.0) / 2.0 + cap * (s_max - u)) / (s_max - 1.0)
    return np.where(np.isinf(cap), x * (1.0 + s_max) / 2.0, part)


def expected_options(instance: Instance) -> ExpectedOptions:
    """The expected option table of ``instance`` (see the module docstring)."""
    opts = instance.options
    req = instance.requests
    n_opt = len(opts)
    p = np.zeros(n_opt)
    e_tran = np.zeros(n_opt)
    e_inf = np.zeros(n_opt)
    laws = output_laws(instance)
    s_max = float(instance.config.dynamics.slowdown_max)
    cap = np.inf if instance.continuous else instance.round_s
    speed = instance.dynamics.speed_factor
    bpt = instance.config.system.bytes_per_token
    svc_of = req.service[opts.request]
    for k, law in enumerate(laws):
        for t in instance.templates:
            if t.service != k or len(t) == 0:
                continue
            sel = np.flatnonzero((svc_of == k) & (req.zone[opts.request] == t.zone))
            if len(sel) == 0:
                continue
            c = opts.candidate[sel]
            i = opts.request[sel]
            srv = t.server[c]
            pre = delays.prefill_s_per_token(t.phi[c], t.prefill_tok_s[c], speed[srv])
            dec = delays.decode_s_per_token(
                t.phi[c], t.decode_floor_s_per_token[c], t.decode_tok_s[c], speed[srv]
            )
            g = delays.inference_time_s(
                req.prompt_tokens[i][:, None], law.values[None, :], pre[:, None], dec[:, None]
            )  # (options, support)
            tran = opts.tran_s[sel][:, None]
            budget = np.minimum(req.deadline_s[i] - instance.request_wait_s[i], cap)[:, None]
            ok = _uniform_cdf((budget - tran) / g, s_max)
            p[sel] = ok @ law.weights
            run = _expected_min(g, np.maximum(cap - tran, 0.0), s_max)
            e_inf[sel] = delays.inference_energy_j(t.active_power_w[c], t.phi[c], run @ law.weights)
            down = delays.downlink_bits(law.mean, bpt)
            e_tran[sel] = delays.transmission_energy_j(
                instance.request_up_bits[i] + down, t.path_energy_j_per_bit[c]
            )
    return ExpectedOptions(p_on_time=p, energy_tran_j=e_tran, energy_infer_j=e_inf)
