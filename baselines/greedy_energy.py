"""``greedy_energy``: the least expected energy among candidates expected to be on time."""

from __future__ import annotations

from dataclasses import dataclass

from baselines._greedy import argmin_where, candidate_estimates, time_budget_s
from perllm_opt.schedulers.base import Scheduler
from perllm_opt.schedulers.estimates import candidate_models
from perllm_opt.simulation.view import RoundView


@dataclass
class GreedyEnergy(Scheduler):
    """Minimise the profile's expected weighted energy (waking a sleeping server included)
    among free candidates whose expected time meets the deadline; decline if none. It uses
    public profile means and never learns."""

    name: str = "greedy_energy"

    def setup(self) -> None:
        self.models = candidate_models(self.info)

    def select(self, view: RoundView, k: int) -> int:
        free, time_s, energy = candidate_estimates(self.info, self.models, view, k)
        return argmin_where(free & (time_s <= time_budget_s(self.info, view, k)), energy)
