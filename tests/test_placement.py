"""placement=optimize in continuous mode (perllm_opt/milp/placement.py): the joint MILP
against brute force over deployments x assignments, the search's plan (feasible, scored
identically, never worse than the configured deployment) and its certified bound."""

from __future__ import annotations

import itertools
import math
from dataclasses import fields, replace

import numpy as np
import pytest
from support import HAND_FILES, hand_config

from perllm_opt.config import (
    CalibrationConfig,
    InstanceConfig,
    SolverConfig,
    WorkloadConfig,
)
from perllm_opt.errors import InputError
from perllm_opt.evaluation.continuous import capacity_excess
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.instance.assignment import ADMITTED, DECLINED, Assignment
from perllm_opt.instance.build import build_instance
from perllm_opt.instance.options import OptionTable
from perllm_opt.milp.continuous import always_on_idle_continuous_j
from perllm_opt.milp.data import drops_only
from perllm_opt.milp.optimum import solve_optimum
from perllm_opt.milp.perllm import reduce_problem
from perllm_opt.milp.placement import (
    heaviest_fitting_weights,
    option_pairs,
    placement_problem,
    placement_start,
    restrict_to_deployment,
)
from perllm_opt.milp.placement_search import PairFixings
from perllm_opt.milp.solve import solve_assignment

EXACT = SolverConfig(mip_rel_gap=0.0, time_limit_s=60)

# Two models on the hand-made topology (tests/support.py): on the edge (2 GB) both take
# 1.5 GB of weights and leave room for one request's KV cache (0.4 GB at 100 prompt
# tokens), one alone for two or three; on the cloud (2 x 2.9 GB) the two models' 6 GB of
# fp16 weights do not fit at all. Memory binds the deployment.
MODELS = """
models:
  tiny: {params_b: 1.0, kv_bytes_per_token: 1000000, weights_gb: {q4_0: 0.5, fp16: 2.0}}
  duo: {params_b: 2.0, kv_bytes_per_token: 1000000, weights_gb: {q4_0: 1.0, fp16: 4.0}}
"""
DEVICES = """
devices:
  edgebox:
    memory_gb: 2.0
    idle_power_w: 10.0
    active_power_w: 50.0
    precision: q4_0
    share_levels: [0.25, 1.0]
    models:
      tiny: {prefill_tok_s: 100.0, decode_floor_s_per_token: 0.05, decode_tok_s: 40.0}
      duo: {prefill_tok_s: 80.0, decode_floor_s_per_token: 0.06, decode_tok_s: 30.0}
  cloudbox:
    memory_gb: 2.9
    idle_power_w: 100.0
    active_power_w: 400.0
    precision: fp16
    share_levels: [0.125, 0.5]
    models:
      tiny: {prefill_tok_s: 1000.0, decode_floor_s_per_token: 0.01, decode_tok_s: 200.0}
      duo: {prefill_tok_s: 800.0, decode_floor_s_per_token: 0.012, decode_tok_s: 150.0}
"""
TRACES = {
    "burst": [(0.1, 100, 50), (0.4, 150, 40), (1.2, 100, 60), (1.5, 300, 30)],
    "spread": [(0.2, 100, 80), (0.3, 100, 20), (2.1, 200, 60), (3.4, 100, 50)],
    "late": [(0.5, 100, 100), (0.6, 100, 100), (0.7, 100, 100), (4.0, 100, 10)],
    # Long prompts (0.4-0.7 GB of KV each): with the weights of both models no request
    # fits on the edge and one on the cloud; leaving the weights out serves more.
    "heavy": [(0.1, 400, 30), (0.4, 100, 30), (0.6, 300, 50), (2.5, 300, 40)],
}
CASES = [("burst", 6.0), ("spread", 8.0), ("late", 9.0), ("heavy", 6.0), ("heavy", 9.0)]


def two_model_instance(tmp_path, trace, deadline_s, seed=0):
    """The hand-made topology with models ``tiny`` and ``duo`` (one service type each),
    continuous mode, one rate level, as a placement instance; configured: ``tiny`` on the
    edge, ``duo`` on the cloud."""
    (tmp_path / "models.yaml").write_text(MODELS, encoding="utf-8")
    (tmp_path / "devices.yaml").write_text(DEVICES, encoding="utf-8")
    rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"] + [f"{a},{p},{o}" for a, p, o in trace]
    (tmp_path / "trace.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    paths = {
        "graph": HAND_FILES["graph"],
        "models": tmp_path / "models.yaml",
        "devices": tmp_path / "devices.yaml",
        "trace": tmp_path / "trace.csv",
    }
    cfg = hand_config(paths, deadline_s=deadline_s, mode="continuous", horizon_s=10.0)
    svc = cfg.services[0]
    services = [
        replace(svc, name="a", mix=0.5),
        replace(svc, name="b", model="duo", mix=0.5),
    ]
    system = replace(cfg.system, rate_levels_mbps=[10.0])
    deployment = replace(cfg.deployment, edge=["tiny"], cloud=["duo"])
    cfg = replace(cfg, seed=seed, services=services, system=system, deployment=deployment)
    return build_instance(cfg, placement=True)


