"""Shared logic of ``edge_only`` and ``cloud_only``: the nearest server of one kind."""

from __future__ import annotations

import numpy as np

from baselines._greedy import candidate_estimates, time_budget_s
from perllm_opt.schedulers.base import DECLINE
from perllm_opt.schedulers.estimates import CandidateModel
from perllm_opt.simulation.view import RoundView, SystemInfo


def nearest_candidates(info: SystemInfo, cloud: bool) -> list[np.ndarray]:
    """Per template, the candidates on the lowest-latency server of the wanted kind."""
    out = []
    for t in info.templates:
        kind_ok = info.server_is_cloud[t.server] == cloud
        if not kind_ok.any():
            out.append(np.empty(0, dtype=np.int64))
            continue
        lat = np.where(kind_ok, info.path_latency_s[t.path_id], np.inf)
        best = t.server[int(np.argmin(lat))]
        out.append(np.flatnonzero(t.server == best))
    return out


def choose_on(
    info: SystemInfo,
    models: tuple[CandidateModel, ...],
    allowed: np.ndarray,
    view: RoundView,
    k: int,
) -> int:
    """Among ``allowed`` candidates: the least-energy one expected to meet the deadline,
    else the fastest free one, else decline."""
    if len(allowed) == 0:
        return DECLINE
    free, time_s, energy = candidate_estimates(info, models, view, k)
    free, time_s, energy = free[allowed], time_s[allowed], energy[allowed]
    if not free.any():
        return DECLINE
    meets = free & (time_s <= time_budget_s(info, view, k))
    if meets.any():
        return int(allowed[np.flatnonzero(meets)[np.argmin(energy[meets])]])
    return int(allowed[np.flatnonzero(free)[np.argmin(time_s[free])]])
