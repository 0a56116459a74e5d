"""``thompson``: Thompson sampling with Beta posteriors on binarised rewards."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines._bandit import ArmBandit
from perllm_opt.simulation.view import Feedback


@dataclass
class Thompson(ArmBandit):
    """Beta-Bernoulli Thompson sampling; a reward r in [0, 1] counts as a success with
    probability r (Agrawal & Goyal, COLT 2012)."""

    name: str = "thompson"
    # Tuned defaults (conf/scheduler/thompson.yaml, paper/tuning/thompson_trials.csv).
    energy_weight: float = 0.992
    deadline_slack: float = 1.83

    def setup(self) -> None:
        super().setup()
        self.success = np.zeros_like(self.count)

    def update(self, feedback: Feedback) -> None:
        super().update(feedback)
        hits = self.rng.random(len(feedback)) < self.rewards(feedback)
        np.add.at(self.success, (feedback.service, feedback.server_slice), hits)

    def scores(self, service: int, arms: np.ndarray) -> np.ndarray:
        a = 1.0 + self.success[service, arms]
        b = 1.0 + self.count[service, arms] - self.success[service, arms]
        return self.rng.beta(a, b)
