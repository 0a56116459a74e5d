"""An assignment: which option (if any) each request got. What schedulers and the MILP
produce, and what :func:`perllm_opt.evaluation.metrics.evaluate` scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Request statuses.
ADMITTED, DECLINED, REFUSED, DROPPED = 0, 1, 2, 3
STATUS_NAMES = ("admitted", "declined", "refused", "dropped")


@dataclass(frozen=True, eq=False)
class Assignment:
    """Per request: the admitted option, or -1 with the reason.

    Attributes
    ----------
    option : ndarray of int, shape (n_requests,)
        Index into the option table, -1 when not admitted.
    status : ndarray of int8
        ``ADMITTED``; ``DECLINED`` (the scheduler chose no option); ``REFUSED`` (the
        environment refused it: capacity exceeded); ``DROPPED`` (the MILP left it unserved).
    source : str
        Who produced it (scheduler name or ``optimal``).
    """

    option: np.ndarray
    status: np.ndarray
    source: str

    def __post_init__(self) -> None:
        if self.option.shape != self.status.shape:
            raise ValueError("option and status must have the same shape")
        admitted = self.status == ADMITTED
        if np.any((self.option >= 0) != admitted):
            raise ValueError("a request has an option iff it is admitted")

    @classmethod
    def from_options(
        cls, option: np.ndarray, source: str, unassigned_status: int = DROPPED
    ) -> Assignment:
        """From an option vector (-1 = none), marking the rest ``unassigned_status``."""
        option = np.asarray(option, dtype=np.int64)
        status = np.where(option >= 0, ADMITTED, unassigned_status).astype(np.int8)
        return cls(option=option, status=status, source=source)
