"""What each service mode's scorer hands the evaluator: per-bin energies and counts of an
assignment that keeps every capacity, or the error for one that does not."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class CapacityViolationError(AssertionError):
    """An assignment uses more of a resource than a round offers (a bug, never user input)."""


@dataclass(frozen=True, eq=False)
class PerBin:
    """Per bin (round, or ``system.bin_s`` by arrival): transmission, inference and idle
    energy (J), and the requests served on time and arrived."""

    tran: np.ndarray
    infer: np.ndarray
    idle: np.ndarray
    served: np.ndarray
    total: np.ndarray
