"""Assemble the Pyomo model from the ``declare_*`` helpers."""

from __future__ import annotations

import pyomo.environ as pe

from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.declare import (
    declare_assignment_constraints,
    declare_capacity_constraints,
    declare_drop_vars,
    declare_gate_constraints,
    declare_gate_vars,
    declare_option_vars,
)


def create_model(data: AssignmentData, relax: bool = False) -> pe.ConcreteModel:
    """Variables and constraints of ``data`` (the objective is set by the solve step).

    Parameters
    ----------
    data : AssignmentData
    relax : bool
        LP relaxation: every binary becomes continuous in [0, 1].
    """
    m = pe.ConcreteModel(name="assignment")
    declare_option_vars(m, data, relax)
    declare_drop_vars(m, data, relax)
    declare_gate_vars(m, data, relax)
    declare_assignment_constraints(m, data)
    declare_capacity_constraints(m, data)
    declare_gate_constraints(m, data)
    return m
