"""``declare_*`` helpers: each adds one named family of variables or constraints to a Pyomo
model from :class:`~perllm_opt.milp.data.AssignmentData`.

Notation: items ``i``, options ``o`` with item ``i(o)``, resources ``r`` with capacity
``C_r``, usage ``a_{o,r}``, gates ``g`` with usage ``b_{g,r}``. Expressions are built as
``LinearExpression`` objects directly from coefficient and variable lists (Pyomo's fast path:
no expression-tree building per term).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pe
from pyomo.core.expr.numeric_expr import LinearExpression

from perllm_opt.milp.data import AssignmentData


def _linear(coefs, variables, constant: float = 0.0) -> LinearExpression:
    return LinearExpression(
        constant=constant, linear_coefs=list(coefs), linear_vars=list(variables)
    )


def _groups(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable order of ``keys`` and the start of each group (length ``n_groups + 1``)."""
    order = np.argsort(keys, kind="stable")
    starts = np.searchsorted(keys[order], np.arange(n_groups + 1))
    return order, starts


def declare_option_vars(m: pe.ConcreteModel, data: AssignmentData, relax: bool) -> None:
    """``x_o in {0, 1}`` (``[0, 1]`` when relaxed): option ``o`` is chosen."""
    domain = pe.UnitInterval if relax else pe.Binary
    m.x = pe.Var(range(data.n_options), domain=domain)
    m._x = [m.x[o] for o in range(data.n_options)]


def declare_drop_vars(m: pe.ConcreteModel, data: AssignmentData, relax: bool) -> None:
    """``drop_i in {0, 1}``: item ``i`` gets no option (only when drops are allowed)."""
    if data.drop_cost is None:
        m._drop = []
        return
    domain = pe.UnitInterval if relax else pe.Binary
    m.drop = pe.Var(range(data.n_items), domain=domain)
    m._drop = [m.drop[i] for i in range(data.n_items)]


def declare_gate_vars(m: pe.ConcreteModel, data: AssignmentData, relax: bool) -> None:
    """``g in {0, 1}``: a gate is open (server on, model deployed)."""
    domain = pe.UnitInterval if relax else pe.Binary
    m.g = pe.Var(range(data.n_gates), domain=domain)
    m._g = [m.g[k] for k in range(data.n_gates)]


def declare_assignment_constraints(m: pe.ConcreteModel, data: AssignmentData) -> None:
    """Each item exactly once: ``sum_{o: i(o) = i} x_o + drop_i = 1`` (no ``drop_i`` term when
    items cannot be dropped)."""
    order, starts = _groups(data.option_item, data.n_items)
    m.assign = pe.ConstraintList()
    x, drop = m._x, m._drop
    for i in range(data.n_items):
        opts = order[starts[i] : starts[i + 1]]
        variables = [x[o] for o in opts]
        if drop:
            variables.append(drop[i])
        m.assign.add(_linear([1.0] * len(variables), variables) == 1.0)


def declare_capacity_constraints(m: pe.ConcreteModel, data: AssignmentData) -> None:
    """Every resource: ``sum_o a_{o,r} x_o + sum_g b_{g,r} g <= C_r`` (an option listed twice
    for one resource takes the sum: solvers reject repeated terms in a row)."""
    n_r = data.n_resources
    u_opt, u_res, u_amt = data.usage_option, data.usage_resource, data.usage_amount
    key = u_res * max(data.n_options, 1) + u_opt
    uniq, inv = np.unique(key, return_inverse=True)
    if len(uniq) < len(key):
        u_amt = np.bincount(inv, weights=u_amt, minlength=len(uniq))
        u_res, u_opt = uniq // max(data.n_options, 1), uniq % max(data.n_options, 1)
    o_order, o_starts = _groups(u_res, n_r)
    g_order, g_starts = _groups(data.gate_usage_resource, n_r)
    m.capacity = pe.ConstraintList()
    x, g = m._x, m._g
    for r in range(n_r):
        ks = o_order[o_starts[r] : o_starts[r + 1]]
        gs = g_order[g_starts[r] : g_starts[r + 1]]
        if len(ks) == 0 and len(gs) == 0:
            continue
        coefs = np.concatenate([u_amt[ks], data.gate_usage_amount[gs]]).tolist()
        variables = [x[o] for o in u_opt[ks]]
        variables += [g[k] for k in data.gate_usage_gate[gs]]
        m.capacity.add(_linear(coefs, variables) <= float(data.capacity[r]))


def declare_gate_constraints(m: pe.ConcreteModel, data: AssignmentData) -> None:
    """An option needs its gates open: ``x_o <= g`` for every pair."""
    m.gated = pe.ConstraintList()
    x, g = m._x, m._g
    for o, k in zip(data.option_gate_option.tolist(), data.option_gate_gate.tolist(), strict=True):
        m.gated.add(_linear([1.0, -1.0], [x[o], g[k]]) <= 0.0)


def cost_expression(
    m: pe.ConcreteModel, data: AssignmentData, with_drops: bool
) -> LinearExpression:
    """``sum_o c_o x_o + sum_g c_g g + constant`` (+ ``sum_i d_i drop_i`` if asked)."""
    coefs = data.option_cost.tolist() + data.gate_cost.tolist()
    variables = m._x + m._g
    if with_drops and m._drop:
        coefs += data.drop_cost.tolist()
        variables = variables + m._drop
    return _linear(coefs, variables, constant=float(data.constant))


def declare_objective(m: pe.ConcreteModel, data: AssignmentData) -> None:
    """Weighted objective: ``min`` (or ``max``) ``sum c_o x_o + sum c_g g + sum d_i drop_i +
    constant``."""
    sense = pe.maximize if data.sense == "max" else pe.minimize
    m.obj = pe.Objective(expr=cost_expression(m, data, with_drops=True), sense=sense)


def declare_served_objective(m: pe.ConcreteModel) -> None:
    """Stage 1 of the lexicographic objective: ``min sum_i drop_i`` (most items served)."""
    m.obj = pe.Objective(expr=_linear([1.0] * len(m._drop), m._drop), sense=pe.minimize)


def declare_served_floor(m: pe.ConcreteModel, max_drops: float) -> None:
    """Stage 2 keeps stage 1's count: ``sum_i drop_i <= max_drops``."""
    m.served_floor = pe.Constraint(expr=_linear([1.0] * len(m._drop), m._drop) <= max_drops)
