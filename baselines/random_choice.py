"""``random``: a uniformly random candidate among those with free resources."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perllm_opt.schedulers.base import DECLINE, Scheduler
from perllm_opt.simulation.view import RoundView, free_mask


@dataclass
class RandomScheduler(Scheduler):
    """Pick uniformly among the candidates whose resources look free; decline if none.

    It ignores deadlines and energy: the floor any scheduler should beat.
    """

    name: str = "random"

    def select(self, view: RoundView, k: int) -> int:
        t = self.info.templates[int(view.template[k])]
        free = np.flatnonzero(free_mask(self.info, view, k, t))
        if len(free) == 0:
            return DECLINE
        return int(free[self.rng.integers(len(free))])
