"""One experiment: build the instance, run the schedulers, evaluate (and solve the optimum).

Pure computation: returns rows and series; the entry point writes them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perllm_opt.config import AppConfig
from perllm_opt.evaluate import Evaluation, evaluate
from perllm_opt.instance import Instance, build_instance
from perllm_opt.rng import RngStreams
from perllm_opt.schedulers.factory import make_scheduler
from perllm_opt.simulator import simulate

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ExperimentResult:
    """Everything an experiment produced.

    Attributes
    ----------
    rows : list of dict
        One flat metrics row per scheduler (and ``optimal`` when solved).
    objective_per_round : dict of str to ndarray
        Each row's objective per round (cumulative regret = cumsum of the difference).
    summary : dict
        Instance size and timings.
    """

    rows: list[dict[str, Any]]
    objective_per_round: dict[str, np.ndarray]
    summary: dict[str, Any] = field(default_factory=dict)


def instance_summary(instance: Instance) -> dict[str, Any]:
    """Counts that describe an instance."""
    o = instance.options
    reachable = np.zeros(instance.n_requests, dtype=bool)
    if len(o):
        reachable[o.request[o.on_time]] = True
    return {
        "requests": instance.n_requests,
        "rounds": instance.n_rounds,
        "options": len(o),
        "requests_with_on_time_option": int(reachable.sum()),
        "servers": instance.topology.n_servers,
        "zones": instance.topology.n_zones,
        "drop_penalty_j": instance.drop_penalty_j,
    }


def run_schedulers(
    instance: Instance,
    cfg: AppConfig,
    progress: bool = False,
    on_done: Callable[[str, Evaluation, float], None] | None = None,
) -> dict[str, Evaluation]:
    """Simulate and evaluate every scheduler named in ``cfg.schedulers``.

    Each scheduler has its own random stream ``scheduler/<name>`` from the run seed.
    """
    streams = RngStreams(cfg.seed)
    out: dict[str, Evaluation] = {}
    for name in cfg.schedulers:
        sched = make_scheduler(name, cfg.scheduler[name])
        res = simulate(
            instance, sched, streams.stream(f"scheduler/{name}"), progress=progress, label=name
        )
        ev = evaluate(instance, res.assignment)
        out[name] = ev
        if on_done is not None:
            on_done(name, ev, res.wall_s)
    return out


def run_experiment(cfg: AppConfig, progress: bool = False) -> ExperimentResult:
    """Build the instance of ``cfg``, run its schedulers and, if asked, the MILP optimum."""
    t0 = time.perf_counter()
    instance = build_instance(cfg)
    summary = instance_summary(instance)
    summary["build_s"] = time.perf_counter() - t0
    log.info(
        "instance: %(requests)d requests, %(rounds)d rounds, %(options)d options, "
        "%(requests_with_on_time_option)d requests with an on-time option",
        summary,
    )
    rows: list[dict[str, Any]] = []
    series: dict[str, np.ndarray] = {}

    def done(name: str, ev: Evaluation, wall_s: float) -> None:
        row = ev.metrics.as_dict()
        row["sim_s"] = wall_s
        rows.append(row)
        series[name] = ev.objective_per_round
        log.info(
            "%-15s on time %5d / %d  (%.1f s)", name, ev.metrics.served, ev.metrics.requests, wall_s
        )

    run_schedulers(instance, cfg, progress=progress, on_done=done)
    summary["total_s"] = time.perf_counter() - t0
    return ExperimentResult(rows=rows, objective_per_round=series, summary=summary)
