"""One evaluator for every assignment, the MILP's and each scheduler's (docs/metrics.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from perllm_opt.evaluation import continuous, rounds
from perllm_opt.evaluation.per_bin import PerBin
from perllm_opt.instance.assignment import ADMITTED, DECLINED, DROPPED, REFUSED, Assignment
from perllm_opt.instance.realised import Instance


@dataclass(frozen=True)
class Metrics:
    """Flat metrics of one assignment (one row of ``metrics.json``; see docs/metrics.md)."""

    scheduler: str
    requests: int
    served: int
    late: int
    cut_off: int
    refused: int
    declined: int
    refused_capacity: int
    dropped: int
    served_fraction: float
    throughput_rps: float
    energy_j: float
    energy_tran_j: float
    energy_infer_j: float
    energy_idle_j: float
    weighted_energy_j: float
    energy_per_served_j: float
    objective: float
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Metrics plus per-round series (for cumulative-regret plots): per round in rounds
    mode, per bin of ``system.bin_s`` (by arrival) in continuous mode."""

    metrics: Metrics
    objective_per_round: np.ndarray
    served_per_round: np.ndarray
    energy_per_round_j: np.ndarray


def evaluate(
    instance: Instance, assignment: Assignment, kv_budget_bytes: np.ndarray | None = None
) -> Evaluation:
    """Score an assignment on its instance.

    Parameters
    ----------
    instance : Instance
    assignment : Assignment
    kv_budget_bytes : ndarray, optional
        Per-server KV memory budget when the deployment differs from the instance's
        (placement mode).

    Returns
    -------
    Evaluation

    Raises
    ------
    CapacityViolationError
        If the assignment exceeds a round's capacity (no valid assignment does).
    """
    admitted, on_time, completes = _outcomes(instance, assignment)
    scorer = continuous.per_bin if instance.continuous else rounds.per_bin
    bins = scorer(instance, assignment.option, admitted, on_time, kv_budget_bytes)
    w_tran, w_infer, w_idle = instance.weights
    weighted_r = w_tran * bins.tran + w_infer * bins.infer + w_idle * bins.idle
    objective_r = instance.drop_penalty_j * (bins.total - bins.served) + weighted_r
    return Evaluation(
        metrics=_metrics(
            instance, assignment, (admitted, on_time, completes), bins, weighted_r, objective_r
        ),
        objective_per_round=objective_r,
        served_per_round=bins.served,
        energy_per_round_j=bins.tran + bins.infer + bins.idle,
    )


def _outcomes(
    instance: Instance, assignment: Assignment
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per request: admitted, on time, completed (not cut off); refuses an assignment that
    does not fit its instance's option table."""
    opts = instance.options
    n = instance.n_requests
    option, status = assignment.option, assignment.status
    if option.shape != (n,):
        raise ValueError(f"assignment has {option.shape} options for {n} requests")
    admitted = status == ADMITTED
    o = option[admitted]
    if len(o) and np.any(opts.request[o] != np.flatnonzero(admitted)):
        raise ValueError("an assigned option belongs to another request")
    on_time = np.zeros(n, dtype=bool)
    on_time[admitted] = opts.on_time[o]
    completes = np.zeros(n, dtype=bool)
    completes[admitted] = opts.completes[o]
    return admitted, on_time, completes


def _metrics(
    instance: Instance,
    assignment: Assignment,
    outcomes: tuple[np.ndarray, np.ndarray, np.ndarray],
    bins: PerBin,
    weighted_r: np.ndarray,
    objective_r: np.ndarray,
) -> Metrics:
    """The flat metrics row of the per-request ``outcomes`` (admitted, on time, completes)
    and the per-bin series (energies, weighted energy, objective)."""
    admitted, on_time, completes = outcomes
    n, status = instance.n_requests, assignment.status
    late = admitted & ~on_time
    served = int(on_time.sum())
    lat = instance.options.latency_s[assignment.option[completes]]
    pct = np.percentile(lat, [50, 95, 99]) if len(lat) else np.full(3, np.nan)
    e_tran_r, e_inf_r, e_idle_r = bins.tran, bins.infer, bins.idle
    energy = float(e_tran_r.sum() + e_inf_r.sum() + e_idle_r.sum())
    return Metrics(
        scheduler=assignment.source,
        requests=n,
        served=served,
        late=int(late.sum()),
        cut_off=int((admitted & ~completes).sum()),
        refused=int((~admitted).sum()),
        declined=int((status == DECLINED).sum()),
        refused_capacity=int((status == REFUSED).sum()),
        dropped=int((status == DROPPED).sum()),
        served_fraction=served / n if n else float("nan"),
        throughput_rps=served / instance.horizon_s,
        energy_j=energy,
        energy_tran_j=float(e_tran_r.sum()),
        energy_infer_j=float(e_inf_r.sum()),
        energy_idle_j=float(e_idle_r.sum()),
        weighted_energy_j=float(weighted_r.sum()),
        energy_per_served_j=energy / served if served else float("nan"),
        objective=float(objective_r.sum()),
        latency_p50_s=float(pct[0]),
        latency_p95_s=float(pct[1]),
        latency_p99_s=float(pct[2]),
    )