def brute_force(instance, weighted: bool = False):
    """(served, objective) of the lexicographic optimum over every deployment that fits and
    every choice of an on-time option (or none) per request on it, checked and scored by the
    evaluator with the memory that deployment leaves; ``weighted``: the most served and the
    least objective, each over all choices."""
    dep = instance.deployment
    o = instance.options
    pairs = np.argwhere(dep.can_host)
    srv, model = option_pairs(instance, np.arange(len(o)))
    n = instance.n_requests
    best = None
    least = math.inf  # the weighted objective's optimum
    for mask in itertools.product([False, True], repeat=len(pairs)):
        hosts = np.zeros_like(dep.hosts)
        hosts[pairs[:, 0], pairs[:, 1]] = mask
        budget = dep.memory_bytes - (dep.weight_bytes * hosts).sum(axis=1)
        if np.any(budget < 0):
            continue
        choices = []
        for i in range(n):
            own = np.arange(o.ptr[i], o.ptr[i + 1])
            own = own[o.on_time[own] & hosts[srv[own], model[own]]]
            choices.append([-1, *own.tolist()])

        def rec(i, chosen, budget=budget, choices=choices):
            nonlocal best, least
            picked = np.asarray([c for c in chosen if c >= 0], dtype=np.int64)
            if len(picked) and capacity_excess(instance, picked, budget) is not None:
                return
            if i == n:
                option = np.asarray(chosen, dtype=np.int64)
                status = np.where(option >= 0, ADMITTED, DECLINED).astype(np.int8)
                a = Assignment(option, status, "brute")
                m = evaluate(instance, a, kv_budget_bytes=budget).metrics
                key = (-m.served, m.objective)
                if best is None or key < best:
                    best = key
                least = min(least, m.objective)
                return
            for c in choices[i]:
                rec(i + 1, [*chosen, c])

        rec(0, [])
    if weighted:
        return -best[0], least
    return -best[0], best[1]


def joint_optimum(instance, reduce: bool):
    """(served, objective) of the joint MILP solved exactly, lexicographically."""
    prob = placement_problem(instance)
    if reduce:
        prob = reduce_problem(prob)
    res = solve_assignment(prob.data, EXACT, lexicographic=True)
    assert res.status == "optimal"
    unreachable = int((instance.request_window < 0).sum())
    unserved = unreachable + round(res.drops)
    objective = (
        instance.drop_penalty_j * unserved + res.objective + always_on_idle_continuous_j(instance)
    )
    return instance.n_requests - unserved, objective, prob, res


@pytest.mark.parametrize(("trace", "deadline_s"), CASES)
def test_joint_milp_equals_brute_force(tmp_path, trace, deadline_s):
    inst = two_model_instance(tmp_path, TRACES[trace], deadline_s)
    assert inst.n_requests == 4 and set(inst.requests.service.tolist()) == {0, 1}
    served, objective = brute_force(inst)
    for reduce in (False, True):
        got_served, got_objective, prob, res = joint_optimum(inst, reduce)
        assert got_served == served
        assert got_objective == pytest.approx(objective, rel=1e-9, abs=1e-6)
    # The deployment it returns fits, and its plan is scored identically by the evaluator.
    hosts = np.zeros_like(inst.deployment.hosts)
    on = res.gate[prob.deploy_gate_start :] > 0.5
    hosts[prob.deploy_pairs[on, 0], prob.deploy_pairs[on, 1]] = True
    option = np.full(inst.n_requests, -1, dtype=np.int64)
    chosen = res.x > 0.5
    option[prob.request[prob.data.option_item[chosen]]] = prob.option[chosen]
    option[prob.fixed_request] = prob.fixed_option
    dep = inst.deployment
    ev = evaluate(
        inst,
        Assignment.from_options(option, "joint"),
        kv_budget_bytes=dep.memory_bytes - (dep.weight_bytes * hosts).sum(axis=1),
    )
    assert ev.metrics.served == served
    assert ev.metrics.objective == pytest.approx(objective, rel=1e-9, abs=1e-6)
    # The LP of the drops never exceeds the optimal drops.
    free = np.full(len(prob.deploy_pairs), -1)
    lp = PairFixings(drops_only(prob.data), prob.deploy_gate_start, len(free), EXACT)
    val, _ = lp.solve(free)
    unreachable = int((inst.request_window < 0).sum())
    assert unreachable + val <= inst.n_requests - served + 1e-6


