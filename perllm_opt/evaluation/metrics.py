"""One evaluator for every assignment, the MILP's and each scheduler's (docs/metrics.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from perllm_opt.evaluation.continuous import bin_series, capacity_excess
from perllm_opt.instance import delays
from perllm_opt.instance.assignment import ADMITTED, DECLINED, DROPPED, REFUSED, Assignment
from perllm_opt.instance.realised import Instance
from perllm_opt.simulation.view import fits


class CapacityViolationError(AssertionError):
    """An assignment uses more of a resource than a round offers (a bug, never user input)."""


@dataclass(frozen=True)
class Metrics:
    """Flat metrics of one assignment (one row of ``metrics.json``; see docs/metrics.md)."""

    scheduler: str
    requests: int
    served: int
    late: int
    cut_off: int
    refused: int
    declined: int
    refused_capacity: int
    dropped: int
    served_fraction: float
    throughput_rps: float
    energy_j: float
    energy_tran_j: float
    energy_infer_j: float
    energy_idle_j: float
    weighted_energy_j: float
    energy_per_served_j: float
    objective: float
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Metrics plus per-round series (for cumulative-regret plots): per round in rounds
    mode, per bin of ``system.bin_s`` (by arrival) in continuous mode."""

    metrics: Metrics
    objective_per_round: np.ndarray
    served_per_round: np.ndarray
    energy_per_round_j: np.ndarray


def round_usage(instance: Instance, option: np.ndarray) -> dict[str, np.ndarray]:
    """Resources used per round by admitted options: compute share per (server, round),
    KV bytes per (server, round), rate per (link, round), busy share-seconds per (server,
    round) and admitted count per (server, round)."""
    opts, topo = instance.options, instance.topology
    n_s, n_l, n_r = topo.n_servers, topo.n_links, instance.n_rounds
    o = option[option >= 0]
    srv = opts.server[o]
    rnd = instance.request_round[opts.request[o]]
    cell = srv * n_r + rnd
    size = n_s * n_r
    compute = np.bincount(cell, weights=opts.phi[o], minlength=size).reshape(n_s, n_r)
    kv = np.bincount(
        cell, weights=instance.request_kv_bytes[opts.request[o]], minlength=size
    ).reshape(n_s, n_r)
    busy = np.bincount(cell, weights=opts.busy_share_s[o], minlength=size).reshape(n_s, n_r)
    count = np.bincount(cell, minlength=size).reshape(n_s, n_r)
    rate = np.zeros((n_l + 1, n_r))
    if len(o):
        links = topo.path_link_matrix[opts.path_id[o]]  # (n, max_len), sentinel n_l
        np.add.at(
            rate,
            (links, np.broadcast_to(rnd[:, None], links.shape)),
            np.broadcast_to(opts.rate_mbps[o][:, None], links.shape),
        )
    return {"compute": compute, "kv": kv, "busy": busy, "count": count, "rate": rate[:n_l]}


def check_capacity(
    instance: Instance, usage: dict[str, np.ndarray], kv_budget_bytes: np.ndarray | None = None
) -> None:
    """Raise :class:`CapacityViolationError` if any round exceeds compute, memory or bandwidth."""
    budget = instance.server_kv_budget_bytes if kv_budget_bytes is None else kv_budget_bytes
    checks = (
        ("compute share", usage["compute"], np.ones_like(usage["compute"])),
        ("KV memory", usage["kv"], np.broadcast_to(budget[:, None], usage["kv"].shape)),
        ("link rate", usage["rate"], instance.round_bandwidth_mbps),
    )
    for name, used, cap in checks:
        bad = ~fits(used, 0.0, cap)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise CapacityViolationError(
                f"{name} exceeded at ({r}, round {c}): {used[r, c]} > {cap[r, c]}"
            )


