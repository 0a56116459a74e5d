"""``perllm-opt``: run the configured schedulers (and the optimum) on one instance.

Writes ``metrics.json``, ``metrics.csv``, ``per_round.csv`` and the other result files (the
same bytes for the same config and seed) and ``timings.json`` (the wall-clock figures) into the
Hydra run directory and prints a comparison table. A user mistake ends with exit code 2 and no
traceback: a one-line error naming the key, the value and what was expected for a bad value
or file, and Hydra's message naming the key for a misspelt key or a wrong type.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from perllm_opt.cli.callbacks import SweepFailed
from perllm_opt.cli.config_store import (
    config_dir,
    register_configs,
    searchpath_dirs,
    to_app_config,
)
from perllm_opt.cli.files import (
    DONE_FILE,
    ERROR_FILE,
    TRIAL_FILE,
    remove_stale_temporaries,
    write_atomic,
)
from perllm_opt.cli.hydra_errors import HeldStderr, condense_hydra_error, release_stderr
from perllm_opt.cli.run_dir import results_config, stale_reason
from perllm_opt.cli.run_record import (
    INPUTS_FILE,
    input_digests,
)
from perllm_opt.cli.submitit_settings import check_plugin_for
from perllm_opt.cli.watchdog import SWEEP_ID_ENV, SWEEP_PID_ENV, exit_with_parent, process_identity
from perllm_opt.config import AppConfig
from perllm_opt.errors import InputError
from perllm_opt.evaluation.report import format_table
from perllm_opt.evaluation.timings import TIMINGS_FILE, split_rows, split_summary
from perllm_opt.milp.solve import NoSolutionError, SolverUnavailableError
from perllm_opt.runner import ExperimentResult, run_experiment
from perllm_opt.tuning import score_trial

log = logging.getLogger("perllm_opt")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


#: Result files a run writes only in some configs: removed before a run is written over, so
#: that none of another run's files is left beside the new ones.
OPTIONAL_FILES = ("cumulative_regret.csv", "regret_series.csv", "deployment.json")


def write_results(
    out_dir: Path, result: ExperimentResult, cfg_yaml: str, inputs: dict[str, Any] | None = None
) -> None:
    """metrics.json (list of flat rows), metrics.csv, per_round.csv, cumulative_regret.csv,
    regret_series.csv (cumulative regret against both references, long format),
    summary.json, timings.json (every wall-clock figure, so that all the other files are
    byte-identical for the same config and seed) and inputs.json (the digests of the input
    files the config names). metrics.json is removed first and written last, so a run
    written over and interrupted is never taken for complete; a killed writer's
    temporaries are removed first."""
    (out_dir / DONE_FILE).unlink(missing_ok=True)
    remove_stale_temporaries(out_dir)
    for name in OPTIONAL_FILES:
        (out_dir / name).unlink(missing_ok=True)
    result_rows, timing_rows = split_rows(result.rows)
    summary_values, summary_times = split_summary(result.summary)
    rows = [{k: _json_safe(v) for k, v in r.items()} for r in result_rows]
    write_atomic(out_dir / "metrics.csv", pd.DataFrame(result_rows).to_csv(index=False))
    per_round = pd.DataFrame(result.objective_per_round)
    per_round.index.name = "round"
    write_atomic(out_dir / "per_round.csv", per_round.to_csv())
    regret = result.cumulative_regret()
    if regret:
        cum = pd.DataFrame(regret)
        cum.index.name = "round"
        write_atomic(out_dir / "cumulative_regret.csv", cum.to_csv())
    if result.outcomes:
        write_atomic(out_dir / "regret_series.csv", result.regret_series().to_csv(index=False))
    if result.deployment is not None:
        write_atomic(out_dir / "deployment.json", json.dumps(result.deployment, indent=2) + "\n")
    summary = {k: _json_safe(v) for k, v in summary_values.items()}
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    timings = {
        "rows": [{k: _json_safe(v) for k, v in r.items()} for r in timing_rows],
        "summary": {k: _json_safe(v) for k, v in summary_times.items()},
    }
    write_atomic(out_dir / TIMINGS_FILE, json.dumps(timings, indent=2) + "\n")
    write_atomic(out_dir / "resolved_config.yaml", cfg_yaml)
    write_atomic(out_dir / INPUTS_FILE, json.dumps(inputs or {}, indent=2, sort_keys=True) + "\n")
    # Written last: its presence marks a complete run.
    write_atomic(out_dir / DONE_FILE, json.dumps(rows, indent=2) + "\n")


def optimum_warning(opt: dict[str, Any], app: AppConfig) -> str:
    """A note when the optimum is not proven optimal (empty string otherwise)."""
    status = opt.get("status")
    if status == "optimal":
        return ""
    budget = f"solver.time_limit_s={app.solver.time_limit_s}"
    if app.solver.checks is not None:
        budget = f"solver.checks={app.solver.checks} (or {budget})"
    if app.placement == "optimize" and app.system.mode == "continuous":
        budget += (
            f", solver.placement_moves={app.solver.placement_moves} and "
            f"solver.placement_nodes={app.solver.placement_nodes}"
        )
    if status == "feasible":
        return (
            f"\nwarning: the optimum stopped at {budget} with a relative gap of "
            f"{opt.get('mip_gap'):.2e}; regrets are measured against the best solution "
            "found.\n"
        )
    if status == "no_solution":
        return (
            f"\nwarning: the MILP found no solution within {budget}: raise it, or set "
            "solver.lp_relaxation=true for a bound; scheduler results are kept.\n"
        )
    if status == "infeasible":
        return (
            "\nwarning: the MILP is infeasible, which should not happen (every request may "
            "be dropped): please report it with resolved_config.yaml.\n"
        )
    return f"\nnote: the optimum's status is {status!r}.\n"


def optimum_status_line(opt: dict[str, Any], summary: dict[str, Any]) -> str:
    """One line: the optimum's status, gap, proven bound on on-time requests and time."""
    served = opt.get("served")
    bound = opt.get("served_bound")
    bound_txt = f"{bound:.0f}" if isinstance(bound, float) and bound == bound else "-"
    gap = opt.get("mip_gap")
    gap_txt = f"{gap:.2e}" if isinstance(gap, float) and gap == gap else "-"
    served_txt = "-" if served is None else str(served)
    certified = ""
    if isinstance(bound, float) and bound == bound and isinstance(served, int) and served > 0:
        certified = f", certified gap {100 * (bound - served) / served:.2f}% of on-time"
    full, kept = opt.get("milp_options_full"), opt.get("milp_options")
    reduced = f", {kept:,} of {full:,} options kept" if full and kept is not None else ""
    return (
        f"\noptimum: {opt.get('status')}, gap {gap_txt}, on time {served_txt}"
        f" (proven at most {bound_txt}{certified}), {summary.get('optimal_subproblems', '-')} "
        f"subproblem(s){reduced}, {opt.get('solve_s', float('nan')):.1f} s solving"
    )


