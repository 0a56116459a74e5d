"""Independent subproblems of the optimum (rounds, windows) solved in order, in parallel.

:func:`solve_each` yields one :class:`~perllm_opt.milp.solve.SolveResult` per subproblem, in
the order given, whatever the backend: the caller's sums see the same numbers in the same
order, so the totals are the serial ones bit for bit (each subproblem is solved by the same
single-threaded, deterministic HiGHS call wherever it runs). ``solver.workers=1`` solves in
this process; ``solver.backend=local`` in a pool of processes on this machine;
``solver.backend=ray`` as Ray tasks, on the cluster named by ``solver.ray_address`` or
``RAY_ADDRESS``, else on a local Ray kept on loopback (as the Ray launcher's,
perllm_opt/cli/ray_local.py). At most ``2 x workers`` subproblems are in flight, so memory
stays bounded whatever their number.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.solve import SolveResult, solve_assignment


@dataclass(frozen=True, eq=False)
class Task:
    """One subproblem: its data, and an optional start (0/1 per option)."""

    data: AssignmentData
    initial_x: np.ndarray | None = None


def solve_task(task: Task, cfg: SolverConfig, lexicographic: bool) -> SolveResult:
    """Solve one subproblem (what every backend runs)."""
    return solve_assignment(task.data, cfg, lexicographic=lexicographic, initial_x=task.initial_x)


def solve_each(
    tasks: Iterable[Task], cfg: SolverConfig, lexicographic: bool
) -> Iterator[SolveResult]:
    """Solve ``tasks`` (consumed lazily) and yield their results in the same order."""
    if cfg.workers <= 1:
        for task in tasks:
            yield solve_task(task, cfg, lexicographic)
        return
    if cfg.backend == "ray":
        yield from _on_ray(tasks, cfg, lexicographic)
        return
    yield from _in_processes(tasks, cfg, lexicographic)


def _in_processes(
    tasks: Iterable[Task], cfg: SolverConfig, lexicographic: bool
) -> Iterator[SolveResult]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # Spawned, not forked: the parent may hold threads (progress bars, HiGHS's pool).
    with ProcessPoolExecutor(cfg.workers, mp_context=mp.get_context("spawn")) as pool:
        pending: deque = deque()
        for task in tasks:
            pending.append(pool.submit(solve_task, task, cfg, lexicographic))
            if len(pending) >= 2 * cfg.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _on_ray(tasks: Iterable[Task], cfg: SolverConfig, lexicographic: bool) -> Iterator[SolveResult]:
    from perllm_opt.cli.ray_local import RAY_CLUSTER_ENV

    address = cfg.ray_address or os.environ.get("RAY_ADDRESS") or None
    if address is None and "ray" not in sys.modules:
        os.environ.setdefault(RAY_CLUSTER_ENV, "0")  # a local Ray: loopback only
    import ray

    started = False
    if not ray.is_initialized():
        kwargs = {"address": address} if address else {"num_cpus": cfg.workers}
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        started = True
    remote = ray.remote(num_cpus=1)(solve_task)
    try:
        pending: deque = deque()
        for task in tasks:
            pending.append(remote.remote(task, cfg, lexicographic))
            if len(pending) >= 2 * cfg.workers:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())
    finally:
        if started:
            ray.shutdown()
