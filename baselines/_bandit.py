"""Shared state of the classic bandit baselines (UCB1, epsilon-greedy, Thompson sampling).

Arms are (service type, server, share, rate), as for CS-UCB. The reward of a completed
request is ``on_time * (1 - energy_weight * min(1, energy / e_scale))`` in [0, 1], with
``e_scale`` the service's typical energy; refused and late requests earn 0.

What they know (the public information of the informed heuristics, docs/model.md): each
candidate's profile estimate of its dispatch time, and which candidates' resources look
free. Their admission rule is the heuristics' own: a candidate is eligible when its
resources are free (``resource_check``) and its profile time times ``deadline_slack`` fits
the time left (``deadline_filter``); with no eligible candidate the request is declined.
What each learns (mean reward per arm) and how it explores stay the classic algorithm's;
``deadline_filter=false resource_check=false`` gives the uninformed textbook policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from baselines._greedy import time_budget_s
from perllm_opt.errors import require
from perllm_opt.schedulers.base import DECLINE, Scheduler
from perllm_opt.schedulers.estimates import candidate_models, typical_energy_j
from perllm_opt.simulation.view import Feedback, RoundView, free_mask


@dataclass
class ArmBandit(Scheduler):
    """Base of the index policies: learns mean rewards per arm, picks the best score."""

    energy_weight: float = 0.5
    resource_check: bool = True
    deadline_filter: bool = True
    deadline_slack: float = 1.0

    def __post_init__(self) -> None:
        require(
            0 <= self.energy_weight <= 1,
            f"scheduler.{self.name}.energy_weight",
            self.energy_weight,
            "a number in [0, 1]",
        )
        require(
            0 < self.deadline_slack < math.inf,
            f"scheduler.{self.name}.deadline_slack",
            self.deadline_slack,
            "a positive number (1 admits a profile time equal to the time left)",
        )

    def setup(self) -> None:
        shape = (self.info.n_services, self.info.n_slices)
        self.count = np.zeros(shape)
        self.reward_sum = np.zeros(shape)
        self.models = candidate_models(self.info)
        self.energy_scale = typical_energy_j(self.info, self.models)

    def scores(self, service: int, arms: np.ndarray) -> np.ndarray:
        """Score of each arm (higher is better)."""
        raise NotImplementedError

    def choose(self, mask: np.ndarray, service: int, arms: np.ndarray) -> int:
        """Best-scoring candidate within ``mask``."""
        if not mask.any():
            return DECLINE
        return int(np.argmax(np.where(mask, self.scores(service, arms), -math.inf)))

    def profile_time_s(self, view: RoundView, k: int) -> np.ndarray:
        """The public profile's expected dispatch time of each of request ``k``'s
        candidates."""
        model = self.models[int(view.template[k])]
        return model.dispatch_time_s(float(view.up_bits[k]), float(view.prompt_tokens[k]))

    def eligible(self, view: RoundView, k: int, time_s: np.ndarray | None = None) -> np.ndarray:
        """Candidates of request ``k`` the admission rule allows (free, and expected on
        time with ``deadline_slack``, for the checks that are on); ``time_s``: the
        candidates' :meth:`profile_time_s` if already computed."""
        t = self.info.templates[int(view.template[k])]
        if self.resource_check:
            mask = free_mask(self.info, view, k, t)
        else:
            mask = np.ones(len(t), dtype=bool)
        if self.deadline_filter:
            if time_s is None:
                time_s = self.profile_time_s(view, k)
            mask &= time_s * self.deadline_slack <= time_budget_s(self.info, view, k)
        return mask

    def select(self, view: RoundView, k: int) -> int:
        t = self.info.templates[int(view.template[k])]
        if len(t) == 0:
            return DECLINE
        return self.choose(self.eligible(view, k), int(view.service[k]), t.server_slice)

    def rewards(self, fb: Feedback) -> np.ndarray:
        scale = self.energy_scale[fb.service]
        penalty = self.energy_weight * np.minimum(1.0, fb.energy_j / scale)
        return fb.on_time * (1.0 - penalty)

    def update(self, feedback: Feedback) -> None:
        idx = (feedback.service, feedback.server_slice)
        np.add.at(self.count, idx, 1.0)
        np.add.at(self.reward_sum, idx, self.rewards(feedback))
