"""Building a continuous window's capacity rows: the redundancy test vectorised over every
check time of a resource (``milp/continuous.py``, ``_worst_load``) against the per-time loop
it replaced (one ``np.unique`` per check time, kept here as the reference), in one run: the
same loads, and the ratio of seconds (docs/benchmarks.md, "Building the window").

Run: ``python benchmarks/bench_window_build.py [overrides]`` (default: the scale
experiment's GEANT system at 10 requests/s for 2 minutes, the size of a search stretch with
its neighbours).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from perllm_opt import build_instance, load_config
from perllm_opt.milp import continuous
from perllm_opt.milp.continuous import window_problem, window_requests

DEFAULT = ["+experiment=scale", "horizon_s=120", "progress=false"]


def per_time_loop(sets: list[np.ndarray], item: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """The replaced test: each check time's requests' largest amounts, one time at a time."""
    out = np.full(len(sets), -np.inf)
    for k, act in enumerate(sets):
        if len(act):
            items, inv = np.unique(item[act], return_inverse=True)
            worst = np.zeros(len(items))
            np.maximum.at(worst, inv, amount[act])
            out[k] = worst.sum()
    return out


def main(overrides: list[str]) -> None:
    inst = build_instance(load_config(DEFAULT + overrides))
    requests = max(window_requests(inst), key=len)
    seen: list[tuple] = []
    vectorised = continuous._worst_load

    def recording(sets, item, amount):
        seen.append((sets, item, amount))
        return vectorised(sets, item, amount)

    continuous._worst_load = recording
    try:
        t0 = time.perf_counter()
        prob = window_problem(inst, requests, reduce=False)
        build_s = time.perf_counter() - t0
    finally:
        continuous._worst_load = vectorised
    print(f"window: {len(requests):,} requests, {prob.data.n_options:,} options, "
          f"{prob.data.n_resources:,} rows, built in {build_s:.2f} s")  # fmt: skip
    new_s = old_s = 0.0
    for sets, item, amount in seen:
        t0 = time.perf_counter()
        new = vectorised(sets, item, amount)
        new_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        old = per_time_loop(sets, item, amount)
        old_s += time.perf_counter() - t0
        np.testing.assert_allclose(new, old, rtol=1e-12)
    print(f"redundancy test over {sum(len(s[0]) for s in seen):,} check times: vectorised "
          f"{new_s:.3f} s, per-time loop {old_s:.3f} s, ratio {old_s / max(new_s, 1e-9):.1f}x "
          "(same loads)")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
