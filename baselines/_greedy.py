"""Shared machinery of the profile-based (non-learning) baselines."""

from __future__ import annotations

import math

import numpy as np

from perllm_opt.schedulers.base import DECLINE
from perllm_opt.schedulers.estimates import CandidateModel
from perllm_opt.simulation.view import RoundView, SystemInfo, free_mask


def candidate_estimates(
    info: SystemInfo, models: tuple[CandidateModel, ...], view: RoundView, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Free mask, expected dispatch time and expected energy (with waking a sleeping server)
    of request ``k``'s candidates."""
    key = int(view.template[k])
    t = info.templates[key]
    cm = models[key]
    up, prompt = float(view.up_bits[k]), float(view.prompt_tokens[k])
    free = free_mask(info, view, k, t)
    time_s = cm.dispatch_time_s(up, prompt)
    energy = cm.energy_j(up, prompt) + cm.wake_j * (view.compute_used[t.server] == 0.0)
    return free, time_s, energy


def time_budget_s(info: SystemInfo, view: RoundView, k: int) -> float:
    """Time left from dispatch: the deadline minus the wait, and at most the round (rounds
    mode; continuous mode has no cap)."""
    return min(float(view.deadline_s[k] - view.wait_s[k]), info.time_cap_s)


def argmin_where(mask: np.ndarray, cost: np.ndarray) -> int:
    """Position of the least ``cost`` among ``mask``, or DECLINE when the mask is empty."""
    if not mask.any():
        return DECLINE
    return int(np.argmin(np.where(mask, cost, math.inf)))
