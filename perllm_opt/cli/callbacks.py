"""Hydra callbacks: progress and a closing summary for sweeps (``perllm-opt -m ...``)."""

from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from perllm_opt.cli.files import DONE_FILE, ERROR_FILE, TRIAL_FILE, TRIALS_TABLE, write_atomic


class SweepFailed(SystemExit):
    """Raised after a sweep in which some run failed: exit code 1."""


def sweep_size(config: DictConfig) -> int | None:
    """Number of runs the basic sweeper will launch (Cartesian product of the sweeps given
    on the command line and in ``hydra.sweeper.params``), or None if it cannot tell."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if config.hydra.sweeper.get("n_trials") is not None:  # the Optuna sweeper
        return int(config.hydra.sweeper.n_trials)
    by_key: dict[str, str] = {}
    params = config.hydra.sweeper.get("params") or {}
    for key, value in params.items():
        by_key[str(key).lstrip("+~")] = f"{key}={value}"
    for text in config.hydra.overrides.task:
        by_key[text.split("=", 1)[0].lstrip("+~")] = text
    try:
        parsed = OverridesParser.create().parse_overrides(list(by_key.values()))
        sizes = [len(list(o.sweep_iterator())) for o in parsed if o.is_sweep_override()]
    except Exception:  # glob sweeps and other forms the count does not need to cover
        return None
    return math.prod(sizes) if sizes else 1


#: Touched in the sweep directory when a sweep starts: its mtime (the file system's clock,
#: the one the run directories' files are stamped with) tells this sweep's runs from others.
START_FILE = ".perllm_sweep_start"
#: Written by Hydra into every run directory when its job starts (and touched by the
#: submitit launcher for a complete run it does not submit): a run of the current sweep.
JOB_STAMP = Path(".hydra") / "overrides.yaml"


def touch_start(sweep_dir: Path) -> int:
    """Mark the start of a sweep in ``sweep_dir``; the mark's mtime in nanoseconds."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    mark = sweep_dir / START_FILE
    mark.write_text("", "utf-8")
    return mark.stat().st_mtime_ns


def of_this_sweep(run_dir: Path, since_ns: int | None) -> bool:
    """Whether ``run_dir`` belongs to the sweep that started at ``since_ns`` (every run
    directory does when it is None, or when Hydra wrote no ``.hydra`` into it)."""
    if since_ns is None:
        return True
    try:
        return (run_dir / JOB_STAMP).stat().st_mtime_ns >= since_ns
    except OSError:
        return not (run_dir / JOB_STAMP.parent).exists()


def scan(sweep_dir: Path, since_ns: int | None = None) -> tuple[list[Path], list[Path]]:
    """Run directories under ``sweep_dir`` that completed, and those that failed: only the
    runs of the sweep started at ``since_ns`` (:func:`touch_start`) if given, so that an
    earlier sweep's failed run in the same directory does not count."""
    done = sorted(p.parent for p in sweep_dir.rglob(DONE_FILE) if of_this_sweep(p.parent, since_ns))
    failed = sorted(
        p.parent
        for p in sweep_dir.rglob(ERROR_FILE)
        if not (p.parent / DONE_FILE).exists() and of_this_sweep(p.parent, since_ns)
    )
    return done, failed