@pytest.mark.parametrize(("trace", "deadline_s"), CASES)
def test_search_is_feasible_and_its_bound_valid(tmp_path, trace, deadline_s):
    inst = two_model_instance(tmp_path, TRACES[trace], deadline_s)
    served, objective = brute_force(inst)
    for moves, nodes in ((0, 1), (2, 2), (20, 20)):
        cfg = replace(EXACT, placement_moves=moves, placement_nodes=nodes)
        res = solve_optimum(inst, cfg)
        ev = evaluate(inst, res.assignment, kv_budget_bytes=res.kv_budget_bytes(inst))
        assert ev.metrics.objective == pytest.approx(res.objective, rel=1e-9)
        assert ev.metrics.served <= served <= res.served_bound
        assert res.bound <= objective * (1 + 1e-12) + 1e-6
        assert res.objective >= objective * (1 - 1e-12) - 1e-6
        assert res.bound <= res.objective


@pytest.mark.parametrize(("trace", "deadline_s"), [("heavy", 6.0), ("late", 9.0)])
def test_search_with_the_weighted_objective(tmp_path, trace, deadline_s):
    inst = two_model_instance(tmp_path, TRACES[trace], deadline_s)
    served, least = brute_force(inst, weighted=True)
    cfg = replace(EXACT, objective="weighted", placement_moves=20, placement_nodes=20)
    res = solve_optimum(inst, cfg)
    ev = evaluate(inst, res.assignment, kv_budget_bytes=res.kv_budget_bytes(inst))
    assert ev.metrics.objective == pytest.approx(res.objective, rel=1e-9)
    assert res.bound <= least * (1 + 1e-12) + 1e-6 <= res.objective * (1 + 2e-12) + 2e-6
    assert served <= res.served_bound


def test_nothing_on_time(tmp_path):
    """No request can be served on time (deadline 0.3 s): every one is dropped, proven."""
    inst = two_model_instance(tmp_path, TRACES["burst"], 0.3)
    assert not inst.options.on_time.any()
    res = solve_optimum(inst, EXACT)
    assert res.served_bound == 0 and not (res.assignment.option >= 0).any()
    ev = evaluate(inst, res.assignment, kv_budget_bytes=res.kv_budget_bytes(inst))
    assert ev.metrics.objective == pytest.approx(res.objective, rel=1e-12)
    assert res.bound <= res.objective


def test_fixed_pairs_give_the_fixed_deployment(tmp_path):
    """The joint problem with every deployment gate fixed has the fixed-deployment optimum
    of that deployment (drops) for every deployment that fits, and is infeasible for the
    others; its LP (re-solved from the last basis, as the search does) is never above it."""
    inst = two_model_instance(tmp_path, TRACES["heavy"], 6.0)
    prob = placement_problem(inst)
    dd = drops_only(prob.data)
    dep = inst.deployment
    pairs = prob.deploy_pairs
    unreachable = int((inst.request_window < 0).sum())
    milp = PairFixings(dd, prob.deploy_gate_start, len(pairs), EXACT, relax=False)
    lp = PairFixings(dd, prob.deploy_gate_start, len(pairs), EXACT)
    for mask in itertools.product([0, 1], repeat=len(pairs)):
        hosts = np.zeros_like(dep.hosts)
        hosts[pairs[:, 0], pairs[:, 1]] = np.asarray(mask, dtype=bool)
        drops, _ = milp.solve(np.asarray(mask))
        lp_drops, _ = lp.solve(np.asarray(mask))
        fits = np.all((dep.weight_bytes * hosts).sum(axis=1) <= dep.memory_bytes)
        assert math.isfinite(drops) == fits == math.isfinite(lp_drops)
        if not fits:
            continue
        sub, _ = restrict_to_deployment(inst, hosts)
        fixed = solve_optimum(sub, EXACT)
        assert fixed.status == "optimal"
        assert unreachable + round(drops) == inst.n_requests - fixed.served_bound
        assert lp_drops <= drops + 1e-6