def run(cfg: DictConfig) -> int:
    """Body of the Hydra app; returns the process exit code.

    In a sweep, a run whose directory already holds the results of the same configuration is
    skipped, and a failing run writes ``error.txt`` and returns instead of stopping the
    sweep (the other runs go on; the sweep's summary lists it).
    """
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    cfg_yaml = OmegaConf.to_yaml(cfg)
    if multirun:
        exit_with_parent()
    if multirun:
        reason = stale_reason(out_dir, cfg_yaml)
        if reason is None:
            log.info("already complete, skipped: %s", out_dir)
            return 0
        if reason != "no complete run":
            log.warning("redone (%s): %s", reason, out_dir)
    try:
        app = to_app_config(cfg)
        inputs = input_digests(results_config(cfg_yaml) or {})
        result = run_experiment(app, progress=app.progress and sys.stderr.isatty())
        write_results(out_dir, result, cfg_yaml, inputs)
        (out_dir / ERROR_FILE).unlink(missing_ok=True)
        if app.plot:
            from perllm_opt.cli.plot import run_report

            run_report(out_dir)
    except (InputError, SolverUnavailableError, NoSolutionError) as exc:
        hint = (
            "" if isinstance(exc, InputError) else " (run with optimal=false to skip the optimum)"
        )
        message = f"perllm-opt: error: {exc}{hint}"
        print(message, file=sys.stderr)
        if multirun:
            write_atomic(out_dir / ERROR_FILE, message + "\n")
        return 2
    except Exception:
        if not multirun:
            raise
        trace = traceback.format_exc()
        write_atomic(out_dir / ERROR_FILE, trace)
        log.error("run failed (%s): %s", out_dir, trace.strip().splitlines()[-1])
        return 1
    if multirun:
        log.info("complete: %s", out_dir / DONE_FILE)
        return 0
    print(format_table(result.rows))
    if result.deployment is not None:
        print(
            "\noptimal deployment: "
            + "; ".join(f"{s}: {', '.join(m) or '-'}" for s, m in result.deployment.items())
        )
    opt = next((r for r in result.rows if r["scheduler"] == "optimal"), None)
    if opt is not None:
        print(optimum_status_line(opt, result.summary))
        print(optimum_warning(opt, app), end="")
    print(f"\nresults: {out_dir / DONE_FILE}")
    return 0