def evaluate(
    instance: Instance, assignment: Assignment, kv_budget_bytes: np.ndarray | None = None
) -> Evaluation:
    """Score an assignment on its instance.

    Parameters
    ----------
    instance : Instance
    assignment : Assignment
    kv_budget_bytes : ndarray, optional
        Per-server KV memory budget when the deployment differs from the instance's
        (placement mode).

    Returns
    -------
    Evaluation

    Raises
    ------
    CapacityViolationError
        If the assignment exceeds a round's capacity (no valid assignment does).
    """
    opts = instance.options
    n, n_r, tau = instance.n_requests, instance.n_rounds, instance.round_s
    option, status = assignment.option, assignment.status
    if option.shape != (n,):
        raise ValueError(f"assignment has {option.shape} options for {n} requests")
    admitted = status == ADMITTED
    o = option[admitted]
    if len(o) and np.any(opts.request[o] != np.flatnonzero(admitted)):
        raise ValueError("an assigned option belongs to another request")
    on_time = np.zeros(n, dtype=bool)
    on_time[admitted] = opts.on_time[o]
    completes = np.zeros(n, dtype=bool)
    completes[admitted] = opts.completes[o]
    late = admitted & ~on_time
    served = int(on_time.sum())

    w_tran, w_infer, w_idle = instance.weights
    if instance.continuous:
        excess = capacity_excess(instance, o, kv_budget_bytes)
        if excess is not None:
            raise CapacityViolationError(excess)
        bins = bin_series(instance, admitted, option, on_time)
        e_tran_r, e_inf_r, e_idle_r = bins["tran"], bins["infer"], bins["idle"]
        served_r, total_r = bins["served"], bins["total"]
    else:
        usage = round_usage(instance, option)
        check_capacity(instance, usage, kv_budget_bytes)
        rnd_of = instance.request_round
        e_tran_r = np.bincount(rnd_of[admitted], weights=opts.energy_tran_j[o], minlength=n_r)
        e_inf_r = np.bincount(rnd_of[admitted], weights=opts.energy_infer_j[o], minlength=n_r)
        can_sleep = instance.topology.server_can_sleep
        on = (~can_sleep[:, None]) | (usage["count"] > 0)
        idle_sr = delays.idle_energy_j(
            instance.server_idle_power_w[:, None], tau * on, usage["busy"]
        )
        e_idle_r = idle_sr.sum(axis=0)
        served_r = np.bincount(rnd_of[on_time], minlength=n_r)
        total_r = np.bincount(rnd_of, minlength=n_r)
    weighted_r = w_tran * e_tran_r + w_infer * e_inf_r + w_idle * e_idle_r
    objective_r = instance.drop_penalty_j * (total_r - served_r) + weighted_r

    lat = opts.latency_s[option[completes]]
    pct = np.percentile(lat, [50, 95, 99]) if len(lat) else np.full(3, np.nan)
    energy = float(e_tran_r.sum() + e_inf_r.sum() + e_idle_r.sum())
    metrics = Metrics(
        scheduler=assignment.source,
        requests=n,
        served=served,
        late=int(late.sum()),
        cut_off=int((admitted & ~completes).sum()),
        refused=int((~admitted).sum()),
        declined=int((status == DECLINED).sum()),
        refused_capacity=int((status == REFUSED).sum()),
        dropped=int((status == DROPPED).sum()),
        served_fraction=served / n if n else float("nan"),
        throughput_rps=served / instance.horizon_s,
        energy_j=energy,
        energy_tran_j=float(e_tran_r.sum()),
        energy_infer_j=float(e_inf_r.sum()),
        energy_idle_j=float(e_idle_r.sum()),
        weighted_energy_j=float(weighted_r.sum()),
        energy_per_served_j=energy / served if served else float("nan"),
        objective=float(objective_r.sum()),
        latency_p50_s=float(pct[0]),
        latency_p95_s=float(pct[1]),
        latency_p99_s=float(pct[2]),
    )
    return Evaluation(
        metrics=metrics,
        objective_per_round=objective_r,
        served_per_round=served_r,
        energy_per_round_j=e_tran_r + e_inf_r + e_idle_r,
    )
