"""The size guard's memory estimate against measured peak memory, one run per size.

For each setting below, the estimate the runner checks before the schedulers and the optimum
run (:func:`perllm_opt.runner.run_size`, with the exact option count) is set against the peak
resident memory (``ru_maxrss``) of ``perllm-opt`` run on that setting in a fresh process.
The ratio measured/estimated says how close the guard is: above 1, a run can exceed the
budget it was admitted under by that factor.

    python benchmarks/bench_memory_estimate.py [--only NAME ...] [--from NAME]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from perllm_opt.cli.config_store import compose_config, to_app_config
from perllm_opt.instance.build import build_instance
from perllm_opt.runner import run_size

#: name -> overrides. Sizes from 25,000 to about 200,000 options, with and without the optimum.
SETTINGS = {
    "default, no optimum": ["optimal=false"],
    "default, optimum": ["optimal=true"],
    "8 req/s, no optimum": ["optimal=false", "workload.rate_rps=8"],
    "large 300 s at 4 req/s, no optimum": [
        "+experiment=large",
        "horizon_s=300",
        "workload.rate_rps=4",
        "optimal=false",
    ],
}
#: The other keys that multiply memory (issue 28): a 30-s run of two schedulers, each key
#: pushed until its term dominates.
SHORT = ["optimal=false", "horizon_s=30", "schedulers=[cs_ucb,random]"]
SETTINGS.update(
    {
        "30 s, 2 schedulers (reference)": SHORT,
        "system.epoch_s=1e-5 (3,000,000 epochs)": [*SHORT, "system.epoch_s=1e-5"],
        "system.bin_s=1e-4 (300,000 bins), 2 schedulers": [*SHORT, "system.bin_s=1e-4"],
        "system.bin_s=1e-4, 4 schedulers": [
            *SHORT,
            "system.bin_s=1e-4",
            "schedulers=[cs_ucb,random,round_robin,edge_only]",
        ],
        "system.sleep_block_s=3e-5 (1,000,000 blocks)": [
            *SHORT,
            "system.sleep_block_s=3e-5",
        ],
        "dynamics.interval_s=1e-5 (3,000,000 intervals)": [*SHORT, "dynamics.interval_s=1e-5"],
        "system.rate_levels_mbps: 100 levels": [
            *SHORT,
            f"system.rate_levels_mbps=[{','.join(str(r) for r in range(1, 101))}]",
        ],
        "topology.preset=large": [*SHORT, "topology.preset=large"],
    }
)


def peak_rss_bytes(overrides: list[str]) -> tuple[int, float, int]:
    """Run ``perllm-opt`` with ``overrides`` in a child process: (peak RSS in bytes, wall
    seconds, exit code)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "perllm_opt.cli.main",
            *overrides,
            "progress=false",
            "memory_budget_gb=20",
            f"hydra.run.dir={tmp}/run",
        ]
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_maxrss * 1024, time.perf_counter() - t0, child.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", default=None, help="names of SETTINGS to run")
    ap.add_argument("--from", dest="start", default=None, help="run SETTINGS from this one on")
    args = ap.parse_args()
    names = list(SETTINGS)
    first = names.index(args.start) if args.start else 0
    print("| setting | options | estimated MB | peak RSS MB | measured/estimated | wall s |")
    print("|---|---|---|---|---|---|")
    for name, overrides in list(SETTINGS.items())[first:]:
        if args.only and name not in args.only:
            continue
        cfg = to_app_config(compose_config(overrides))
        estimate = run_size(build_instance(cfg), len(cfg.schedulers), cfg.optimal)
        rss, wall_s, code = peak_rss_bytes(overrides)
        status = "" if code == 0 else f" (exit {code})"
        print(
            f"| {name}{status} | {estimate.options:,} | {estimate.bytes / 1e6:,.0f} | "
            f"{rss / 1e6:,.0f} | {rss / estimate.bytes:.2f} | {wall_s:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
