"""Solver-independent data of an assignment problem with capacities, drops and gates.

Items (requests, jobs) each take at most one option (exactly one when they cannot be
dropped). Options consume resources with capacities. *Gates* are binary switches with a cost
(a server on in a round, a model deployed on a server) that options need
(``x_o <= g``) and that may consume capacity themselves (deployed weights take memory). The
data knows nothing about Pyomo (as in Egret's separation of data and model).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


def _empty_int() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


def _empty_float() -> np.ndarray:
    return np.empty(0, dtype=float)


@dataclass(frozen=True, eq=False)
class AssignmentData:
    """Arrays of one assignment MILP (all costs in the objective's units).

    Attributes
    ----------
    n_items : int
    option_item : ndarray of int, shape (n_options,)
    option_cost : ndarray of float, shape (n_options,)
    capacity : ndarray of float, shape (n_resources,)
    usage_option, usage_resource : ndarray of int
    usage_amount : ndarray of float
        Triplets: option ``usage_option[k]`` takes ``usage_amount[k]`` of resource
        ``usage_resource[k]``.
    drop_cost : ndarray of float or None
        Cost of leaving each item unassigned; ``None``: every item must be assigned.
    gate_cost : ndarray of float, shape (n_gates,)
    gate_usage_gate, gate_usage_resource, gate_usage_amount : ndarray
        Capacity taken by open gates.
    option_gate_option, option_gate_gate : ndarray of int
        Pairs ``x_o <= g``.
    constant : float
        Objective constant.
    sense : str
        ``"min"`` or ``"max"``.
    """

    n_items: int
    option_item: np.ndarray
    option_cost: np.ndarray
    capacity: np.ndarray
    usage_option: np.ndarray
    usage_resource: np.ndarray
    usage_amount: np.ndarray
    drop_cost: np.ndarray | None = None
    gate_cost: np.ndarray = field(default_factory=_empty_float)
    gate_usage_gate: np.ndarray = field(default_factory=_empty_int)
    gate_usage_resource: np.ndarray = field(default_factory=_empty_int)
    gate_usage_amount: np.ndarray = field(default_factory=_empty_float)
    option_gate_option: np.ndarray = field(default_factory=_empty_int)
    option_gate_gate: np.ndarray = field(default_factory=_empty_int)
    constant: float = 0.0
    sense: str = "min"

    def __post_init__(self) -> None:
        if self.sense not in ("min", "max"):
            raise ValueError(f"sense must be 'min' or 'max', got {self.sense!r}")
        n = len(self.option_item)
        if len(self.option_cost) != n:
            raise ValueError("option_item and option_cost differ in length")
        if n and (self.option_item.min() < 0 or self.option_item.max() >= self.n_items):
            raise ValueError("option_item out of range")
        if not len(self.usage_option) == len(self.usage_resource) == len(self.usage_amount):
            raise ValueError("usage triplets differ in length")
        if self.drop_cost is not None and len(self.drop_cost) != self.n_items:
            raise ValueError("drop_cost needs one entry per item")

    @property
    def n_options(self) -> int:
        return len(self.option_item)

    @property
    def n_resources(self) -> int:
        return len(self.capacity)

    @property
    def n_gates(self) -> int:
        return len(self.gate_cost)

    def columns_for(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The option choice ``x`` (rounded to 0/1) completed to every column: ``(x, drop,
        gate)`` with a drop for each item no chosen option serves and each gate open where a
        chosen option needs it."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.n_options,):
            raise ValueError(f"initial_x: expected shape ({self.n_options},), got {x.shape}")
        x = (x > 0.5).astype(float)
        taken = np.bincount(self.option_item, weights=x, minlength=self.n_items)
        gate = np.zeros(self.n_gates)
        if self.n_gates:
            np.maximum.at(gate, self.option_gate_gate, x[self.option_gate_option])
        return x, np.maximum(1.0 - taken, 0.0), gate


def drops_only(data: AssignmentData) -> AssignmentData:
    """``data`` with the first lexicographic stage's objective: each drop costs 1, nothing
    else costs (the unserved count alone)."""
    return replace(
        data,
        option_cost=np.zeros(data.n_options),
        gate_cost=np.zeros(data.n_gates),
        drop_cost=np.ones(data.n_items),
        constant=0.0,
    )
