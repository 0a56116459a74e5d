"""CS-UCB's plan variants: on-time requests and simulation time per seed, as ``perllm-opt``.

For each seed, builds the instance of ``perllm-opt optimal=false seed=N <overrides>`` and
simulates each named scheduler with its own random stream, exactly as the command does
(:func:`perllm_opt.runner.run_schedulers`), printing on-time requests and the simulation's
wall time (the summary: in microseconds per request, the whole simulation with feedback,
as the paper's time claim counts it). A variant is ``name`` or ``name:key=value,...`` (a
scheduler's config with keys overridden), e.g. ``cs_ucb:plan_mode=milp``; it runs under the
name ``name``, so its random stream is that scheduler's.

    python benchmarks/bench_cs_ucb_plan.py --seeds 0 1 2 3 4 \
        --variants cs_ucb cs_ucb:plan_mode=milp bwk -- system.mode=rounds horizon_s=600 \
        workload.rate_rps=2
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from perllm_opt.cli.config_store import compose_config, to_app_config
from perllm_opt.evaluation.metrics import evaluate
from perllm_opt.instance.build import build_instance
from perllm_opt.rng import RngStreams
from perllm_opt.schedulers.factory import make_scheduler
from perllm_opt.simulation.simulator import simulate


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``name[:key=value,...]`` -> (name, overrides)."""
    name, _, rest = text.partition(":")
    over = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    return name, over


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--variants", nargs="+", default=["cs_ucb"])
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    totals: dict[str, list[int]] = {}
    times: dict[str, float] = {}
    n_requests = 0
    for seed in args.seeds:
        cfg = to_app_config(
            compose_config(["optimal=false", f"seed={seed}", "progress=false", *args.overrides])
        )
        inst = build_instance(cfg)
        n_requests += inst.n_requests
        streams = RngStreams(cfg.seed)
        for text in args.variants:
            name, over = parse_variant(text)
            spec = dict(cfg.scheduler[name])
            for k, v in over.items():
                spec[k] = type(spec[k])(v) if not isinstance(spec[k], bool) else v == "true"
            sched = make_scheduler(name, spec)
            t0 = time.perf_counter()
            res = simulate(inst, sched, streams.stream(f"scheduler/{name}"))
            wall = time.perf_counter() - t0
            served = evaluate(inst, res.assignment).metrics.served
            totals.setdefault(text, []).append(served)
            times[text] = times.get(text, 0.0) + wall
            print(
                f"seed {seed} {text:40s} on time {served:6d}  sim {wall:7.2f} s "
                f"({inst.n_requests / max(res.wall_s, 1e-9):9.0f} req/s)",
                flush=True,
            )
    print()
    for text, served in totals.items():
        print(
            f"{text:40s} on time {' / '.join(map(str, served))}  sum {sum(served)}  "
            f"mean {np.mean(served):.1f}  sim {times[text]:.1f} s "
            f"({1e6 * times[text] / max(n_requests, 1):.0f} us per request)"
        )


if __name__ == "__main__":
    main()
