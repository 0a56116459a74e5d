"""Scoring in rounds mode: each round's resources are checked on their own, and a request's
energies and its count go to its round (docs/model.md, "Idle energy")."""

from __future__ import annotations

import numpy as np

from perllm_opt.evaluation.per_bin import CapacityViolationError, PerBin
from perllm_opt.instance import delays
from perllm_opt.instance.realised import Instance
from perllm_opt.simulation.view import fits


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


def capacity_excess(
    instance: Instance, usage: dict[str, np.ndarray], kv_budget_bytes: np.ndarray | None = None
) -> str | None:
    """A description of the first round and resource whose compute, memory or bandwidth
    ``usage`` exceeds, else None."""
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
            return f"{name} exceeded at ({r}, round {c}): {used[r, c]} > {cap[r, c]}"
    return None


def per_bin(
    instance: Instance,
    option: np.ndarray,
    admitted: np.ndarray,
    on_time: np.ndarray,
    kv_budget_bytes: np.ndarray | None = None,
) -> PerBin:
    """Per round: energies and requests of ``option`` (``admitted`` and ``on_time`` per
    request). A server that may sleep is on in the rounds it serves a request, one that
    never sleeps in every round; it draws idle power when on and not computing.

    Raises
    ------
    CapacityViolationError
        If a round's compute, memory or bandwidth is exceeded.
    """
    opts = instance.options
    n_r, tau = instance.n_rounds, instance.round_s
    usage = round_usage(instance, option)
    excess = capacity_excess(instance, usage, kv_budget_bytes)
    if excess is not None:
        raise CapacityViolationError(excess)
    o = option[admitted]
    rnd_of = instance.request_round
    e_tran_r = np.bincount(rnd_of[admitted], weights=opts.energy_tran_j[o], minlength=n_r)
    e_inf_r = np.bincount(rnd_of[admitted], weights=opts.energy_infer_j[o], minlength=n_r)
    can_sleep = instance.topology.server_can_sleep
    on = (~can_sleep[:, None]) | (usage["count"] > 0)
    idle_sr = delays.idle_energy_j(instance.server_idle_power_w[:, None], tau * on, usage["busy"])
    return PerBin(
        tran=e_tran_r,
        infer=e_inf_r,
        idle=idle_sr.sum(axis=0),
        served=np.bincount(rnd_of[on_time], minlength=n_r),
        total=np.bincount(rnd_of, minlength=n_r),
    )