def memory_bound_config(seed: int, horizon_s: float = 40.0, rate: float = 1.0) -> InstanceConfig:
    """The default model on 12-GB edge servers: the 7B and 13B weights together leave under
    1 GB of KV cache, so what to deploy is a real choice."""
    return InstanceConfig(
        seed=seed,
        horizon_s=horizon_s,
        workload=WorkloadConfig(rate_rps=rate),
        calibration=CalibrationConfig(overrides={"cpu-xeon-4214r": {"memory_gb": 12.0}}),
    )


def test_restricted_instance_is_the_configured_one():
    cfg = memory_bound_config(0)
    placed = build_instance(cfg, placement=True)
    fixed = build_instance(cfg, drop_penalty_j=placed.drop_penalty_j)
    sub, kept = restrict_to_deployment(placed, placed.deployment.hosts)
    assert len(placed.options) > len(fixed.options)
    for f in fields(OptionTable):
        assert np.array_equal(getattr(sub.options, f.name), getattr(fixed.options, f.name)), f.name
    assert np.array_equal(sub.request_window, fixed.request_window)
    assert np.array_equal(sub.server_kv_budget_bytes, fixed.server_kv_budget_bytes)
    assert np.array_equal(placed.options.energy_infer_j[kept], fixed.options.energy_infer_j)
    start = np.arange(fixed.n_requests) % 3 - 1
    start = np.where(start >= 0, fixed.options.ptr[:-1], -1)
    mapped = placement_start(placed, start)
    assert np.array_equal(mapped >= 0, start >= 0)
    assert np.array_equal(placed.options.request[mapped[mapped >= 0]], np.flatnonzero(start >= 0))
    hosts = placed.deployment.hosts.copy()
    hosts[1, 2] = True  # the 33B model's 18.3 GB on a 12-GB edge server
    with pytest.raises(ValueError, match="cannot host"):
        restrict_to_deployment(placed, hosts)


@pytest.mark.parametrize("seed", [0, 1])
def test_placement_never_worse_than_the_configured_deployment(seed):
    cfg = memory_bound_config(seed)
    placed = build_instance(cfg, placement=True)
    fixed = build_instance(cfg, drop_penalty_j=placed.drop_penalty_j)
    solver = SolverConfig(checks=100, placement_moves=3, placement_nodes=4)
    fixed_opt = solve_optimum(fixed, solver)
    res = solve_optimum(placed, solver)
    assert res.objective <= fixed_opt.objective * (1 + 1e-12)
    dep = placed.deployment
    assert not np.any(res.hosts & ~dep.can_host)
    budget = res.kv_budget_bytes(placed)
    assert np.all(budget >= 0)
    # Memory with the deployed weights holds at every event time, and the evaluator scores
    # the plan as the optimum does.
    o = res.assignment.option
    assert capacity_excess(placed, o[o >= 0], budget) is None
    ev = evaluate(placed, res.assignment, kv_budget_bytes=budget)
    assert ev.metrics.objective == pytest.approx(res.objective, rel=1e-9)
    assert ev.metrics.served <= res.served_bound
    assert res.bound <= res.objective


def test_heaviest_fitting_weights():
    assert heaviest_fitting_weights(np.array([3.0, 4.0, 5.0]), 8.0) == 8.0
    assert heaviest_fitting_weights(np.array([3.0, 4.0, 5.0]), 7.5) == 7.0
    assert heaviest_fitting_weights(np.array([3.0, 4.0]), 10.0) == 7.0
    assert heaviest_fitting_weights(np.array([6.0]), 5.0) == 0.0


def test_placement_budget_is_validated():
    with pytest.raises(InputError, match=r"solver\.placement_moves"):
        SolverConfig(placement_moves=-1)
    with pytest.raises(InputError, match=r"solver\.placement_nodes"):
        SolverConfig(placement_nodes=1.5)


def test_placement_lp_relaxation_is_a_bound():
    placed = build_instance(memory_bound_config(0, horizon_s=20.0), placement=True)
    lp = solve_optimum(placed, SolverConfig(lp_relaxation=True))
    res = solve_optimum(placed, SolverConfig(checks=100, placement_moves=1, placement_nodes=2))
    assert lp.assignment is None and math.isnan(lp.objective)
    assert lp.bound <= res.objective * (1 + 1e-9)


def test_a_deployment_over_memory_is_refused(tmp_path):
    inst = two_model_instance(tmp_path, TRACES["burst"], 6.0)
    hosts = inst.deployment.can_host.copy()  # both models on the cloud: 6 GB of 5.8
    with pytest.raises(ValueError, match="memory"):
        restrict_to_deployment(inst, hosts)
