"""The one interface every online scheduler implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from perllm_opt.simulation.knowledge import OracleInfo
from perllm_opt.simulation.view import Feedback, RoundView, SystemInfo

DECLINE = -1


class SchedulerError(RuntimeError):
    """A scheduler returned something the environment cannot apply (a bug, not user input)."""


def check_choice(scheduler: object, choice: object, n_candidates: int) -> int:
    """``choice`` as an int if it names one of ``n_candidates`` candidates, else raise
    :class:`SchedulerError` (a scheduler bug, reported with what it returned)."""
    if not isinstance(choice, int | np.integer) or not 0 <= choice < n_candidates:
        raise SchedulerError(
            f"{type(scheduler).__name__}.select returned {choice!r} for a "
            f"request with {n_candidates} candidates"
        )
    return int(choice)


class Scheduler(ABC):
    """An online scheduler (docs/model.md, "Online scheduling").

    Subclasses are dataclasses whose fields are hyperparameters, validated in
    ``__post_init__``; run state is created in :meth:`reset` and lives on the instance.

    The simulator calls, per run: :meth:`reset` once; then per round :meth:`begin_round`,
    :meth:`select` for each request in arrival order, and :meth:`update` with feedback
    (refusals at once, completions at the end of the round).
    """

    #: Set to True by schedulers that are given the oracle's expected values.
    uses_oracle: ClassVar[bool] = False

    def reset(
        self, info: SystemInfo, rng: np.random.Generator, oracle: OracleInfo | None = None
    ) -> None:
        """Start a run: forget everything learnt, keep ``info`` and ``rng``."""
        self.info = info
        self.rng = rng
        self.oracle = oracle
        self.setup()

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Create run state (after ``self.info``, ``self.rng``, ``self.oracle`` are set)."""

    def begin_round(self, view: RoundView) -> None:  # noqa: B027 - optional hook
        """Called at each decision epoch before the round's first :meth:`select`."""

    @abstractmethod
    def select(self, view: RoundView, k: int) -> int:
        """Choose a candidate for request ``k`` of the round.

        Returns
        -------
        int
            A position in the request's template (``view.template[k]``), or ``DECLINE`` (-1).
        """

    def update(self, feedback: Feedback) -> None:  # noqa: B027 - optional hook
        """Learn from outcomes."""
