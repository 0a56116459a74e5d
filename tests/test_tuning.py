"""The tuning protocol (issue 10): a trial's runs, its score, and a study end to end."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml
from support import CONF, REPO

from perllm_opt.config import AppConfig, TuningConfig, WorkloadConfig
from perllm_opt.errors import InputError
from perllm_opt.tuning import trial_configs


def test_trial_runs_every_tuning_seed_at_every_load_without_the_optimum():
    app = AppConfig(
        seed=0,
        optimal=True,
        workload=WorkloadConfig(rate_rps=5.0),
        tuning=TuningConfig(seeds=[100, 101, 102], rates_rps=[5.0, 10.0]),
    )
    runs = trial_configs(app)
    assert [(c.seed, c.workload.rate_rps) for c in runs] == [
        (s, r) for r in (5.0, 10.0) for s in (100, 101, 102)
    ]
    assert not any(c.optimal for c in runs)
    # No loads given: the configured one.
    one = trial_configs(AppConfig(workload=WorkloadConfig(rate_rps=3.0), tuning=TuningConfig([7])))
    assert [(c.seed, c.workload.rate_rps) for c in one] == [(7, 3.0)]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"seeds": [-1]}, "tuning.seeds"),
        ({"seeds": [1], "rates_rps": [0.0]}, "tuning.rates_rps"),
        ({"seeds": [1], "energy_tiebreak_per_j": 1.0}, "tuning.energy_tiebreak_per_j"),
    ],
)
def test_tuning_config_errors_name_the_key(kwargs, key):
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        TuningConfig(**kwargs)


@pytest.mark.slow
def test_two_trial_study_end_to_end(tmp_path):
    """`perllm-opt -m +experiment=tune` with 2 trials on a short setting writes one row
    per trial, best first, with the swept values and a score equal to on-time requests
    minus the energy tie-break."""
    out = tmp_path / "study"
    cmd = [
        sys.executable,
        "-m",
        "perllm_opt.cli.main",
        "-m",
        "+experiment=tune",
        "tune=ucb1",
        "hydra.sweeper.n_trials=2",
        "horizon_s=30",
        "tuning.seeds=[100,101]",
        "tuning.rates_rps=[2.0]",
        f"hydra.sweep.dir={out}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 2 and sorted(table["trial"]) == [0, 1]
    for key in ("scheduler.ucb1.energy_weight", "scheduler.ucb1.deadline_slack"):
        assert key in table.columns
    assert table["scheduler.ucb1.deadline_slack"].between(0.7, 2.0).all()
    assert (table["score"] == table["score"].sort_values(ascending=False).to_numpy()).all()
    assert (table["score"] - (table["on_time"] - 1e-9 * table["energy_j"])).abs().max() < 1e-6
    # Each trial ran both seeds: two runs of ucb1 in its metrics.
    runs = pd.read_json(out / "trial_0" / "metrics.json")
    assert sorted(runs["seed"]) == [100, 101] and set(runs["scheduler"]) == {"ucb1"}
    assert int(runs["served"].sum()) == int(table.loc[table.trial == 0, "on_time"].iloc[0])


def _sig3(x: float) -> float:
    return float(f"{x:.3g}")


TUNING = REPO / "paper" / "tuning"
SCHEDULERS = CONF / "scheduler"


@pytest.mark.parametrize(
    "name", sorted(p.name.removesuffix("_trials.csv") for p in TUNING.glob("*_trials.csv"))
)
def test_defaults_are_the_best_trial(name):
    """Every committed study's best trial (rounded to 3 significant digits) is the default in
    conf/scheduler/<name>.yaml, and the study spent the full budget of 30 trials."""
    trials = pd.read_csv(TUNING / f"{name}_trials.csv")
    assert len(trials) == 30
    best = trials.loc[trials.score.idxmax()]
    conf = yaml.safe_load((SCHEDULERS / f"{name}.yaml").read_text())
    for column in (c for c in trials.columns if c.startswith(f"scheduler.{name}.")):
        key = column.split(".")[-1]
        assert conf[key] == pytest.approx(_sig3(best[column]), rel=1e-9), (name, key)


def test_every_tunable_scheduler_has_a_study():
    """A search space in conf/tune without a committed study means an untuned default."""
    spaces = {p.stem for p in (CONF / "tune").glob("*.yaml")}
    studies = {p.name.removesuffix("_trials.csv") for p in TUNING.glob("*_trials.csv")}
    assert spaces == studies
