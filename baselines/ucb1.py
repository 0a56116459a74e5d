"""``ucb1``: UCB1 over (service, server, share, rate) arms, with the heuristics' admission rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines._bandit import ArmBandit


@dataclass
class UCB1(ArmBandit):
    """UCB1 (Auer, Cesa-Bianchi & Fischer, Machine Learning 47, 2002): score
    ``mean + sqrt(2 ln N / n)``, untried arms first, among the eligible candidates
    (:class:`~baselines._bandit.ArmBandit`); no violation penalty."""

    name: str = "ucb1"
    # Tuned defaults (conf/scheduler/ucb1.yaml, paper/tuning/ucb1_trials.csv).
    energy_weight: float = 0.998
    deadline_slack: float = 1.83

    def scores(self, service: int, arms: np.ndarray) -> np.ndarray:
        n = self.count[service, arms]
        total = max(self.count[service].sum(), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ucb = self.reward_sum[service, arms] / n + np.sqrt(2.0 * np.log(total) / n)
        return np.where(n > 0, ucb, np.inf)
