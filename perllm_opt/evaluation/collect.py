"""Gather the runs of a sweep into one tidy table, and summarise it over seeds.

Pure functions over the files the main command wrote; ``perllm_opt.cli.collect`` writes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from perllm_opt.evaluation.timings import TIMINGS_FILE, split_rows

#: Two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30 (beyond: normal, 1.96).
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t975(df: int) -> float:
    """Student-t 97.5% quantile (NaN for df < 1)."""
    if df < 1:
        return math.nan
    return _T975[df - 1] if df <= len(_T975) else 1.96


@dataclass(frozen=True, eq=False)
class Collected:
    """A sweep's tidy table (one row per run and scheduler), its summary, and failures:
    ``failed`` runs (``error.txt``, no results) and ``unreadable`` ones (a ``metrics.json``
    that is not a list of result rows: ``(run, reason)``), both left out of the table."""

    table: pd.DataFrame
    summary: pd.DataFrame
    swept: list[str]
    failed: list[str]
    runs: int
    unreadable: tuple[tuple[str, str], ...] = ()
    #: Runs left out as copies of an earlier one (same resolved config and input files):
    #: ``(run, the run kept)``.
    duplicates: tuple[tuple[str, str], ...] = ()
    #: Wall-clock seconds per run and scheduler (``timings.json``; or the timing keys of a
    #: ``metrics.json`` written before they moved out), kept out of ``table``.
    timings: pd.DataFrame = field(default_factory=pd.DataFrame)


def _timing_rows(run_dir: Path, legacy: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's timing rows: ``timings.json`` if readable, else ``legacy`` (the timing keys
    split out of an older ``metrics.json``)."""
    path = run_dir / TIMINGS_FILE
    if path.is_file():
        try:
            data = json.loads(path.read_text("utf-8"))
            timed = data.get("rows", []) if isinstance(data, dict) else []
            return [r for r in timed if isinstance(r, dict)]
        except (ValueError, OSError):
            return []
    return legacy


