"""What schedulers are told: public knowledge for all, expected values for the oracle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perllm_opt.instance.expected_options import OutputLaw, output_laws
from perllm_opt.instance.realised import Instance
from perllm_opt.simulation.view import RoundView, SystemInfo, read_only
from perllm_opt.workload.laws import expected_output_tokens


def public_info(instance: Instance) -> SystemInfo:
    """The static knowledge every scheduler gets (no ground truth)."""
    topo = instance.topology
    s = instance.config.system
    return SystemInfo(
        templates=instance.templates,
        slices=instance.slices,
        services=instance.services,
        mean_output_tokens=read_only(expected_output_tokens(instance.services)),
        round_s=instance.round_s,
        n_servers=topo.n_servers,
        n_links=topo.n_links,
        server_kv_budget_bytes=read_only(instance.server_kv_budget_bytes),
        server_idle_power_w=read_only(instance.server_idle_power_w),
        server_active_power_w=read_only(instance.server_active_power_w),
        server_can_sleep=read_only(topo.server_can_sleep),
        server_is_cloud=read_only(topo.server_is_cloud),
        nominal_bandwidth_mbps=read_only(np.append(topo.link_bandwidth_mbps, np.inf)),
        path_link_matrix=read_only(topo.path_link_matrix),
        path_latency_s=read_only(topo.path_latency_s.ravel()),
        weights=(s.w_tran, s.w_infer, s.w_idle),
        bytes_per_token=s.bytes_per_token,
        mode=instance.mode,
        time_cap_s=float("inf") if instance.continuous else instance.round_s,
        wake_s=s.sleep_block_s if instance.continuous else instance.round_s,
    )


@dataclass(frozen=True, eq=False)
class OracleInfo:
    """True expected values (not realisations), for the ``oracle_greedy`` baseline.

    Attributes
    ----------
    speed_factor : ndarray, shape (n_servers,)
        True device speed relative to the profile.
    expected_slowdown : ndarray, shape (n_servers,)
        Mean of the slowdown process.
    mean_output_tokens : ndarray, shape (n_services,)
        Mean output length of each service type in this instance's workload.
    expected_bandwidth_mbps : ndarray, shape (n_links + 1,)
        Mean of the bandwidth process (sentinel last).
    output_laws : tuple of OutputLaw
        The output-length law of each service type.
    slowdown_max : float
        The slowdown's stationary law is uniform on ``[1, slowdown_max]``.
    speed_factor_late : ndarray, shape (n_servers,), optional
        True speed from ``drift_at_s`` on (the drift is part of the law; default: none).
    drift_at_s : float
        When the speed factors change (``inf``: never).
    """

    speed_factor: np.ndarray
    expected_slowdown: np.ndarray
    mean_output_tokens: np.ndarray
    expected_bandwidth_mbps: np.ndarray
    output_laws: tuple[OutputLaw, ...] = ()
    slowdown_max: float = 1.0
    speed_factor_late: np.ndarray | None = None
    drift_at_s: float = float("inf")

    def epoch_speed_factor(self, info: SystemInfo, view: RoundView) -> np.ndarray:
        """The speed factors the epoch's requests meet: in force at a round's start (rounds
        mode, whose conditions are those of its start) or at the dispatch (continuous)."""
        cond_s = view.round_index * info.time_cap_s if info.mode == "rounds" else view.now_s
        return self.speed_factor_at(cond_s)

    def speed_factor_at(self, time_s: float) -> np.ndarray:
        """True speed factors of the servers at ``time_s``."""
        if time_s >= self.drift_at_s and self.speed_factor_late is not None:
            return self.speed_factor_late
        return self.speed_factor


def oracle_info(instance: Instance) -> OracleInfo:
    """Expected values of the ground truth.

    For a synthetic workload the mean output length is that of its distribution; for a trace
    it is the mean over the trace's requests of each type (a population mean, not any single
    request's length).
    """
    if instance.config.workload.kind == "trace":
        out = instance.requests.output_tokens
        svc = instance.requests.service
        n_svc = len(instance.services)
        counts = np.bincount(svc, minlength=n_svc)
        sums = np.bincount(svc, weights=out, minlength=n_svc)
        prior = expected_output_tokens(instance.services)
        mean_out = np.where(counts > 0, sums / np.maximum(counts, 1), prior)
    else:
        mean_out = expected_output_tokens(instance.services)
    d = instance.dynamics
    return OracleInfo(
        speed_factor=read_only(d.speed_factor),
        expected_slowdown=read_only(d.expected_slowdown),
        mean_output_tokens=read_only(np.asarray(mean_out, dtype=float)),
        expected_bandwidth_mbps=read_only(np.append(d.expected_bandwidth_mbps, np.inf)),
        output_laws=output_laws(instance),
        slowdown_max=float(instance.config.dynamics.slowdown_max),
        speed_factor_late=read_only(
            d.speed_factor if d.speed_factor_late is None else d.speed_factor_late
        ),
        drift_at_s=d.drift_at_s,
    )


def epoch_view(
    instance: Instance,
    t: int,
    ids: np.ndarray,
    shared: dict[str, np.ndarray],
    **extra,
) -> RoundView:
    """The view of decision epoch (or round) ``t`` for requests ``ids``: what a scheduler
    sees of them (no output lengths), plus the live read-only resource arrays in ``shared``
    (keys ``c``, ``k``, ``r``, ``b``, ``p``: compute, KV, rate used, bandwidth estimate,
    path residual) and any ``extra`` fields (continuous mode's live reservations)."""
    req = instance.requests
    keys = req.zone[ids] * len(instance.services) + req.service[ids]
    return RoundView(
        round_index=t,
        request_id=read_only(ids),
        template=read_only(keys),
        zone=read_only(req.zone[ids]),
        service=read_only(req.service[ids]),
        prompt_tokens=read_only(req.prompt_tokens[ids]),
        wait_s=read_only(instance.request_wait_s[ids]),
        deadline_s=read_only(req.deadline_s[ids]),
        up_bits=read_only(instance.request_up_bits[ids]),
        kv_bytes=read_only(instance.request_kv_bytes[ids]),
        compute_used=shared["c"],
        kv_used_bytes=shared["k"],
        rate_used_mbps=shared["r"],
        bandwidth_estimate_mbps=shared["b"],
        path_residual_mbps=shared["p"],
        **extra,
    )


def resource_arrays(instance: Instance) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The simulator's resource arrays (compute ``c``, KV ``k``, rate ``r`` used, bandwidth
    estimate ``b``, path residual ``p``; bandwidth starts at the nominal) and read-only views
    of them for the scheduler's :class:`RoundView` (they follow later changes)."""
    topo = instance.topology
    arrays = {
        "c": np.zeros(topo.n_servers),
        "k": np.zeros(topo.n_servers),
        "r": np.zeros(topo.n_links + 1),
        "b": np.append(topo.link_bandwidth_mbps, np.inf),
        "p": np.empty(topo.path_link_matrix.shape[0]),
    }
    return arrays, {k: read_only(a) for k, a in arrays.items()}