def tune(cfg: DictConfig) -> float:
    """Body of a tuning trial (``tuning.seeds`` set, ``experiment=tune``): score the
    configured schedulers on the tuning seeds and loads, write ``trial.json`` (the swept
    values, the score, every run) and ``metrics.json`` (the runs), return the score to the
    sweeper. A user mistake or a failure writes ``error.txt`` and scores NaN (Optuna marks
    the trial failed; the sweep's summary lists it)."""
    exit_with_parent()
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    pairs = (o.split("=", 1) for o in hc.overrides.task if "=" in o)
    params = {k: v for k, v in pairs if k.lstrip("+~").startswith("scheduler.")}
    try:
        trial = score_trial(to_app_config(cfg))
    except Exception as exc:
        message = f"perllm-opt: error: {exc}" if isinstance(exc, InputError) else None
        text = message or traceback.format_exc()
        print(
            message or f"perllm-opt: trial failed: {text.strip().splitlines()[-1]}", file=sys.stderr
        )
        write_atomic(out_dir / ERROR_FILE, text + "\n")
        return float("nan")
    record = {
        "trial": hc.job.num,
        "params": params,
        "on_time": trial.on_time,
        "energy_j": trial.energy_j,
        "score": trial.score,
        "runs": list(trial.runs),
    }
    write_atomic(out_dir / "resolved_config.yaml", OmegaConf.to_yaml(cfg))
    write_atomic(out_dir / TRIAL_FILE, json.dumps(record, indent=2) + "\n")
    write_atomic(out_dir / DONE_FILE, json.dumps(list(trial.runs), indent=2) + "\n")
    log.info(
        "trial %s: %d on time, %.0f J, score %.4f",
        hc.job.num,
        trial.on_time,
        trial.energy_j,
        trial.score,
    )
    return trial.score


#: Environment variable: parallel runs of a local sweep (``conf/hydra/launcher/local.yaml``).
JOBS_ENV = "PERLLM_JOBS"


def check_jobs_env(value: str | None) -> None:
    """``PERLLM_JOBS``, when set, is a non-zero integer (joblib's ``n_jobs``: -1 one run per
    core)."""
    if value is None:
        return
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs == 0:
        raise InputError(JOBS_ENV, value, "a non-zero integer: parallel runs (-1: one per core)")


def check_group_overrides(args: list[str], conf: Path) -> None:
    """Reject a config-group override whose value is a mapping (``services=[{name: a}]``):
    Hydra takes ``services=...`` as the choice of ``conf/services/<name>.yaml`` and fails on a
    mapping with a traceback. Other forms are Hydra's to parse and report."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    groups = {p.name for p in conf.iterdir() if p.is_dir()}
    parser = OverridesParser.create()
    for text in args:
        if text.startswith("-") or "=" not in text:
            continue
        try:
            (override,) = parser.parse_overrides([text])
        except HydraException:
            continue
        group = override.key_or_group
        if group not in groups or override.is_sweep_override() or override.is_force_add():
            continue
        value = override.value()
        items = value if isinstance(value, list) else [value]
        if any(not isinstance(v, str) for v in items):
            options = sorted(p.stem for p in (conf / group).glob("*.yaml"))
            raise InputError(
                group,
                text.split("=", 1)[1],
                f"the name of a config in conf/{group}/ (one of {options}); change one "
                f"value with {group}.<key>=<value> (a list item: {group}.0.<key>=<value>), "
                f"or add a YAML file to conf/{group}/",
            )


def main() -> None:
    """Console-script entry point.

    Hydra reports a config it cannot compose (a misspelt key, a wrong type) itself, naming
    the key, and exits with 1; as that happens before the task starts, it is a user mistake:
    its report becomes one ``perllm-opt: error:`` line and the exit code 2, like every other
    user mistake (``HYDRA_FULL_ERROR=1`` keeps Hydra's full report).
    """
    os.environ[SWEEP_PID_ENV] = str(os.getpid())  # inherited by a sweep's workers
    os.environ[SWEEP_ID_ENV] = process_identity(os.getpid()) or ""
    try:
        # The schedulers of a user's directory on hydra.searchpath get schemas too.
        register_configs(searchpath_dirs(sys.argv[1:]))
        check_jobs_env(os.environ.get(JOBS_ENV))
        check_plugin_for(sys.argv[1:])
        check_group_overrides(sys.argv[1:], Path(config_dir()))
    except InputError as exc:
        print(f"perllm-opt: error: {exc}", file=sys.stderr)
        sys.exit(2)
    started: list[bool] = []

    @hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
    def _app(cfg: DictConfig) -> float | None:
        started.append(True)
        release_stderr()
        if cfg.get("tuning") and cfg.tuning.seeds:
            return tune(cfg)
        code = run(cfg)
        if code and HydraConfig.get().mode != RunMode.MULTIRUN:
            sys.exit(code)

    full = os.environ.get("HYDRA_FULL_ERROR", "0") not in ("", "0")
    held = None if full else HeldStderr(sys.stderr)
    if held is not None:
        sys.stderr = held
    try:
        _app()
    except SystemExit as exc:
        if exc.code == 1 and not started and not isinstance(exc, SweepFailed):
            if held is not None and held.held is not None:
                report = condense_hydra_error("".join(held.held))
                held.held = None
                print(f"perllm-opt: error: {report}", file=held.target)
            sys.exit(2)
        raise
    finally:
        if held is not None:
            held.release()
            if sys.stderr is held:
                sys.stderr = held.target


if __name__ == "__main__":
    main()