def _rows(path: Path) -> list[dict[str, Any]]:
    """The result rows of one ``metrics.json``; ValueError (with the reason) when it is not
    valid UTF-8 JSON holding a list of rows, each with a ``scheduler``."""
    try:
        rows = json.loads(path.read_text("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg}, line {exc.lineno})") from None
    check_rows(rows)
    return rows


#: Result fields that hold whole numbers (counts of requests), and those that hold real
#: numbers (null for NaN), in every row that has them (``perllm_opt.evaluation.metrics.Metrics``).
INT_FIELDS = (
    "requests",
    "served",
    "late",
    "cut_off",
    "refused",
    "declined",
    "refused_capacity",
    "dropped",
)
FLOAT_FIELDS = (
    "served_fraction",
    "throughput_rps",
    "energy_j",
    "energy_tran_j",
    "energy_infer_j",
    "energy_idle_j",
    "weighted_energy_j",
    "energy_per_served_j",
    "objective",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
)


def check_rows(rows: Any) -> None:
    """Raise ValueError (with the first reason) unless ``rows`` is a non-empty list of result
    rows: each a mapping with a ``scheduler`` name, whole-number counts (:data:`INT_FIELDS`),
    numbers or null for the real-valued metrics (:data:`FLOAT_FIELDS`) and every other value a
    number, a string, a boolean or null (no lists or mappings)."""
    if not isinstance(rows, list) or not rows:
        raise ValueError("not a non-empty list of result rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("scheduler"), str):
            raise ValueError("not a list of result rows with a 'scheduler' each")
        for key, value in row.items():
            if key in INT_FIELDS:
                ok = isinstance(value, int) and not isinstance(value, bool)
                expected = "a whole number"
            elif key in FLOAT_FIELDS:
                ok = value is None or (
                    isinstance(value, int | float) and not isinstance(value, bool)
                )
                expected = "a number or null"
            else:
                ok = value is None or isinstance(value, int | float | str | bool)
                expected = "a number, a string, a boolean or null"
            if not ok:
                raise ValueError(
                    f"row {i} ({row['scheduler']}) {key}: got {value!r}, expected {expected}"
                )


#: Config keys that change how a run looks, never its results: a resumed sweep does not redo
#: a run for them, and two runs differing only in them are duplicates.
NON_RESULT_KEYS = ("progress", "memory_budget_gb", "overwrite", "plot")


def run_identity(run_dir: Path) -> str | None:
    """What makes the results of the run in ``run_dir``: its resolved config without
    :data:`NON_RESULT_KEYS` and the digests of its input files (``inputs.json``), as one
    canonical JSON string; None when it has no readable resolved config."""
    try:
        cfg = yaml.safe_load((run_dir / "resolved_config.yaml").read_text("utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if not isinstance(cfg, dict):
        return None
    cfg = {k: v for k, v in cfg.items() if k not in NON_RESULT_KEYS}
    try:
        inputs = json.loads((run_dir / "inputs.json").read_text("utf-8"))
    except (OSError, ValueError):
        inputs = None
    return json.dumps([cfg, inputs], sort_keys=True, default=str)


def _overrides(run_dir: Path) -> dict[str, Any]:
    """The run's overridden config values (``.hydra/overrides.yaml``), typed by YAML."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    out: dict[str, Any] = {}
    for text in yaml.safe_load(path.read_text("utf-8")) or []:
        key, _, value = str(text).partition("=")
        key = key.lstrip("+~")
        if key.startswith("hydra.") or key in ("progress",):
            continue
        try:
            parsed = yaml.safe_load(value) if value else None
        except yaml.YAMLError:
            parsed = value
        out[key] = (
            parsed
            if isinstance(parsed, str | int | float | bool) or parsed is None
            else json.dumps(parsed)
        )
    return out


def collect(sweep_dir: str | Path) -> Collected:
    """Read every complete run under ``sweep_dir``.

    Columns: ``run`` (path relative to the sweep), one column per overridden key (its
    value), then every metric. Rows are sorted by run and keep each run's scheduler order, so
    collecting twice gives the same table. Runs with ``error.txt`` but no ``metrics.json``
    are listed as failed; runs whose ``metrics.json`` cannot be read or holds a value of the
    wrong type are skipped and listed in ``unreadable`` with the reason (one corrupt file does
    not stop the rest). A run with the same resolved config and input files as an earlier one
    (a sweep copied twice into one directory) is left out and listed in ``duplicates``, so
    that no row counts twice in the means and intervals.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        from perllm_opt.errors import InputError

        raise InputError("SWEEP_DIR", str(root), "an existing sweep directory")
    rows: list[dict[str, Any]] = []
    keys: list[str] = []
    runs = 0
    unreadable: list[tuple[str, str]] = []
    timing: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    duplicates: list[tuple[str, str]] = []
    for metrics_path in sorted(root.rglob("metrics.json")):
        run_dir = metrics_path.parent
        rel = run_dir.relative_to(root).as_posix() or "."
        try:
            run_rows = _rows(metrics_path)
            params = _overrides(run_dir)
        except (ValueError, OSError, yaml.YAMLError) as exc:
            unreadable.append((rel, str(exc).splitlines()[0]))
            continue
        identity = run_identity(run_dir)
        if identity is not None and identity in seen:
            duplicates.append((rel, seen[identity]))
            continue
        if identity is not None:
            seen[identity] = rel
        for key in params:
            if key not in keys:
                keys.append(key)
        runs += 1
        result_rows, legacy_times = split_rows(run_rows)
        for order, row in enumerate(result_rows):
            rows.append({"run": rel, **params, "row_order": order, **row})
        for order, row in enumerate(_timing_rows(run_dir, legacy_times)):
            timing.append({"run": rel, **params, "row_order": order, **row})
    failed = sorted(
        p.parent.relative_to(root).as_posix()
        for p in root.rglob("error.txt")
        if not (p.parent / "metrics.json").exists()
    )
    keys = sorted(keys)
    table = pd.DataFrame(rows)
    if table.empty:
        return Collected(
            table, pd.DataFrame(), keys, failed, 0, tuple(unreadable), tuple(duplicates)
        )
    table = table.sort_values(["run", "row_order"], kind="stable").drop(columns="row_order")
    metric_cols = [c for c in table.columns if c not in ("run", *keys)]
    table = table[["run", *keys, *metric_cols]].reset_index(drop=True)
    times = pd.DataFrame(timing)
    if not times.empty:
        times = times.sort_values(["run", "row_order"], kind="stable").drop(columns="row_order")
        times = times.reset_index(drop=True)
    return Collected(
        table,
        summarise(table, keys),
        keys,
        failed,
        runs,
        tuple(unreadable),
        tuple(duplicates),
        times,
    )


def summarise(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean, standard deviation, count and 95% confidence half-width (Student t) of every
    numeric metric, over seeds: grouped by the other swept keys and the scheduler."""
    group = [k for k in keys if k != "seed"] + ["scheduler"]
    numeric = [
        c
        for c in table.columns
        if c not in ("run", *keys, "scheduler") and pd.api.types.is_numeric_dtype(table[c])
    ]
    out = []
    for values, sub in table.groupby(group, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        row: dict[str, Any] = dict(zip(group, values, strict=True))
        row["n"] = len(sub)
        for col in numeric:
            x = sub[col].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            mean = float(x.mean()) if len(x) else math.nan
            sd = float(x.std(ddof=1)) if len(x) > 1 else math.nan
            row[f"{col}_mean"] = mean
            row[f"{col}_std"] = sd
            row[f"{col}_ci95"] = (
                t975(len(x) - 1) * sd / math.sqrt(len(x)) if len(x) > 1 else math.nan
            )
        out.append(row)
    return pd.DataFrame(out)
