"""Requests: a frozen table of arrays, generated synthetically or from a trace."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perllm_opt.config import ServiceTypeConfig, WorkloadConfig
from perllm_opt.errors import InputError
from perllm_opt.rng import RngStreams
from perllm_opt.workload.arrivals import mmpp2_arrivals, poisson_arrivals
from perllm_opt.workload.traces import load_trace, trace_window

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Requests:
    """One row per request, sorted by arrival time.

    Attributes
    ----------
    arrival_s : ndarray of float
    zone : ndarray of int
        Index into ``Topology.zones``.
    service : ndarray of int
        Index into the service types.
    prompt_tokens, output_tokens : ndarray of int
        ``output_tokens`` is ground truth: schedulers never see it.
    attachment_bytes : ndarray of float
    deadline_s : ndarray of float
        Personalised processing-time requirement dD, counted from arrival.
    """

    arrival_s: np.ndarray
    zone: np.ndarray
    service: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    attachment_bytes: np.ndarray
    deadline_s: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival_s)


def _lognormal_tokens(
    rng: np.random.Generator, median: float, sigma: float, lo: int, hi: int, n: int
) -> np.ndarray:
    draws = median * np.exp(sigma * rng.standard_normal(n))
    return np.clip(np.rint(draws), lo, hi).astype(np.int64)


def _draw_zone(
    weights: Sequence[float] | None, n_zones: int, n: int, rng: np.random.Generator
) -> np.ndarray:
    if weights is None:
        return rng.integers(0, n_zones, size=n)
    if len(weights) != n_zones:
        raise InputError(
            "workload.zone_weights", list(weights), f"{n_zones} weights, one per user zone"
        )
    p = np.asarray(weights, dtype=float)
    return rng.choice(n_zones, size=n, p=p / p.sum())


def generate_requests(
    workload: WorkloadConfig,
    services: Sequence[ServiceTypeConfig],
    n_zones: int,
    horizon_s: float,
    streams: RngStreams,
) -> Requests:
    """Draw the realised requests of one instance.

    Each concern uses its own stream: ``arrivals``, ``zones``, ``services``, ``tokens``,
    ``deadlines``, ``attachments``.
    """
    arrival, trace_tokens = _arrivals(workload, horizon_s, streams)
    n = len(arrival)
    zone = _draw_zone(workload.zone_weights, n_zones, n, streams.stream("zones"))
    mix = np.asarray([s.mix for s in services], dtype=float)
    service = streams.stream("services").choice(len(services), size=n, p=mix / mix.sum())

    prompt = np.empty(n, dtype=np.int64)
    output = np.empty(n, dtype=np.int64)
    deadline = np.empty(n)
    attach = np.zeros(n)
    tok_rng, dl_rng, at_rng = (streams.stream(c) for c in ("tokens", "deadlines", "attachments"))
    clipped = 0
    for k, s in enumerate(services):
        idx = np.flatnonzero(service == k)
        m = len(idx)
        if trace_tokens is None:
            prompt[idx] = _lognormal_tokens(
                tok_rng,
                s.prompt_median_tokens,
                s.prompt_sigma,
                s.prompt_min_tokens,
                s.prompt_max_tokens,
                m,
            )
            output[idx] = _lognormal_tokens(
                tok_rng,
                s.output_median_tokens,
                s.output_sigma,
                s.output_min_tokens,
                s.output_max_tokens,
                m,
            )
        else:
            p_raw, o_raw = trace_tokens[0][idx], trace_tokens[1][idx]
            prompt[idx] = np.clip(p_raw, s.prompt_min_tokens, s.prompt_max_tokens)
            output[idx] = np.clip(o_raw, s.output_min_tokens, s.output_max_tokens)
            clipped += int((prompt[idx] != p_raw).sum() + (output[idx] != o_raw).sum())
        deadline[idx] = dl_rng.uniform(s.deadline_min_s, s.deadline_max_s, size=m)
        if s.attachment_median_bytes > 0:
            draws = s.attachment_median_bytes * np.exp(
                s.attachment_sigma * at_rng.standard_normal(m)
            )
            attach[idx] = np.minimum(draws, s.attachment_max_bytes)
    if clipped:
        log.info("trace: %d token counts clipped to their service type's [min, max]", clipped)
    return Requests(
        arrival_s=np.asarray(arrival, dtype=float),
        zone=zone.astype(np.int64),
        service=service.astype(np.int64),
        prompt_tokens=prompt,
        output_tokens=output,
        attachment_bytes=attach,
        deadline_s=deadline,
    )


def _arrivals(
    workload: WorkloadConfig, horizon_s: float, streams: RngStreams
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Arrival times (stream ``arrivals``), and for a trace its prompt and output tokens."""
    trace_tokens = None
    if workload.kind == "poisson":
        arrival = poisson_arrivals(workload.rate_rps, horizon_s, streams.stream("arrivals"))
    elif workload.kind == "bursty":
        arrival = mmpp2_arrivals(
            workload.rate_rps,
            workload.burst_ratio,
            workload.burst_fraction,
            workload.burst_mean_s,
            horizon_s,
            streams.stream("arrivals"),
        )
    else:
        trace = load_trace(str(workload.trace_path), workload.trace_format)
        scale = 1.0 if workload.trace_native_rate else workload.rate_rps / trace.mean_rate_rps
        arrival, prompt_t, output_t = trace_window(trace, workload.trace_start_s, horizon_s, scale)
        trace_tokens = (prompt_t, output_t)
    return arrival, trace_tokens
