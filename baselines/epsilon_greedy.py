"""``epsilon_greedy``: explore uniformly with probability epsilon, else exploit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines._bandit import ArmBandit
from perllm_opt.errors import require
from perllm_opt.schedulers.base import DECLINE


@dataclass
class EpsilonGreedy(ArmBandit):
    """Epsilon-greedy (Sutton & Barto, Reinforcement Learning, 2nd ed., sec. 2.2), with
    optimistic initial values (1.0) so every arm is tried early."""

    name: str = "epsilon_greedy"
    # Tuned defaults (conf/scheduler/epsilon_greedy.yaml, paper/tuning/epsilon_greedy_trials.csv).
    epsilon: float = 0.198
    energy_weight: float = 0.629
    deadline_slack: float = 1.86

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            0 <= self.epsilon <= 1,
            "scheduler.epsilon_greedy.epsilon",
            self.epsilon,
            "a number in [0, 1]",
        )

    def scores(self, service: int, arms: np.ndarray) -> np.ndarray:
        n = self.count[service, arms]
        return np.where(n > 0, self.reward_sum[service, arms] / np.maximum(n, 1.0), 1.0)

    def choose(self, mask: np.ndarray, service: int, arms: np.ndarray) -> int:
        if mask.any() and self.rng.random() < self.epsilon:
            free = np.flatnonzero(mask)
            return int(free[self.rng.integers(len(free))])
        return super().choose(mask, service, arms) if mask.any() else DECLINE
