"""An 8-run sweep on 2 joblib workers against the same sweep run serially, in one run.

Each run is the default experiment (paper preset, 600 s at 2 requests/s) with three
schedulers and the MILP optimum, seeds 0-7; both sweeps start from empty directories and
include process start-up. Prints both wall times and their ratio (target <= 0.65 on 2 cores).

    python benchmarks/bench_sweep.py [--runs 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARGS = ["schedulers=[cs_ucb,greedy_energy,oracle_greedy]", "progress=false"]


def timed_sweep(sweep_dir: Path, runs: int, launcher: str, workers: int) -> float:
    seeds = ",".join(str(s) for s in range(runs))
    cmd = [
        sys.executable,
        "-m",
        "perllm_opt.cli.main",
        "-m",
        *ARGS,
        f"seed={seeds}",
        f"hydra/launcher={launcher}",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PERLLM_JOBS": str(workers)}
    )
    elapsed = time.perf_counter() - t0
    done = len(list(sweep_dir.rglob("metrics.json")))
    if proc.returncode != 0 or done != runs:
        raise SystemExit(f"sweep failed ({done}/{runs} runs):\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        serial = timed_sweep(Path(tmp, "serial"), args.runs, "basic", 1)
        parallel = timed_sweep(Path(tmp, "joblib"), args.runs, "local", args.workers)
    print(
        f"{args.runs}-run sweep: serial {serial:.1f} s, joblib with {args.workers} workers "
        f"{parallel:.1f} s"
    )
    print(f"ratio parallel / serial = {parallel / serial:.2f} (target <= 0.65)")


if __name__ == "__main__":
    main()
