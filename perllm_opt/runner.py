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
from perllm_opt.errors import InputError, require
from perllm_opt.evaluation.metrics import Evaluation, evaluate
from perllm_opt.evaluation.regret import Outcome, add_decomposed_regret, outcome, regret_series
from perllm_opt.evaluation.timings import peak_rss_gb
from perllm_opt.instance.build import build_instance
from perllm_opt.instance.expected_options import ExpectedOptions, expected_options
from perllm_opt.instance.realised import Instance
from perllm_opt.instance.size_guard import (
    SizeEstimate,
    check_size,
    estimate_size,
    instance_size,
    size_keys,
)
from perllm_opt.milp.optimum import on_time_start, solve_optimum
from perllm_opt.milp.placement import placement_start
from perllm_opt.milp.solve import check_solver
from perllm_opt.milp.subproblems import OptimumResult
from perllm_opt.rng import RngStreams
from perllm_opt.schedulers.base import Scheduler
from perllm_opt.schedulers.factory import make_scheduler
from perllm_opt.simulation.simulator import SimulationResult, simulate

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
    outcomes : dict of str to Outcome
        Each row's per-round realised and expected outcomes (:mod:`perllm_opt.evaluation.regret`).
    """

    rows: list[dict[str, Any]]
    objective_per_round: dict[str, np.ndarray]
    summary: dict[str, Any] = field(default_factory=dict)
    deployment: dict[str, list[str]] | None = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def regret_series(self):
        """Cumulative regret against both references after each round (long format,
        :func:`perllm_opt.evaluation.regret.regret_series`)."""
        return regret_series(self.outcomes)

    def cumulative_regret(self) -> dict[str, np.ndarray]:
        """Per scheduler, cumulative regret after each round (needs the ``optimal`` series)."""
        if "optimal" not in self.objective_per_round:
            return {}
        opt = self.objective_per_round["optimal"]
        return {
            name: np.cumsum(series - opt)
            for name, series in self.objective_per_round.items()
            if name != "optimal"
        }


def instance_summary(instance: Instance) -> dict[str, Any]:
    """Counts that describe an instance."""
    o = instance.options
    reachable = np.zeros(instance.n_requests, dtype=bool)
    if len(o):
        reachable[o.request[o.on_time]] = True
    return {
        "mode": instance.mode,
        "requests": instance.n_requests,
        "rounds": instance.n_rounds,
        "windows": (
            int(instance.request_window.max(initial=-1)) + 1 if instance.continuous else None
        ),
        "options": len(o),
        "requests_with_on_time_option": int(reachable.sum()),
        "servers": instance.topology.n_servers,
        "zones": instance.topology.n_zones,
        "drop_penalty_j": instance.drop_penalty_j,
    }


def make_schedulers(cfg: AppConfig) -> dict[str, Scheduler]:
    """Every scheduler named in ``cfg.schedulers``, validated (a bad hyperparameter raises
    here, before any work)."""
    return {name: make_scheduler(name, cfg.scheduler[name]) for name in cfg.schedulers}


def run_schedulers(
    instance: Instance,
    cfg: AppConfig,
    progress: bool = False,
    on_done: Callable[[str, Evaluation, SimulationResult], None] | None = None,
    schedulers: dict[str, Scheduler] | None = None,
) -> dict[str, Evaluation]:
    """Simulate and evaluate every scheduler named in ``cfg.schedulers`` (or the given
    ones), as ``perllm-opt`` does.

    Parameters
    ----------
    instance : Instance
        Built from ``cfg`` (:func:`perllm_opt.instance.build.build_instance`).
    cfg : AppConfig
        Its ``schedulers``, ``scheduler`` and ``seed``: each scheduler has its own random
        stream ``scheduler/<name>`` from the run seed, so results are those of the command.
    progress : bool
        Progress bars.
    on_done : callable, optional
        Called with each scheduler's name, evaluation and simulation result.
    schedulers : dict of str to Scheduler, optional
        Run these instead of those named in ``cfg``.

    Returns
    -------
    dict of str to Evaluation
        By scheduler name, in the order run.
    """
    streams = RngStreams(cfg.seed)
    out: dict[str, Evaluation] = {}
    for name, sched in (schedulers or make_schedulers(cfg)).items():
        res = simulate(
            instance, sched, streams.stream(f"scheduler/{name}"), progress=progress, label=name
        )
        ev = evaluate(instance, res.assignment)
        out[name] = ev
        if on_done is not None:
            on_done(name, ev, res)
    return out


def optimum_row(
    target: Instance, cfg: AppConfig, progress: bool = False, start: np.ndarray | None = None
) -> tuple[dict[str, Any], Evaluation | None, OptimumResult]:
    """Solve the optimum of ``target`` and evaluate it with the same evaluator as every
    scheduler (in placement mode, with the memory left by the optimal deployment).
    ``start``: option per request to warm-start from (see :func:`solve_optimum`)."""
    opt = solve_optimum(target, cfg.solver, progress=progress, start=start)
    row: dict[str, Any] = {"scheduler": "optimal"}
    series = None
    if opt.assignment is not None:
        ev = evaluate(target, opt.assignment, kv_budget_bytes=opt.kv_budget_bytes(target))
        row = ev.metrics.as_dict()
        series = ev
    row.update(
        {
            "status": opt.status,
            "bound": opt.bound,
            "mip_gap": opt.gap,
            "served_bound": opt.served_bound,
            "milp_options_full": opt.n_options_full,
            "milp_options": opt.n_options,
            "milp_fixed_requests": opt.n_fixed,
            "build_s": opt.build_s,
            "solve_s": opt.solve_s,
            "solver_s": opt.solver_s,
        }
    )
    if opt.assignment is None:
        row["objective"] = float("nan")
    # The certified gap: on-time requests the plan may be short of the optimum, as a share
    # of the plan's (0 when proven; docs/metrics.md).
    served = row.get("served")
    row["certified_gap"] = (
        (opt.served_bound - served) / max(served, 1)
        if served is not None and opt.served_bound == opt.served_bound
        else float("nan")
    )
    return row, series, opt


def add_regret(rows: list[dict[str, Any]], opt_row: dict[str, Any]) -> None:
    """``regret`` = objective - optimal objective (against the best solution found: a lower
    bound on the true regret when the optimum is not proven), ``regret_bound`` = objective -
    the optimum's proven bound (an upper bound; equal to ``regret`` when proven optimal);
    ``energy_gap`` = energy per on-time request over the optimum's (docs/metrics.md)."""
    best = opt_row.get("objective", float("nan"))
    bound = opt_row.get("bound", float("nan"))
    best_e = opt_row.get("energy_per_served_j", float("nan"))
    for r in rows:
        r["regret"] = r["objective"] - best
        r["regret_bound"] = r["objective"] - bound
        served_e = r.get("energy_per_served_j", float("nan"))
        r["energy_gap"] = served_e / best_e if best_e and best_e == best_e else float("nan")


