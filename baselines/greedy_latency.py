"""``greedy_latency``: the candidate with the least expected processing time."""

from __future__ import annotations

from dataclasses import dataclass

from baselines._greedy import argmin_where, candidate_estimates
from perllm_opt.schedulers.base import Scheduler
from perllm_opt.schedulers.estimates import candidate_models
from perllm_opt.simulation.view import RoundView


@dataclass
class GreedyLatency(Scheduler):
    """Minimise the profile's expected dispatch-to-completion time among free candidates
    (no learning, energy ignored, never declines while something is free)."""

    name: str = "greedy_latency"

    def setup(self) -> None:
        self.models = candidate_models(self.info)

    def select(self, view: RoundView, k: int) -> int:
        free, time_s, _ = candidate_estimates(self.info, self.models, view, k)
        return argmin_where(free, time_s)
