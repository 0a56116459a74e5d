"""Ground-truth dynamics of an instance: link bandwidth and server slowdown per interval of
``dynamics.interval_s`` seconds, and each server's true speed relative to its public
profile."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perllm_opt.config import DynamicsConfig
from perllm_opt.rng import RngStreams
from perllm_opt.system.topology import Topology


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
    speed_factor_late : ndarray, shape (n_servers,), optional
        kappa_j from interval ``drift_interval`` on (drift); ``speed_factor`` if omitted.
    drift_interval : int
        First interval of the late speed factors (``n_intervals`` or more: no drift).
    """

    bandwidth_mbps: np.ndarray
    slowdown: np.ndarray
    speed_factor: np.ndarray
    expected_bandwidth_mbps: np.ndarray
    expected_slowdown: np.ndarray
    interval_s: float = 1.0
    speed_factor_late: np.ndarray | None = None
    drift_interval: int = 2**62

    @property
    def n_intervals(self) -> int:
        return self.bandwidth_mbps.shape[1]

    @property
    def drift_at_s(self) -> float:
        """When the late speed factors take over (``inf``: never)."""
        late = self.speed_factor_late
        if late is None or np.array_equal(late, self.speed_factor):
            return float("inf")
        return float(self.drift_interval * self.interval_s)

    def speed_factor_at(self, interval) -> np.ndarray:
        """kappa_j in each given interval: shape (n_servers,) for a scalar, else
        (n_servers, len(interval))."""
        late = self.speed_factor if self.speed_factor_late is None else self.speed_factor_late
        idx = np.asarray(interval)
        is_late = idx >= self.drift_interval
        if idx.ndim == 0:
            return late if bool(is_late) else self.speed_factor
        return np.where(is_late[None, :], late[:, None], self.speed_factor[:, None])

    def time_factor(self) -> np.ndarray:
        """Inference-time multiplier per (server, interval) relative to the profile at the
        initial speed: the slowdown, times ``speed_factor / speed_factor_at(t)`` (inference
        time is inversely proportional to speed, :mod:`perllm_opt.instance.delays`)."""
        speed = self.speed_factor_at(np.arange(self.n_intervals))
        return self.slowdown * self.speed_factor[:, None] / speed

    def interval_of(self, time_s):
        """Index of the interval holding ``time_s`` (clipped to the realised ones)."""
        idx = np.floor(np.asarray(time_s, dtype=float) / self.interval_s + 1e-9).astype(np.int64)
        return np.clip(idx, 0, self.n_intervals - 1)


def reflected_walk(
    lo: float,
    hi: float,
    step: float,
    n_series: int,
    n_steps: int,
    rng: np.random.Generator,
    iid: bool = False,
) -> np.ndarray:
    """Gaussian random walks reflected into ``[lo, hi]``, started from their stationary law
    (``iid``: independent draws from that law at every step).

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
    if iid:
        return rng.uniform(lo, hi, size=(n_series, n_steps))
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
    iid = config.process == "iid"
    walk = reflected_walk(
        lo,
        1.0,
        config.bandwidth_step,
        int(moving.sum()),
        n_intervals,
        streams.stream("bandwidth"),
        iid,
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
        iid,
    )
    speed = np.clip(
        np.exp(config.speed_sigma * streams.stream("speed").standard_normal(topology.n_servers)),
        config.speed_min,
        config.speed_max,
    )
    late, drift_interval = speed, 2**62
    n_drift = round(config.drift_fraction * topology.n_servers)
    if n_drift and config.drift_factor != 1.0:
        rng = streams.stream("drift")
        who = rng.choice(topology.n_servers, size=n_drift, replace=False)
        factor = np.where(rng.random(n_drift) < 0.5, config.drift_factor, 1 / config.drift_factor)
        late = speed.copy()
        late[who] = np.clip(speed[who] * factor, config.speed_min, config.speed_max)
        drift_interval = round(config.drift_at_fraction * n_intervals)
    return Dynamics(
        bandwidth_mbps=nominal[:, None] * frac,
        slowdown=slowdown,
        speed_factor=speed,
        expected_bandwidth_mbps=nominal * expected_frac,
        expected_slowdown=np.full(topology.n_servers, (1.0 + config.slowdown_max) / 2.0),
        interval_s=float(config.interval_s),
        speed_factor_late=late,
        drift_interval=drift_interval,
    )