def optimum_options(cfg: AppConfig) -> float | None:
    """The most options the optimum of ``cfg`` holds in its solver at once (None: every
    option). In continuous mode with the windowed search, a window above
    ``solver.whole_max_options`` options never has its whole MILP built and one above
    ``solver.lp_max_options`` never its whole LP (its LP goes by blocks), so the solver
    holds at most the larger of the two; the window's data itself is priced with the
    options (measured: docs/experiments.md, "Real systems at scale")."""
    s = cfg.solver
    searching = s.search and s.objective == "lexicographic" and not s.lp_relaxation
    plain = cfg.placement == "fixed" and s.window_s is None
    if cfg.system.mode != "continuous" or not searching or not plain:
        return None
    if s.lp_max_options is None:
        return None
    return float(max(s.whole_max_options, s.lp_max_options))


def run_size(
    instance: Instance, n_schedulers: int, optimal: bool, in_solver: float | None = None
) -> SizeEstimate:
    """The expected memory of a whole run on the built ``instance``: its exact option count,
    ``n_schedulers`` schedulers and, if ``optimal``, the MILP optimum holding at most
    ``in_solver`` options in its solver (:func:`optimum_options`; instance/size_guard.py)."""
    base = instance_size(
        instance.config,
        instance.templates,
        instance.topology.n_links + instance.topology.n_servers,
        instance.round_s,
        n_sleep_servers=int(np.count_nonzero(instance.topology.server_can_sleep)),
        n_schedulers=n_schedulers + int(optimal),
    )
    return estimate_size(
        instance.n_requests,
        len(instance.options.request) / max(instance.n_requests, 1),
        rounds=instance.n_rounds,
        intervals=instance.dynamics.bandwidth_mbps.shape[1],
        n_links_servers=instance.topology.n_links + instance.topology.n_servers,
        n_schedulers=n_schedulers + int(optimal),
        optimal=optimal,
        bins=base.bins,
        sleep_blocks=base.sleep_blocks,
        n_sleep_servers=int(np.count_nonzero(instance.topology.server_can_sleep)),
        optimum_options=in_solver,
    )


