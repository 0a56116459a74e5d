"""What one MILP solve returns, whichever path solved it (Pyomo or ``highspy`` directly)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

OPTIMAL, FEASIBLE, INFEASIBLE, NO_SOLUTION = "optimal", "feasible", "infeasible", "no_solution"


@dataclass(frozen=True, eq=False)
class SolveResult:
    """Outcome of one solve.

    Attributes
    ----------
    status : str
        ``optimal``, ``feasible`` (stopped with a solution, e.g. at the time limit),
        ``infeasible`` or ``no_solution``.
    objective : float
        Objective of the solution found, constant included (NaN without one). For the
        lexicographic objective, the cost of the second stage.
    bound : float
        Best proven bound on the objective.
    gap : float
        ``|objective - bound| / max(|objective|, 1e-9)``.
    drops : float
        Items left unassigned (the first stage's optimum for the lexicographic objective).
    build_s : float
        Seconds to build the Pyomo model.
    solve_s : float
        Seconds in the solver call(s), including Pyomo's transfer of the model.
    solver_s : float
        Seconds the solver itself reported (NaN if unknown).
    x, drop, gate : ndarray or None
        Variable values (only when a solution exists).
    drops_bound : float
        Lexicographic only: a proven lower bound on the drops (equal to ``drops`` when the
        first stage was proven optimal).
    """

    status: str
    objective: float
    bound: float
    gap: float
    drops: float
    build_s: float
    solve_s: float
    solver_s: float
    x: np.ndarray | None
    drop: np.ndarray | None
    gate: np.ndarray | None
    relaxed: bool = False
    drops_bound: float = math.nan

    @property
    def has_solution(self) -> bool:
        return self.x is not None


def relative_gap(obj: float, bound: float) -> float:
    """``|obj - bound| / max(|obj|, 1e-9)``; NaN if either is NaN."""
    if math.isnan(obj) or math.isnan(bound):
        return math.nan
    return abs(obj - bound) / max(abs(obj), 1e-9)
