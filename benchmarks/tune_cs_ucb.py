"""Tune CS-UCB's learning hyperparameters on tuning seeds 100-104 only (grid search).

Every configuration of the grid runs on the same instances: four settings (the default
continuous setting; ``dynamics=misprofiled``; ``dynamics=drift``; the stationary regret
setting, ``dynamics=iid`` in rounds mode at 2 requests/s) x seeds 100-104, each
``--horizon-s`` long. A configuration's score is its on-time requests summed over the 20
runs (ties: least energy); the per-setting sums are printed too, and the last-quarter sums
that the learning targets are about. The experiments report seeds 0-4, never these.

    python benchmarks/tune_cs_ucb.py --horizon-s 600 --jobs 2 > benchmarks/data/tune_cs_ucb.log

The other hyperparameters keep the values of conf/scheduler/cs_ucb.yaml.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from joblib import Parallel, delayed

from perllm_opt.cli.config_store import compose_config, to_app_config
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.instance.bins import series_bins
from perllm_opt.instance.build import build_instance
from perllm_opt.schedulers.factory import make_scheduler
from perllm_opt.simulation.simulator import simulate

SETTINGS = {
    "default": [],
    "misprofiled": ["dynamics=misprofiled"],
    "drift": ["dynamics=drift"],
    "iid_rounds": ["dynamics=iid", "system.mode=rounds", "workload.rate_rps=2"],
}
SEEDS = (100, 101, 102, 103, 104)
#: Round 1 (log: benchmarks/data/tune_cs_ucb_round1.log) chose pool on and memory 600 s
#: among exploration x pool x memory_s, with the greedy plan and the former bandwidth rule.
#: Round 2 (this grid) tunes the combinatorial oracle and the bandwidth margin of the AR(1)
#: bandwidth estimate added after round 1, with exploration.
GRID_ROUND1 = {
    "exploration": [0.0, 0.05, 0.2],
    "pool": [True, False],
    "memory_s": [float("inf"), 600.0],
}
GRID = {
    "plan_mode": ["greedy", "milp"],
    "bandwidth_margin": [0.0, 0.5, 1.0],
    "exploration": [0.05, 0.2],
}


def run_setting(setting: str, seed: int, horizon_s: float, configs: list[dict]) -> list[tuple]:
    """Every configuration on one instance: (setting, seed, config index, on time, on time in
    the last quarter, energy J)."""
    cfg = to_app_config(
        compose_config([*SETTINGS[setting], f"seed={seed}", f"horizon_s={horizon_s}"])
    )
    inst = build_instance(cfg)
    base = dict(cfg.scheduler["cs_ucb"])
    _, nb, _ = series_bins(inst)
    out = []
    for k, params in enumerate(configs):
        sched = make_scheduler("cs_ucb", {**base, **params})
        res = simulate(inst, sched, np.random.default_rng(seed))
        ev = evaluate(inst, res.assignment)
        last = int(ev.served_per_round[int(nb * 0.75) :].sum())
        out.append((setting, seed, k, ev.metrics.served, last, ev.metrics.energy_j))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--horizon-s", type=float, default=1200.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--round",
        type=int,
        choices=[1, 2],
        default=2,
        help="1: the first grid (run before the AR(1) bandwidth estimate and plan_mode existed)",
    )
    args = ap.parse_args()
    grid = GRID if args.round == 2 else GRID_ROUND1
    keys = list(grid)
    configs = [dict(zip(keys, v, strict=True)) for v in itertools.product(*grid.values())]
    t0 = time.perf_counter()
    print(f"# tune_cs_ucb: {len(configs)} configurations x {len(SETTINGS)} settings x seeds")
    print(f"# {list(SEEDS)}, horizon {args.horizon_s:g} s; grid {grid}")
    results = Parallel(n_jobs=args.jobs)(
        delayed(run_setting)(s, seed, args.horizon_s, configs) for s in SETTINGS for seed in SEEDS
    )
    rows = [r for chunk in results for r in chunk]
    served = np.zeros((len(configs), len(SETTINGS)), dtype=int)
    last = np.zeros_like(served)
    energy = np.zeros(len(configs))
    names = list(SETTINGS)
    for setting, _, k, on_time, last_q, e in rows:
        served[k, names.index(setting)] += on_time
        last[k, names.index(setting)] += last_q
        energy[k] += e
    order = sorted(range(len(configs)), key=lambda k: (-served[k].sum(), energy[k]))
    header = (
        "rank  "
        + "  ".join(f"{n:>11}" for n in names)
        + "  total  last-q("
        + ",".join(names)
        + ")  energy_MJ  config"
    )
    print(header)
    for rank, k in enumerate(order, 1):
        cells = "  ".join(f"{v:11d}" for v in served[k])
        lq = ",".join(str(v) for v in last[k])
        print(
            f"{rank:4d}  {cells}  {served[k].sum():5d}  {lq}  {energy[k] / 1e6:9.3f}  {configs[k]}"
        )
    print(f"# best: {configs[order[0]]}")
    print(f"# {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
