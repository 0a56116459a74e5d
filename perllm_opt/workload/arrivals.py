"""Arrival processes: Poisson and bursty (two-state Markov-modulated Poisson, MMPP-2)."""

from __future__ import annotations

import numpy as np

from perllm_opt.errors import require_positive


def poisson_arrivals(rate_rps: float, horizon_s: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times of a homogeneous Poisson process on ``[0, horizon_s)``.

    Uses the order-statistics property: given the count ``N ~ Poisson(rate * horizon)``, the
    times are ``N`` sorted uniforms.
    """
    require_positive(rate_rps, "workload.rate_rps")
    require_positive(horizon_s, "horizon_s")
    n = int(rng.poisson(rate_rps * horizon_s))
    return np.sort(rng.uniform(0.0, horizon_s, size=n))


def mmpp2_arrivals(
    rate_rps: float,
    burst_ratio: float,
    burst_fraction: float,
    burst_mean_s: float,
    horizon_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Arrival times of a two-state MMPP with the given time-average rate.

    The high state has rate ``burst_ratio`` times the low state's and takes a share
    ``burst_fraction`` of time; sojourns are exponential with means ``burst_mean_s`` (high)
    and ``burst_mean_s * (1 - f) / f`` (low), so the long-run mean rate is ``rate_rps``:
    ``rate_low = rate / (f * ratio + 1 - f)`` (Fischer & Meier-Hellstern, "The MMPP
    cookbook", Performance Evaluation 18, 1993).
    """
    require_positive(rate_rps, "workload.rate_rps")
    require_positive(horizon_s, "horizon_s")
    f = burst_fraction
    rate_low = rate_rps / (f * burst_ratio + 1.0 - f)
    rate_high = burst_ratio * rate_low
    mean_low_s = burst_mean_s * (1.0 - f) / f
    high = bool(rng.random() < f)  # start in the stationary distribution
    t = 0.0
    chunks = []
    while t < horizon_s:
        dur = float(rng.exponential(burst_mean_s if high else mean_low_s))
        end = min(t + dur, horizon_s)
        n = int(rng.poisson((rate_high if high else rate_low) * (end - t)))
        chunks.append(rng.uniform(t, end, size=n))
        t, high = end, not high
    return np.sort(np.concatenate(chunks)) if chunks else np.empty(0)