def check_on_time_possible(instance: Instance, on_time_possible: int) -> None:
    """Refuse an instance on which no request can be on time (every option of every request
    misses its deadline): its tables would be all zeros. Names the key most likely at
    fault: the round length in rounds mode, the decision epoch if it is at least every
    deadline, else the services' deadlines (docs/experiments.md, "Impossible settings")."""
    if instance.n_requests == 0 or on_time_possible > 0:
        return
    cfg = instance.config
    s = cfg.system
    longest = max(cfg.services, key=lambda sv: sv.deadline_max_s)
    deadlines = f"deadlines up to {longest.deadline_max_s:g} s"
    why = f"settings under which some request can be on time (none of {instance.n_requests}"
    if s.mode == "rounds":
        raise InputError(
            "system.round_s",
            s.round_s,
            f"{why} can: a request waits for the end of its round and must finish within the "
            f"next; {deadlines})",
        )
    if s.epoch_s >= longest.deadline_max_s:
        raise InputError(
            f"system.epoch_s, services[{longest.name}].deadline_max_s",
            f"an epoch of {s.epoch_s:g} s, deadlines up to {longest.deadline_max_s:g} s",
            f"{why} can: each waits up to one epoch for its dispatch)",
        )
    raise InputError(
        f"services[{longest.name}].deadline_max_s",
        longest.deadline_max_s,
        f"{why} can: no server answers within the deadlines on this topology)",
    )


def run_experiment(cfg: AppConfig, progress: bool = False) -> ExperimentResult:
    """Build the instance of ``cfg``, run its schedulers and, if asked, the MILP optimum."""
    t0 = time.perf_counter()
    require(
        bool(cfg.schedulers) or cfg.optimal,
        "schedulers",
        list(cfg.schedulers),
        "at least one scheduler name (or optimal=true to solve only the optimum)",
    )
    # Fail on a bad hyperparameter or a missing solver before any work, not after.
    schedulers = make_schedulers(cfg)
    if cfg.optimal:
        check_solver(cfg.solver)
    instance, placement = _instances(cfg, len(schedulers))
    summary = instance_summary(instance)
    check_on_time_possible(instance, summary["requests_with_on_time_option"])
    summary["build_s"] = time.perf_counter() - t0
    log.info(
        "instance: %(requests)d requests, %(rounds)d rounds, %(options)d options, "
        "%(requests_with_on_time_option)d requests with an on-time option",
        summary,
    )
    table = expected_options(instance)
    runs = _Runs(instance, table, cfg.optimal)
    run_schedulers(instance, cfg, progress=progress, on_done=runs.done, schedulers=schedulers)
    deployment = None
    if cfg.optimal:
        deployment = _add_optimum(runs, cfg, placement, summary, progress)
    add_decomposed_regret(runs.rows, runs.outcomes)
    summary["total_s"] = time.perf_counter() - t0
    summary["peak_rss_gb"] = peak_rss_gb()
    return ExperimentResult(
        rows=runs.rows,
        objective_per_round=runs.series,
        summary=summary,
        deployment=deployment,
        outcomes=runs.outcomes,
    )


