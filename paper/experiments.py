"""The sweeps the figures need, run through ``perllm-opt -m +experiment=<name>``."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from perllm_opt.evaluation.collect import Collected, collect


@dataclass(frozen=True)
class Experiment:
    """A named experiment (``conf/experiment/<name>.yaml``) and its small ``--quick`` form."""

    name: str
    quick: tuple[str, ...]
    full: tuple[str, ...] = ()


#: The experiments behind the figures. Quick forms keep the code path and shrink the sizes:
#: shorter horizons, fewer seeds and sweep points. The optimum keeps a work budget
#: (``solver.checks``), not a wall-clock limit, so a quick run gives the same files on any
#: machine.
_Q = "solver.checks=20"
EXPERIMENTS = (
    Experiment("deployments", quick=("horizon_s=30", "seed=0", _Q)),
    Experiment(
        "bandwidth", quick=("horizon_s=30", "seed=0", "topology.wan_bandwidth_mbps=25,100", _Q)
    ),
    Experiment("loads", quick=("horizon_s=60", "seed=0", "workload.rate_rps=2,8", _Q)),
    Experiment("regret", quick=("horizon_s=120", "seed=0")),
    Experiment("learning", quick=("horizon_s=120", "seed=0", "workload.rate_rps=5")),
    Experiment("trace", quick=("horizon_s=60", "workload.trace_start_s=0,1200", _Q)),
    Experiment(
        "slots",
        quick=(
            "horizon_s=60",
            "seed=0",
            "workload.rate_rps=2",
            "+slot=rounds_10,rounds_30,continuous",
            _Q,
        ),
    ),
)


def sweep_dir(out: Path, quick: bool, name: str) -> Path:
    """Where an experiment's runs go (quick and full runs never mix)."""
    return out / "runs" / ("quick" if quick else "full") / name


def run_experiment(exp: Experiment, out: Path, quick: bool, jobs: int | None = None) -> Path:
    """Run (or resume) one sweep; returns its directory. The sweep's progress lines go to
    stderr as they come."""
    target = sweep_dir(out, quick, exp.name)
    args = [*exp.quick] if quick else [*exp.full]
    cmd = [
        sys.executable,
        "-m",
        "perllm_opt.cli.main",
        "-m",
        f"+experiment={exp.name}",
        "progress=false",
        *args,
        f"hydra.sweep.dir={target}",
    ]
    env = dict(os.environ)
    if jobs is not None:
        env["PERLLM_JOBS"] = str(jobs)
    print(f"[paper] {exp.name}: {' '.join(args) or '(full settings)'}", file=sys.stderr, flush=True)
    proc = subprocess.run(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    for line in proc.stderr.splitlines():
        if line.startswith(("sweep", "  failed", "perllm-opt: error")):
            print(f"[paper]   {line}", file=sys.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"experiment {exp.name} failed:\n{proc.stderr[-3000:]}")
    return target


def collect_experiment(target: Path) -> Collected:
    """The collected table of a sweep directory."""
    col = collect(target)
    if col.failed:
        print(f"[paper]   {len(col.failed)} failed runs in {target}: {col.failed}", file=sys.stderr)
    return col
