"""Fix-and-optimize over time windows: good continuous-mode plans at any horizon.

A continuous-mode window (:func:`perllm_opt.instance.windows.continuous_windows`) can hold
an hour of requests in one MILP that HiGHS cannot search within any sensible budget. This
search improves a feasible plan one stretch of time at a time (fix-and-optimize, Helber and
Sahling 2010; Pochet and Wolsey 2006, sec. 4.2): the requests dispatched in
``solver.search_window_s`` seconds are re-chosen by an exact sub-MILP (most on time, then
least weighted energy) with every other request's choice fixed, and the sub-MILP's answer is
kept only if it is better, so the plan never gets worse than the one it started from.
Successive passes shift the stretches by half their length, so that moves across a boundary
are tried too.

Within a pass, stretches are taken in two colours (even, then odd): stretches of one colour
whose options' time spans (sleep blocks included) are disjoint share no row and no fixed
request, so they are solved at once (``solver.workers``) and the plan is the serial one.
Every sub-MILP stops at ``solver.search_checks`` HiGHS interrupt checks: a budget at the
same point on every machine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from perllm_opt.config import SolverConfig
from perllm_opt.instance.realised import Instance
from perllm_opt.milp.data import drops_only
from perllm_opt.milp.parallel import Task, solve_each
from perllm_opt.milp.perllm import RoundProblem, on_time_options, reduce_problem
from perllm_opt.milp.result import SolveResult
from perllm_opt.milp.rolling import free_problem, span_end
from perllm_opt.milp.solve import start_outcome


@dataclass(frozen=True, eq=False)
class SearchResult:
    """A plan improved by :func:`improve_by_windows`.

    Attributes
    ----------
    option : ndarray of int
        Global option per request of the instance (-1: none), the window's requests only.
    pass_drops : tuple of int
        The window's unserved requests at the start and after each pass.
    n_subproblems, n_improved, n_proven : int
        Sub-MILPs solved, those whose answer replaced the plan, those proven optimal.
    build_s, solve_s : float
    """

    option: np.ndarray
    pass_drops: tuple[int, ...]
    n_subproblems: int
    n_improved: int
    n_proven: int
    build_s: float
    solve_s: float


def stretches(instance: Instance, requests: np.ndarray, length_s: float, offset_s: float):
    """``requests`` split by dispatch time into stretches of ``length_s`` seconds, the first
    cut ``offset_s`` after the first dispatch; in time order, empty ones left out."""
    requests = np.asarray(requests, dtype=np.int64)
    if len(requests) == 0:
        return []
    d = instance.request_dispatch_s[requests]
    k = np.floor((d - d.min() + (length_s - offset_s) % length_s) / length_s).astype(np.int64)
    order = np.argsort(k, kind="stable")
    cuts = np.flatnonzero(np.diff(k[order])) + 1
    return np.split(requests[order], cuts)


def independent_batches(instance: Instance, groups: list[np.ndarray]) -> list[list[int]]:
    """``groups`` (in time order) cut into runs whose on-time options' time spans are
    pairwise disjoint: a run's sub-MILPs share no row and no fixed request."""
    batches: list[list[int]] = []
    end = -math.inf  # the latest end of the current run's spans
    for g, requests in enumerate(groups):
        opts = on_time_options(instance, requests)
        if len(opts) == 0:
            continue
        lo, hi = span_end(instance, opts)
        if batches and lo.min() >= end:
            batches[-1].append(g)
            end = max(end, float(hi.max()))
        else:
            batches.append([g])
            end = float(hi.max())
    return batches


def _task(sub: RoundProblem, x0: np.ndarray, cfg: SolverConfig, polish: bool) -> Task:
    """A stretch's sub-MILP: the fewest unserved requests (every cost but the drops' set to
    0: HiGHS closes that count far faster than the weighted objective), or, to ``polish``,
    the least weighted energy with no more requests unserved than in ``x0``."""
    warm = x0 if cfg.search_warm else None
    data = sub.data
    if polish:
        most = float(data.n_items - x0.sum())
        return Task(data, warm, cfg.search_checks, max_drops=most)
    return Task(drops_only(data), warm, cfg.search_checks)


def _plan_key(data, x: np.ndarray) -> tuple[float, float] | None:
    out = start_outcome(data, x, lexicographic=False)
    return None if out is None else (round(out[0]), out[1])