def _instances(cfg: AppConfig, n_schedulers: int) -> tuple[Instance, Instance | None]:
    """The instance of ``cfg`` and, for ``placement=optimize`` with the optimum, the
    placement instance (same requests and dynamics, every deployable (server, model) a
    candidate; the fixed-deployment instance takes its drop penalty so both are on one
    scale). The whole run is checked against the memory budget once the options are
    counted exactly."""
    placement = None
    if cfg.optimal and cfg.placement == "optimize":
        placement = build_instance(cfg, placement=True)
        instance = build_instance(cfg, drop_penalty_j=placement.drop_penalty_j)
    else:
        instance = build_instance(cfg)
    keys, term_keys = size_keys(
        cfg, "optimal, schedulers, horizon_s, workload.rate_rps" if cfg.optimal else "schedulers"
    )
    size = run_size(instance, n_schedulers, cfg.optimal, optimum_options(cfg))
    check_size(size, cfg.memory_budget_gb, keys, term_keys)
    return instance, placement


class _Runs:
    """The rows, per-round series and outcomes of one experiment as its schedulers finish
    (mutable, local to :func:`run_experiment`), and the best scheduler's on-time choices
    (most on time, then the lowest objective): the optimum's floor and, with
    ``solver.warm_start``, its start."""

    def __init__(self, instance: Instance, table: ExpectedOptions, optimal: bool) -> None:
        self.instance, self.table, self.optimal = instance, table, optimal
        self.rows: list[dict[str, Any]] = []
        self.series: dict[str, np.ndarray] = {}
        self.outcomes: dict[str, Outcome] = {}
        self.best: dict[str, Any] = {}

    def done(self, name: str, ev: Evaluation, res: SimulationResult) -> None:
        """Record one scheduler's evaluation and simulation."""
        instance, best = self.instance, self.best
        key = (-ev.metrics.served, ev.metrics.objective)
        if self.optimal and (not best or key < best["key"]):
            best.update(key=key, start=on_time_start(instance, res.assignment))
        row = ev.metrics.as_dict()
        row["sim_s"] = res.wall_s
        self.rows.append(row)
        self.series[name] = ev.objective_per_round
        self.outcomes[name] = outcome(
            instance, self.table, res.assignment, ev.served_per_round, ev.objective_per_round
        )
        log.info(
            "%-15s on time %5d / %d  (%.1f s)",
            name,
            ev.metrics.served,
            ev.metrics.requests,
            res.wall_s,
        )


def _add_optimum(
    runs: _Runs,
    cfg: AppConfig,
    placement: Instance | None,
    summary: dict[str, Any],
    progress: bool,
) -> dict[str, list[str]] | None:
    """Solve the optimum, put its row first in ``runs`` (with the regret of every other
    row) and its figures in ``summary``; returns the optimal deployment (placement mode)."""
    instance = runs.instance
    t1 = time.perf_counter()
    # A start only where the option tables are the same, or (continuous placement) one
    # holds the other (placement mode's is larger).
    start = runs.best.get("start")
    if placement is not None:
        start = placement_start(placement, start) if placement.continuous else None
    opt_row, opt_series, opt = optimum_row(
        placement or instance, cfg, progress=progress, start=start
    )
    opt_row["sim_s"] = time.perf_counter() - t1
    log.info(
        "optimal         on time %5s / %d  (%s, %.1f s)",
        opt_row.get("served", "-"),
        instance.n_requests,
        opt.status,
        opt_row["sim_s"],
    )
    add_regret(runs.rows, opt_row)
    runs.rows.insert(0, opt_row)
    if opt_series is not None and opt.assignment is not None:
        runs.series = {"optimal": opt_series.objective_per_round, **runs.series}
        target = placement or instance
        runs.outcomes = {
            "optimal": outcome(
                target,
                runs.table if target is instance else expected_options(target),
                opt.assignment,
                opt_series.served_per_round,
                opt_series.objective_per_round,
            ),
            **runs.outcomes,
        }
    summary.update(
        {
            "optimal_status": opt.status,
            "optimal_gap": opt.gap,
            "optimal_served_bound": opt.served_bound,
            "optimal_subproblems": opt.subproblems,
            "optimal_build_s": opt.build_s,
            "optimal_solve_s": opt.solve_s,
        }
    )
    if opt.hosts is None:
        return None
    dep = instance.deployment
    return {
        s: [dep.models[m] for m in np.flatnonzero(opt.hosts[j])]
        for j, s in enumerate(instance.topology.servers)
    }
