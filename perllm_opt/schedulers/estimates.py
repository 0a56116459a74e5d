"""Expected time and energy of each candidate from what a scheduler knows.

The formulas are those of :mod:`perllm_opt.instance.delays` (the option table's), applied to profile
speeds, a nominal slowdown and the mean output length instead of the ground truth. Since
they are linear in the uplink bits and the prompt tokens, each template's candidates get
three coefficients per quantity, so an estimate costs a few vector operations per decision
(``tests/test_estimates.py`` checks them against direct evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perllm_opt.instance import delays
from perllm_opt.simulation.view import SystemInfo


@dataclass(frozen=True, eq=False)
class CandidateModel:
    """Linear models over one template's candidates (arrays of shape (K,)).

    ``dispatch_time_s = up_bits * time_per_up_bit + prompt * time_per_prompt_token +
    time_const_s`` (transmission + inference), and likewise for the weighted marginal energy
    ``w_tran E_tran + (w_infer P_active - w_idle P_idle) phi D_infer`` (the change in the
    objective's energy, the server being on). ``wake_j`` is the weighted idle energy of
    switching a sleeping server on for the round (rounds mode) or a sleep block (continuous).
    """

    time_per_up_bit: np.ndarray
    time_per_prompt_token: np.ndarray
    time_const_s: np.ndarray
    energy_per_up_bit: np.ndarray
    energy_per_prompt_token: np.ndarray
    energy_const_j: np.ndarray
    wake_j: np.ndarray

    def dispatch_time_s(self, up_bits: float, prompt_tokens: float) -> np.ndarray:
        """Expected time from dispatch to completion."""
        return (
            up_bits * self.time_per_up_bit
            + prompt_tokens * self.time_per_prompt_token
            + self.time_const_s
        )

    def energy_j(self, up_bits: float, prompt_tokens: float) -> np.ndarray:
        """Expected weighted marginal energy (without waking the server)."""
        return (
            up_bits * self.energy_per_up_bit
            + prompt_tokens * self.energy_per_prompt_token
            + self.energy_const_j
        )


def candidate_models(
    info: SystemInfo,
    speed_factor: np.ndarray | None = None,
    slowdown: np.ndarray | None = None,
    mean_output_tokens: np.ndarray | None = None,
) -> tuple[CandidateModel, ...]:
    """Build a :class:`CandidateModel` per template.

    Parameters
    ----------
    info : SystemInfo
    speed_factor, slowdown : ndarray, shape (n_servers,), optional
        Defaults 1: the public profile at no background load.
    mean_output_tokens : ndarray, shape (n_services,), optional
        Defaults to ``info.mean_output_tokens``.
    """
    speed = np.ones(info.n_servers) if speed_factor is None else np.asarray(speed_factor)
    slow = np.ones(info.n_servers) if slowdown is None else np.asarray(slowdown)
    mean_out = info.mean_output_tokens if mean_output_tokens is None else mean_output_tokens
    w_tran, w_infer, w_idle = info.weights
    out = []
    for t in info.templates:
        srv = t.server
        pre = delays.prefill_s_per_token(t.phi, t.prefill_tok_s, speed[srv])
        dec = delays.decode_s_per_token(
            t.phi, t.decode_floor_s_per_token, t.decode_tok_s, speed[srv]
        )
        m = float(mean_out[t.service])
        t_prompt = delays.inference_time_s(1.0, 0.0, pre, dec, slow[srv])
        t_const = delays.inference_time_s(0.0, m, pre, dec, slow[srv]) + delays.transmission_time_s(
            0.0, t.rate_mbps, t.path_latency_s
        )
        t_bit = delays.transmission_time_s(1.0, t.rate_mbps, 0.0)
        net_power = w_infer * t.active_power_w - w_idle * info.server_idle_power_w[srv]
        down_bits = delays.downlink_bits(m, info.bytes_per_token)
        out.append(
            CandidateModel(
                time_per_up_bit=np.broadcast_to(t_bit, srv.shape).astype(float),
                time_per_prompt_token=np.asarray(t_prompt, dtype=float),
                time_const_s=np.asarray(t_const, dtype=float),
                energy_per_up_bit=w_tran
                * delays.transmission_energy_j(1.0, t.path_energy_j_per_bit),
                energy_per_prompt_token=delays.inference_energy_j(net_power, t.phi, t_prompt),
                energy_const_j=(
                    w_tran * delays.transmission_energy_j(down_bits, t.path_energy_j_per_bit)
                    + delays.inference_energy_j(
                        net_power, t.phi, delays.inference_time_s(0.0, m, pre, dec, slow[srv])
                    )
                ),
                wake_j=w_idle
                * info.server_idle_power_w[srv]
                * info.wake_s
                * info.server_can_sleep[srv],
            )
        )
    return tuple(out)


def typical_energy_j(info: SystemInfo, models: tuple[CandidateModel, ...]) -> np.ndarray:
    """A per-service energy scale: the median candidate energy of a median request, the
    largest over zones (used to normalise energies into [0, 1]-ish rewards)."""
    scale = np.ones(info.n_services)
    for t, cm in zip(info.templates, models, strict=True):
        if len(t) == 0:
            continue
        s = info.services[t.service]
        up = delays.uplink_bits(
            s.prompt_median_tokens, s.attachment_median_bytes, info.bytes_per_token
        )
        e = float(np.median(cm.energy_j(up, s.prompt_median_tokens)))
        scale[t.service] = max(scale[t.service], e)
    return scale
