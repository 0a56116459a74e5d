"""What an online scheduler may know (docs/model.md, "Online scheduling").

:class:`SystemInfo` is public and fixed for a run: topology, deployment, service types,
candidate templates with *profile* speeds, capacities and nominal bandwidth. A
:class:`RoundView` is handed over at each decision epoch: the round's requests without their
output lengths, and the resources reserved so far in the round (read-only arrays the simulator
updates in place). Neither holds the true device speeds, slowdowns, output tokens, the
realised bandwidth of the current or future rounds, or future arrivals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perllm_opt.config import ServiceTypeConfig
from perllm_opt.instance.options import ServerSlices, Template

#: Relative tolerance on every capacity check (shares, Mbps, bytes), see :func:`fits`.
CAPACITY_RTOL = 1e-9


def fits(used, need, capacity):
    """``used + need <= capacity`` up to a relative tolerance; the one capacity test shared by
    the simulator, the schedulers and the evaluator."""
    return used + need <= capacity * (1.0 + CAPACITY_RTOL) + CAPACITY_RTOL


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def read_only(a: np.ndarray) -> np.ndarray:
    """A non-writable view of ``a`` that still reflects later changes to ``a``."""
    v = a.view()
    v.flags.writeable = False
    return v


@dataclass(frozen=True, eq=False)
class SystemInfo:
    """Public, static knowledge about the system.

    Attributes
    ----------
    templates : tuple of Template
        Candidates per (zone, service), index ``zone * n_services + service``.
    slices : ServerSlices
        Every (server, share, rate); ``Template.server_slice`` indexes it.
    services : tuple of ServiceTypeConfig
    mean_output_tokens : ndarray, shape (n_services,)
        Expected output length of each service type under its public distribution.
    round_s : float
    n_servers, n_links : int
    server_kv_budget_bytes, server_idle_power_w, server_active_power_w : ndarray
    server_can_sleep, server_is_cloud : ndarray of bool
    nominal_bandwidth_mbps : ndarray, shape (n_links + 1,)
        Last entry is the sentinel link (infinite).
    path_link_matrix : ndarray
        As :attr:`perllm_opt.system.topology.Topology.path_link_matrix`.
    weights : tuple of float
        ``(w_tran, w_infer, w_idle)`` of the objective.
    bytes_per_token : float
    mode : str
        ``rounds`` or ``continuous`` (docs/model.md, "Time").
    time_cap_s : float
        How long an option may run from dispatch: the round in rounds mode, ``inf`` in
        continuous mode (nothing is cut off).
    wake_s : float
        Seconds a sleeping server stays on once woken: the round, or the sleep block.

    ``round_s`` is the time between decision epochs (the round, or ``system.epoch_s``).
    """

    templates: tuple[Template, ...]
    slices: ServerSlices
    services: tuple[ServiceTypeConfig, ...]
    mean_output_tokens: np.ndarray
    round_s: float
    n_servers: int
    n_links: int
    server_kv_budget_bytes: np.ndarray
    server_idle_power_w: np.ndarray
    server_active_power_w: np.ndarray
    server_can_sleep: np.ndarray
    server_is_cloud: np.ndarray
    nominal_bandwidth_mbps: np.ndarray
    path_link_matrix: np.ndarray
    path_latency_s: np.ndarray
    weights: tuple[float, float, float]
    bytes_per_token: float
    mode: str = "rounds"
    time_cap_s: float = float("inf")
    wake_s: float = 0.0

    @property
    def n_services(self) -> int:
        return len(self.services)

    @property
    def n_slices(self) -> int:
        return len(self.slices)


@dataclass(frozen=True, eq=False)
class RoundView:
    """The decision epoch of one round.

    Per-request arrays have one entry per request of the round, in arrival order; the
    scheduler is asked about entry ``k`` with :meth:`Scheduler.select`.

    Attributes
    ----------
    round_index : int
    request_id : ndarray of int
        Global request ids (arrival order), as used in feedback.
    template : ndarray of int
        Index into ``SystemInfo.templates``.
    zone, service, prompt_tokens : ndarray of int
    wait_s, deadline_s, up_bits, kv_bytes : ndarray of float
        ``deadline_s`` counts from arrival, so the time left is ``deadline_s - wait_s``.
    compute_used : ndarray, shape (n_servers,)
        Shares reserved so far in the round.
    kv_used_bytes : ndarray, shape (n_servers,)
    rate_used_mbps : ndarray, shape (n_links + 1,)
    bandwidth_estimate_mbps : ndarray, shape (n_links + 1,)
        The bandwidth observed in the previous round (nominal in the first round).
    path_residual_mbps : ndarray, shape (n_paths,)
        ``bandwidth_estimate - rate_used`` minimised over each path's links.
    now_s : float
        Time of the decision epoch.
    live_server, live_phi, live_kv_bytes, live_expected_end_s : ndarray
        Continuous mode: the reservations still held (server, share, KV bytes) and when
        each is *expected* to be released (dispatch plus the public profile's estimate of its
        time, never the realised one; at least ``now_s``). Empty in rounds mode, where every
        round starts empty.

    In continuous mode "the round" is the decision epoch: ``compute_used``,
    ``kv_used_bytes`` and ``rate_used_mbps`` are what live reservations hold at ``now_s``.
    """

    round_index: int
    request_id: np.ndarray
    template: np.ndarray
    zone: np.ndarray
    service: np.ndarray
    prompt_tokens: np.ndarray
    wait_s: np.ndarray
    deadline_s: np.ndarray
    up_bits: np.ndarray
    kv_bytes: np.ndarray
    compute_used: np.ndarray
    kv_used_bytes: np.ndarray
    rate_used_mbps: np.ndarray
    bandwidth_estimate_mbps: np.ndarray
    path_residual_mbps: np.ndarray
    now_s: float = 0.0
    live_server: np.ndarray = field(default_factory=lambda: _frozen(np.empty(0, dtype=np.int64)))
    live_phi: np.ndarray = field(default_factory=lambda: _frozen(np.empty(0)))
    live_kv_bytes: np.ndarray = field(default_factory=lambda: _frozen(np.empty(0)))
    live_expected_end_s: np.ndarray = field(default_factory=lambda: _frozen(np.empty(0)))

    def __len__(self) -> int:
        return len(self.request_id)


def free_mask(
    info: SystemInfo,
    view: RoundView,
    k: int,
    t: Template,
    path_residual_mbps: np.ndarray | None = None,
) -> np.ndarray:
    """Candidates of request ``k`` whose resources are free as far as the scheduler knows.

    Compute share and KV memory are exact; link rates are checked against the bandwidth
    observed in the previous round (or the given per-path residual, e.g. a scheduler's own
    bandwidth forecast minus what is in use), so the environment may still refuse.
    """
    residual = view.path_residual_mbps if path_residual_mbps is None else path_residual_mbps
    srv = t.server
    ok = fits(view.compute_used[srv], t.phi, 1.0)
    ok &= fits(view.kv_used_bytes[srv], view.kv_bytes[k], info.server_kv_budget_bytes[srv])
    ok &= fits(0.0, t.rate_mbps, residual[t.path_id])
    return ok


@dataclass(frozen=True, eq=False)
class Feedback:
    """Outcomes revealed to a scheduler, one entry per request.

    Refusals are reported at once; completed (or cut-off) requests at the end of their round
    (rounds mode) or at the first decision epoch after they complete (continuous mode), in
    completion order.

    Attributes
    ----------
    request_id, service, template, candidate, server_slice : ndarray of int
    refused : ndarray of bool
        The environment refused the option (capacity exceeded); no time or energy.
    on_time : ndarray of bool
    latency_s : ndarray of float
        Arrival to completion (to the round's end if cut off); NaN when refused.
    service_s : ndarray of float
        Dispatch to completion (``latency_s`` minus the wait); NaN when refused.
    energy_j : ndarray of float
        Transmission + inference energy of the request; 0 when refused.
    censored : ndarray of bool, optional
        Cut off at the end of its round (rounds mode): ``service_s`` is then only a lower
        bound on the time the request would have taken. Default: none censored.
    """

    request_id: np.ndarray
    service: np.ndarray
    template: np.ndarray
    candidate: np.ndarray
    server_slice: np.ndarray
    refused: np.ndarray
    on_time: np.ndarray
    latency_s: np.ndarray
    service_s: np.ndarray
    energy_j: np.ndarray
    censored: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.censored is None:
            object.__setattr__(self, "censored", np.zeros(len(self.request_id), dtype=bool))

    def __len__(self) -> int:
        return len(self.request_id)
