"""Ground-truth dynamics of an instance: link bandwidth and server slowdown per interval of
``dynamics.interval_s`` seconds, and each server's true speed relative to its public
profile."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perllm_opt.config import DynamicsConfig
from perllm_opt.rng import RngStreams
from perllm_opt.topology import Topology


@dataclass(frozen=True, eq=False)
class Dynamics:
    """Realised conditions, piecewise constant over intervals of ``interval_s`` seconds.

    Attributes
    ----------
    bandwidth_mbps : ndarray, shape (n_links, n_intervals)
        Available bandwidth B_e(t) in interval t (``[t interval_s, (t + 1) interval_s)``;
        times past the last interval take its value).
    slowdown : ndarray, shape (n_servers, n_intervals)
        Background-load slowdown s_j(t) >= 1 of inference time.
    speed_factor : ndarray, shape (n_servers,)
        True speed / profile speed (kappa_j).
    expected_bandwidth_mbps : ndarray, shape (n_links,)
        Expectation of B_e(t) under the process (what an oracle may know).
    expected_slowdown : ndarray, shape (n_servers,)
        Expectation of s_j(t) under the process.
    """

    bandwidth_mbps: np.ndarray
    slowdown: np.ndarray
    speed_factor: np.ndarray
    expected_bandwidth_mbps: np.ndarray
    expected_slowdown: np.ndarray
    interval_s: float = 1.0

    @property
    def n_intervals(self) -> int:
        return self.bandwidth_mbps.shape[1]

    def interval_of(self, time_s):
        """Index of the interval holding ``time_s`` (clipped to the realised ones)."""
        idx = np.floor(np.asarray(time_s, dtype=float) / self.interval_s + 1e-9).astype(np.int64)
        return np.clip(idx, 0, self.n_intervals - 1)


def reflected_walk(
    lo: float, hi: float, step: float, n_series: int, n_steps: int, rng: np.random.Generator
) -> np.ndarray:
    """Gaussian random walks reflected into ``[lo, hi]``, started from their stationary law.

    A symmetric walk reflected at both ends has the uniform law on ``[lo, hi]`` as its
    stationary distribution, so the expectation is ``(lo + hi) / 2`` at every step.

    Returns
    -------
    ndarray, shape (n_series, n_steps)
    """
    out = np.empty((n_series, n_steps))
    if n_steps == 0:
        return out
    if hi <= lo or step == 0:
        out[:] = rng.uniform(lo, hi, size=(n_series, 1)) if hi > lo else lo
        return out
    width = hi - lo
    x = rng.uniform(lo, hi, size=n_series)
    out[:, 0] = x
    steps = step * rng.standard_normal((n_series, n_steps - 1))
    for t in range(1, n_steps):
        y = (x + steps[:, t - 1] - lo) % (2 * width)
        x = lo + np.where(y > width, 2 * width - y, y)
        out[:, t] = x
    return out


def realise_dynamics(
    config: DynamicsConfig,
    topology: Topology,
    n_intervals: int,
    streams: RngStreams,
    link_bandwidth_mbps: np.ndarray | None = None,
) -> Dynamics:
    """Draw bandwidth, slowdown and speed factors (streams ``bandwidth``, ``slowdown``,
    ``speed``) for ``n_intervals`` intervals of ``config.interval_s``."""
    nominal = topology.link_bandwidth_mbps if link_bandwidth_mbps is None else link_bandwidth_mbps
    if config.bandwidth_links == "all":
        moving = np.ones(topology.n_links, dtype=bool)
    elif config.bandwidth_links == "none":
        moving = np.zeros(topology.n_links, dtype=bool)
    else:
        moving = topology.link_fluctuates.copy()
    frac = np.ones((topology.n_links, n_intervals))
    lo = config.bandwidth_min_fraction
    walk = reflected_walk(
        lo, 1.0, config.bandwidth_step, int(moving.sum()), n_intervals, streams.stream("bandwidth")
    )
    frac[moving] = walk
    expected_frac = np.where(moving, (lo + 1.0) / 2.0, 1.0)

    slowdown = reflected_walk(
        1.0,
        config.slowdown_max,
        config.slowdown_step,
        topology.n_servers,
        n_intervals,
        streams.stream("slowdown"),
    )
    speed = np.clip(
        np.exp(config.speed_sigma * streams.stream("speed").standard_normal(topology.n_servers)),
        0.5,
        2.0,
    )
    return Dynamics(
        bandwidth_mbps=nominal[:, None] * frac,
        slowdown=slowdown,
        speed_factor=speed,
        expected_bandwidth_mbps=nominal * expected_frac,
        expected_slowdown=np.full(topology.n_servers, (1.0 + config.slowdown_max) / 2.0),
        interval_s=float(config.interval_s),
    )
