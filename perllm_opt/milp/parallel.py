"""Independent subproblems of the optimum (rounds, windows) solved in order, in parallel.

:func:`solve_each` yields one :class:`~perllm_opt.milp.result.SolveResult` per subproblem, in
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
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.highs_direct import solve_assignment_direct
from perllm_opt.milp.result import SolveResult
from perllm_opt.milp.solve import solve_assignment

#: The variable Ray reads at import to choose between single-node (loopback) and cluster mode.
RAY_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@dataclass(frozen=True, eq=False)
class Task:
    """One subproblem: its data, and an optional start (0/1 per option). With
    ``direct_checks``, its weighted objective is solved through ``highspy`` directly
    (:func:`~perllm_opt.milp.highs_direct.solve_assignment_direct`) within that many HiGHS
    interrupt checks, from the start if one is given (with HiGHS's presolve off:
    docs/model.md, "Warm starts"), with at most ``max_drops`` items dropped if given."""

    data: AssignmentData
    initial_x: np.ndarray | None = None
    direct_checks: int | None = None
    max_drops: float | None = None


def solve_task(task: Task, cfg: SolverConfig, lexicographic: bool) -> SolveResult:
    """Solve one subproblem (what every backend runs)."""
    if task.direct_checks is not None:
        started = task.initial_x is not None
        return solve_assignment_direct(
            task.data, cfg, max_checks=task.direct_checks, initial_x=task.initial_x,
            presolve=not started, max_drops=task.max_drops,
        )  # fmt: skip
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


def _in_order(handles: Iterator[Any], result: Callable[[Any], SolveResult], limit: int):
    """Results of the submitted ``handles`` in submission order, with at most ``limit``
    submitted and not yet returned (``handles`` is a lazy generator: taking the next one
    submits it)."""
    pending: deque = deque()
    for handle in handles:
        pending.append(handle)
        if len(pending) >= limit:
            yield result(pending.popleft())
    while pending:
        yield result(pending.popleft())


def _in_processes(
    tasks: Iterable[Task], cfg: SolverConfig, lexicographic: bool
) -> Iterator[SolveResult]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # Spawned, not forked: the parent may hold threads (progress bars, HiGHS's pool).
    with ProcessPoolExecutor(cfg.workers, mp_context=mp.get_context("spawn")) as pool:
        handles = (pool.submit(solve_task, task, cfg, lexicographic) for task in tasks)
        yield from _in_order(handles, lambda future: future.result(), 2 * cfg.workers)


def single_node_mode(environ: MutableMapping[str, str]) -> bool:
    """Ask a Ray not yet imported for its single-node mode (every server on loopback),
    unless the user set the variable; returns True if it set it."""
    if RAY_CLUSTER_ENV in environ:
        return False
    environ[RAY_CLUSTER_ENV] = "0"
    return True


def _on_ray(tasks: Iterable[Task], cfg: SolverConfig, lexicographic: bool) -> Iterator[SolveResult]:
    address = cfg.ray_address or os.environ.get("RAY_ADDRESS") or None
    if address is None and "ray" not in sys.modules:
        single_node_mode(os.environ)  # a local Ray: loopback only
    import ray

    started = False
    if not ray.is_initialized():
        kwargs = {"address": address} if address else {"num_cpus": cfg.workers}
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        started = True
    remote = ray.remote(num_cpus=1)(solve_task)
    try:
        handles = (remote.remote(task, cfg, lexicographic) for task in tasks)
        yield from _in_order(handles, ray.get, 2 * cfg.workers)
    finally:
        if started:
            ray.shutdown()
