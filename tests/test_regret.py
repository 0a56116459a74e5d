"""Regret against the exact optimum is never negative: every scheduler, 12 seeds (3 per load)."""

from __future__ import annotations

from pathlib import Path

import pytest

from perllm_opt.config import InstanceConfig, SolverConfig, SystemConfig, WorkloadConfig
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.instance.build import build_instance
from perllm_opt.milp.optimum import solve_optimum
from perllm_opt.rng import RngStreams
from perllm_opt.schedulers.factory import load_scheduler_spec, make_scheduler
from perllm_opt.simulation.simulator import simulate

CONF = Path(__file__).resolve().parent.parent / "conf" / "scheduler"
SPECS = {
    p.stem: load_scheduler_spec(p)
    for p in sorted(CONF.glob("*.yaml"))
    if p.stem not in ("cs_ucb_static", "cs_ucb_no_price")  # parameters of cs_ucb's code paths
}
SOLVER = SolverConfig(mip_rel_gap=1e-9, time_limit_s=60)


@pytest.mark.parametrize("seed", range(12))
def test_regret_is_never_negative(seed):
    rate = (0.5, 1.0, 2.0, 3.0)[seed % 4]
    inst = build_instance(
        InstanceConfig(
            seed=seed,
            horizon_s=90.0,
            workload=WorkloadConfig(rate_rps=rate),
            system=SystemConfig(mode="rounds"),
        )
    )
    opt = solve_optimum(inst, SOLVER)
    assert opt.status == "optimal"
    best = evaluate(inst, opt.assignment).metrics
    tolerance = 1e-6 * abs(opt.objective) + 1e-6
    streams = RngStreams(seed)
    for name, spec in SPECS.items():
        sched = make_scheduler(name, spec)
        res = simulate(inst, sched, streams.stream(f"scheduler/{name}"))
        m = evaluate(inst, res.assignment).metrics
        assert m.objective - best.objective >= -tolerance, name
        assert m.served <= best.served, name
