"""The LP bound of a long continuous window, by blocks against whole (docs/benchmarks.md,
"The LP bound by blocks"): both values in drops (weighted objective over the drop penalty),
their difference, HiGHS's seconds for each and the ratio, measured in one run.

Run: ``python benchmarks/bench_block_lp.py [overrides]`` (default: the scale experiment's
GEANT system at 10 requests/s for 10 minutes, ``+experiment=scale horizon_s=600``). The
whole LP stops at ``solver.time_limit_s`` (NaN then): on the hour it is not proven in 600 s.
"""

from __future__ import annotations

import sys
import time

from perllm_opt import build_instance, load_config
from perllm_opt.milp.block_lp import block_lp_bound
from perllm_opt.milp.continuous import window_problem, window_requests
from perllm_opt.milp.highs_direct import lp_solution
from perllm_opt.milp.perllm import reduce_problem
from perllm_opt.milp.rolling import block_index

DEFAULT = ["+experiment=scale", "horizon_s=600", "progress=false"]


def main(overrides: list[str]) -> None:
    cfg = load_config(DEFAULT + overrides)
    inst = build_instance(cfg)
    requests = max(window_requests(inst), key=len)
    t0 = time.perf_counter()
    prob = reduce_problem(window_problem(inst, requests, reduce=False))
    data = prob.data
    print(
        f"window: {len(requests):,} requests, {data.n_options:,} options, "
        f"{data.n_resources:,} rows (built in {time.perf_counter() - t0:.1f} s)"
    )
    item_block = block_index(inst, prob.request, cfg.solver.lp_block_s)
    drop = inst.drop_penalty_j
    t0 = time.perf_counter()
    by_blocks, _, _ = block_lp_bound(data, item_block, cfg.solver)
    blocks_s = time.perf_counter() - t0
    n_blocks = int(item_block.max()) + 1
    print(f"by {n_blocks} blocks of {cfg.solver.lp_block_s:g} s: {by_blocks / drop:.3f} "
          f"({blocks_s:.1f} s)")  # fmt: skip
    t0 = time.perf_counter()
    whole, _, _ = lp_solution(data, cfg.solver)
    whole_s = time.perf_counter() - t0
    print(f"whole: {whole / drop:.3f} ({whole_s:.1f} s)")
    print(
        f"whole - blocks: {(whole - by_blocks) / drop:.4f} drops; "
        f"time blocks / whole: {blocks_s / whole_s:.2f}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
