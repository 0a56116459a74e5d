"""``cloud_only``: everything on the nearest cloud site that hosts the model."""

from __future__ import annotations

from dataclasses import dataclass

from baselines._nearest import choose_on, nearest_candidates
from perllm_opt.schedulers.base import Scheduler
from perllm_opt.schedulers.estimates import candidate_models
from perllm_opt.simulation.view import RoundView


@dataclass
class CloudOnly(Scheduler):
    """Serve each request on the lowest-latency cloud site hosting its model, with the
    least-energy share and rate expected (from the profile) to meet its deadline, else the
    fastest; decline when the site is full."""

    name: str = "cloud_only"

    def setup(self) -> None:
        self.models = candidate_models(self.info)
        self.allowed = nearest_candidates(self.info, cloud=True)

    def select(self, view: RoundView, k: int) -> int:
        return choose_on(self.info, self.models, self.allowed[int(view.template[k])], view, k)