def improve_by_windows(
    instance: Instance,
    requests: np.ndarray,
    cfg: SolverConfig,
    start: np.ndarray,
    progress: bool = False,
    enough: Callable[[np.ndarray], bool] | None = None,
) -> SearchResult:
    """Improve the plan ``start`` of the window ``requests`` by fix-and-optimize.

    Parameters
    ----------
    instance : Instance
    requests : ndarray of int
        The requests of one independent window (continuous mode).
    cfg : SolverConfig
        ``search_window_s``, ``search_passes`` and ``search_checks`` set the search;
        ``workers`` and ``backend`` where the sub-MILPs run.
    start : ndarray of int
        Global option per request (-1: none), feasible on the window's rows; only the
        window's requests are read.
    progress : bool
        A progress bar over the stretches.
    enough : callable, optional
        Called with the plan (global option per request) before each pass that lowers the
        unserved count: True ends those passes (the polishing passes still run).

    Returns
    -------
    SearchResult
        A plan at least as good as ``start`` (fewer unserved requests, or as many and no more
        weighted energy), feasible on the same rows.
    """
    requests = np.asarray(requests, dtype=np.int64)
    n = instance.n_requests
    chosen = np.full(n, -1, dtype=np.int64)
    chosen[requests] = start[requests]
    lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
    has = requests[chosen[requests] >= 0]
    lo[has], hi[has] = span_end(instance, chosen[has])
    length = float(cfg.search_window_s)
    drops = [int((chosen[requests] < 0).sum())]
    tally = _Tally()
    plans = [
        (stretches(instance, requests, length, (p % 2) * length / 2), p >= cfg.search_passes)
        for p in range(cfg.search_passes + cfg.search_polish_passes)
    ]
    bar = tqdm(
        total=sum(len(g) for g, _ in plans), desc="optimum: window search", unit="stretch",
        disable=not progress, leave=False,
    )  # fmt: skip
    for groups, polish in plans:
        if not polish and enough is not None and enough(chosen):
            continue
        for colour in (0, 1):
            mine = [g for k, g in enumerate(groups) if k % 2 == colour]
            for batch in independent_batches(instance, mine):
                stretch = [mine[g] for g in batch]
                solved = _solve_batch(instance, stretch, chosen, (lo, hi), cfg, polish, tally)
                for sub, x0, res in solved:
                    tally.n_sub += 1
                    tally.n_proven += res.status == "optimal"
                    bar.update()
                    if _improves(sub, x0, res):
                        tally.n_improved += 1
                        _adopt(instance, sub, res, chosen, (lo, hi))
        drops.append(int((chosen[requests] < 0).sum()))
        bar.set_postfix(unserved=drops[-1])
    bar.close()
    return SearchResult(
        option=chosen, pass_drops=tuple(drops), n_subproblems=tally.n_sub,
        n_improved=tally.n_improved, n_proven=tally.n_proven, build_s=tally.build_s,
        solve_s=tally.solve_s,
    )  # fmt: skip


@dataclass
class _Tally:
    """Counts and seconds of one search (mutable, local to :func:`improve_by_windows`)."""

    n_sub: int = 0
    n_improved: int = 0
    n_proven: int = 0
    build_s: float = 0.0
    solve_s: float = 0.0


def _solve_batch(
    instance: Instance,
    stretch: list[np.ndarray],
    chosen: np.ndarray,
    spans: tuple[np.ndarray, np.ndarray],
    cfg: SolverConfig,
    polish: bool,
    tally: _Tally,
) -> list[tuple[RoundProblem, np.ndarray, SolveResult]]:
    """Build the sub-MILP of each stretch of a batch (independent of each other) around the
    plan ``chosen`` and solve them: each with its start and result."""
    t0 = time.perf_counter()
    subs: list[RoundProblem] = []
    starts: list[np.ndarray] = []
    for requests in stretch:
        sub = free_problem(instance, requests, chosen, spans)
        if sub is None:
            continue
        if cfg.reduce:
            sub = reduce_problem(sub)
        subs.append(sub)
        starts.append(sub.start_x(chosen))
    tally.build_s += time.perf_counter() - t0
    t1 = time.perf_counter()
    tasks = (_task(s, x0, cfg, polish) for s, x0 in zip(subs, starts, strict=True))
    results = list(solve_each(tasks, cfg, lexicographic=False))
    tally.solve_s += time.perf_counter() - t1
    return list(zip(subs, starts, results, strict=True))


def _improves(sub: RoundProblem, x0: np.ndarray, res: SolveResult) -> bool:
    """Whether the sub-MILP's solution beats its start (fewer drops, or as many and less
    weighted energy)."""
    if not res.has_solution:
        return False
    new, old = _plan_key(sub.data, res.x), _plan_key(sub.data, x0)
    return new is not None and (old is None or not new >= old)


def _adopt(
    instance: Instance,
    sub: RoundProblem,
    res: SolveResult,
    chosen: np.ndarray,
    spans: tuple[np.ndarray, np.ndarray],
) -> None:
    """Put the sub-MILP's choices into the plan ``chosen`` and update their spans."""
    lo, hi = spans
    pick = sub.options_of(res.x, instance.n_requests)
    free = np.concatenate([sub.request, sub.fixed_request])
    chosen[free] = pick[free]
    lo[free], hi[free] = np.inf, -np.inf
    got = free[chosen[free] >= 0]
    lo[got], hi[got] = span_end(instance, chosen[got])
