"""One tuning trial: a scheduler's configuration scored on the tuning seeds and loads.

The protocol (docs/experiments.md, "Tuning"): every scheduler with hyperparameters gets the
same budget of trials of Hydra's Optuna sweeper (TPE), each trial scored by
:func:`score_trial` on tuning seeds 100-104 only and on the default and an overloaded
load; reported experiments use seeds 0-4.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from perllm_opt.config import AppConfig
from perllm_opt.runner import run_experiment


@dataclass(frozen=True)
class TrialScore:
    """What a trial scored.

    Attributes
    ----------
    on_time : int
        On-time requests summed over the trial's runs (and schedulers).
    energy_j : float
        Their summed energy.
    score : float
        ``on_time - energy_tiebreak_per_j * energy_j``, what the sweeper maximises.
    runs : tuple of dict
        Per (seed, load, scheduler): ``seed``, ``rate_rps``, ``scheduler``, ``served``,
        ``energy_j``.
    """

    on_time: int
    energy_j: float
    score: float
    runs: tuple[dict[str, Any], ...]


def trial_configs(app: AppConfig) -> list[AppConfig]:
    """The runs of a trial: each tuning seed at each tuning load, without the optimum."""
    rates = app.tuning.rates_rps or [app.workload.rate_rps]
    return [
        dataclasses.replace(
            app,
            seed=int(seed),
            optimal=False,
            workload=dataclasses.replace(app.workload, rate_rps=float(rate)),
        )
        for rate in rates
        for seed in app.tuning.seeds
    ]


def score_trial(app: AppConfig) -> TrialScore:
    """Run every configuration of :func:`trial_configs` and score the trial."""
    runs = []
    for cfg in trial_configs(app):
        result = run_experiment(cfg)
        for row in result.rows:
            runs.append(
                {
                    "seed": cfg.seed,
                    "rate_rps": cfg.workload.rate_rps,
                    "scheduler": row["scheduler"],
                    "served": int(row["served"]),
                    "energy_j": float(row["energy_j"]),
                }
            )
    on_time = sum(r["served"] for r in runs)
    energy = sum(r["energy_j"] for r in runs)
    score = on_time - app.tuning.energy_tiebreak_per_j * energy
    return TrialScore(on_time=on_time, energy_j=energy, score=score, runs=tuple(runs))