class SweepMonitor(Callback):
    """Shows a progress line while a sweep runs (polling its directory, which works with any
    launcher: local processes, joblib, Ray or submitit), lists failed runs at the end and then
    exits with code 1 if any run failed (after every other run finished), so that a script or
    a cluster job can tell. A launcher setting it can check (submitit's) that is wrong ends
    the sweep with exit code 2 before anything is submitted."""

    def __init__(self, interval_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0
        self._wall_start_ns = 0
        self._since_ns: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Launchers ship callbacks to their workers; the polling thread stays here.
        return {"interval_s": self.interval_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Before Hydra writes into ``hydra.run.dir``: refuse one that names a file, or that
        holds a complete run of another config unless ``overwrite=true`` (exit code 2)."""
        from omegaconf import OmegaConf, open_dict

        from perllm_opt.cli.hydra_errors import release_stderr
        from perllm_opt.cli.run_dir import check_run_dir
        from perllm_opt.errors import InputError

        release_stderr()
        task = OmegaConf.create(OmegaConf.to_container(config, resolve=False))
        with open_dict(task):
            del task["hydra"]
        try:
            check_run_dir(
                Path(str(config.hydra.run.dir)),
                OmegaConf.to_yaml(task),
                bool(config.get("overwrite", False)),
            )
        except InputError as exc:
            print(f"perllm-opt: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from perllm_opt.cli.hydra_errors import release_stderr
        from perllm_opt.cli.ray_local import keep_local_ray_on_loopback
        from perllm_opt.cli.submitit_settings import check_launcher_settings
        from perllm_opt.errors import InputError

        release_stderr()
        sweep_dir = Path(config.hydra.sweep.dir)
        try:  # before the launcher submits anything
            if sweep_dir.exists() and not sweep_dir.is_dir():
                raise InputError("hydra.sweep.dir", str(sweep_dir), "a directory (it names a file)")
            check_launcher_settings(config)
        except InputError as exc:
            print(f"perllm-opt: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        keep_local_ray_on_loopback(config)  # before the Ray launcher imports Ray
        total = sweep_size(config)
        before = len(scan(sweep_dir)[0]) if sweep_dir.exists() else 0
        self._start = time.perf_counter()
        print(
            f"sweep: {total if total is not None else '?'} runs into {sweep_dir}"
            + (
                f" ({before} complete from before: skipped where the config is unchanged)"
                if before
                else ""
            ),
            file=sys.stderr,
        )
        self._wall_start_ns = time.time_ns()
        try:
            self._since_ns = touch_start(sweep_dir)
        except OSError:  # a sweep directory this process cannot write: count every run
            self._since_ns = None
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, args=(sweep_dir, total), daemon=True)
        self._thread.start()

    def _poll(self, sweep_dir: Path, total: int | None) -> None:
        last = (-1, -1)
        while not self._stop.wait(self.interval_s):
            if not sweep_dir.exists():
                continue
            done, failed = scan(sweep_dir, self._since_ns)
            now = (len(done), len(failed))
            if now != last:
                last = now
                elapsed = time.perf_counter() - self._start
                print(
                    f"sweep: {now[0]}/{total if total is not None else '?'} complete, "
                    f"{now[1]} failed ({elapsed:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        sweep_dir = Path(config.hydra.sweep.dir)
        done, failed = scan(sweep_dir, self._since_ns) if sweep_dir.exists() else ([], [])
        elapsed = time.perf_counter() - self._start
        start_ns = self._since_ns if self._since_ns is not None else self._wall_start_ns
        kept = sum((d / DONE_FILE).stat().st_mtime_ns < start_ns for d in done)
        print(
            f"sweep finished in {elapsed:.0f} s: {len(done)} complete"
            + (f" ({kept} kept from before, not redone)" if kept else "")
            + f", {len(failed)} failed; collect with: perllm-opt-collect {sweep_dir}",
            file=sys.stderr,
        )
        for run_dir in failed:
            first = (run_dir / ERROR_FILE).read_text("utf-8").strip().splitlines()
            print(f"  failed: {run_dir}: {first[-1] if first else '?'}", file=sys.stderr)
        table = trials_table(sweep_dir) if sweep_dir.exists() else None
        if table is not None:
            path = sweep_dir / TRIALS_TABLE
            write_atomic(path, table)
            print(f"tuning: {table.count(chr(10)) - 1} trials in {path}", file=sys.stderr)
        if failed:
            print(f"sweep: {len(failed)} run(s) failed: exit code 1", file=sys.stderr)
            raise SweepFailed(1)


def trials_table(sweep_dir: Path) -> str | None:
    """CSV of a tuning study: one row per trial (number, swept values, on-time requests,
    energy, score), best score first; None when ``sweep_dir`` holds no trial."""
    import json

    import pandas as pd

    rows = []
    for path in sweep_dir.rglob(TRIAL_FILE):
        rec = json.loads(path.read_text("utf-8"))
        rows.append(
            {
                "trial": rec["trial"],
                **rec["params"],
                "on_time": rec["on_time"],
                "energy_j": rec["energy_j"],
                "score": rec["score"],
            }
        )
    if not rows:
        return None
    frame = pd.DataFrame(rows).sort_values(["score", "trial"], ascending=[False, True])
    return frame.to_csv(index=False)
