"""``oracle_greedy``: greedy on the true expected values (not the realisations)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from baselines._greedy import argmin_where, candidate_estimates, time_budget_s
from perllm_opt.schedulers.base import Scheduler
from perllm_opt.schedulers.estimates import candidate_models
from perllm_opt.simulation.view import RoundView


@dataclass
class OracleGreedy(Scheduler):
    """Like ``greedy_energy`` but with the true device speeds, the expected slowdown and the
    true mean output length of each service type: what a perfectly calibrated, non-clairvoyant
    scheduler could know. It still sees neither a request's output length nor a round's
    slowdown or bandwidth."""

    name: str = "oracle_greedy"
    uses_oracle: ClassVar[bool] = True

    def setup(self) -> None:
        assert self.oracle is not None
        self.models = self._models(self.oracle.speed_factor)
        self.late = False

    def _models(self, speed: np.ndarray):
        assert self.oracle is not None
        return candidate_models(
            self.info,
            speed_factor=speed,
            slowdown=self.oracle.expected_slowdown,
            mean_output_tokens=self.oracle.mean_output_tokens,
        )

    def begin_round(self, view: RoundView) -> None:
        # Under drift the true speeds change at a known time (part of the law).
        info, orc = self.info, self.oracle
        assert orc is not None
        speed = orc.epoch_speed_factor(info, view)
        if not self.late and not np.array_equal(speed, orc.speed_factor):
            self.late = True
            self.models = self._models(speed)

    def select(self, view: RoundView, k: int) -> int:
        free, time_s, energy = candidate_estimates(self.info, self.models, view, k)
        return argmin_where(free & (time_s <= time_budget_s(self.info, view, k)), energy)
