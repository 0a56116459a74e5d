"""The offline optimum of an instance: solve the MILP (per round, per window, or jointly in
placement mode) and map the solution back to an
:class:`~perllm_opt.instance.assignment.Assignment`."""

from __future__ import annotations

import math

import numpy as np
from tqdm.auto import tqdm

from perllm_opt.config import SolverConfig
from perllm_opt.instance.assignment import Assignment
from perllm_opt.instance.realised import Instance
from perllm_opt.milp.continuous_optimum import solve_continuous
from perllm_opt.milp.perllm import always_on_idle_j, joint_problem, round_problem
from perllm_opt.milp.placement_search import solve_placement_continuous
from perllm_opt.milp.subproblems import (
    OptimumResult,
    Totals,
    build_problems,
    is_lexicographic,
    solved_in_order,
)


def on_time_start(instance: Instance, assignment: Assignment) -> np.ndarray:
    """A schedule's on-time choices as a start for :func:`solve_optimum`: the option of each
    request whose chosen option is on time, -1 for every other request."""
    option = assignment.option
    on_time = option >= 0
    on_time[on_time] = instance.options.on_time[option[on_time]]
    return np.where(on_time, option, -1)


def solve_optimum(
    instance: Instance,
    cfg: SolverConfig,
    progress: bool = False,
    start: np.ndarray | None = None,
) -> OptimumResult:
    """Solve the offline optimum of ``instance``.

    Fixed deployment: rounds share no capacity, so each round is solved on its own (exact).
    Placement mode (``instance.placement``): in rounds mode one MILP over all rounds with
    deployment variables; in continuous mode a search over deployments with a certified
    bound (:func:`perllm_opt.milp.placement_search.solve_placement_continuous`). ``cfg.objective``
    picks lexicographic (served, then energy) or weighted;
    ``cfg.lp_relaxation`` returns only the bound of the weighted objective's relaxation.
    Subproblems are reduced exactly (``cfg.reduce``) and solved by ``cfg.workers`` processes
    (:mod:`perllm_opt.milp.parallel`; the same result as one). ``start`` (global option per
    request, -1 for none: e.g. the best scheduler's on-time choices) is a floor: a
    subproblem whose search ends worse (or with nothing) returns the start's choices, so the
    optimum is never worse than it; with ``cfg.warm_start`` HiGHS also starts from it.

    Parameters
    ----------
    instance : Instance
    cfg : SolverConfig
        ``config.solver`` of a loaded config.
    progress : bool
        A progress bar over subproblems.
    start : ndarray of int, optional
        Global option per request (-1: none), the floor described above.

    Returns
    -------
    OptimumResult
        Its ``assignment`` (when a solution exists) is scored by
        :func:`perllm_opt.evaluation.metrics.evaluate` like any scheduler's.

    Raises
    ------
    SolverUnavailableError
        When the solver (HiGHS) cannot be loaded.
    """
    lexicographic = is_lexicographic(cfg)
    if instance.continuous and instance.placement:
        return solve_placement_continuous(instance, cfg, lexicographic, progress, start)
    if instance.continuous:
        return solve_continuous(instance, cfg, lexicographic, progress, start)
    return _solve_rounds(instance, cfg, lexicographic, progress, start)


def _solve_rounds(
    instance: Instance,
    cfg: SolverConfig,
    lexicographic: bool,
    progress: bool,
    start: np.ndarray | None,
) -> OptimumResult:
    """Rounds mode: one MILP per round with requests (or, placement mode, one joint MILP
    over all rounds with deployment variables)."""
    n_r = instance.n_rounds
    totals = Totals(
        np.full(instance.n_requests, -1, dtype=np.int64), instance.drop_penalty_j, lexicographic
    )
    per_round = np.full(n_r, always_on_idle_j(instance) + 0.0)
    hosts = None
    if instance.placement:
        rounds: list[int | None] = [None]
        probs = build_problems(
            cfg, lambda _: joint_problem(instance, optimize_deployment=True),
            [None], totals,
        )  # fmt: skip
    else:
        ids = [(t, r) for t, r in enumerate(instance.round_requests()) if len(r)]
        rounds = [t for t, _ in ids]
        probs = build_problems(
            cfg, lambda r: round_problem(instance, r), [r for _, r in ids], totals
        )
    bar = tqdm(
        zip(rounds, solved_in_order(probs, cfg, lexicographic, start), strict=True),
        total=len(rounds), desc="optimum", unit="round", disable=not progress, leave=False,
    )  # fmt: skip
    for t, (prob, res) in bar:
        obj = totals.add(prob, res)
        if obj is None:
            continue
        if t is not None:
            per_round[t] = obj
        else:
            dep = instance.deployment
            hosts = np.zeros_like(dep.hosts)
            on = res.gate[prob.deploy_gate_start :] > 0.5
            pairs = prob.deploy_pairs[on]
            hosts[pairs[:, 0], pairs[:, 1]] = True
    # Rounds without requests cost the always-on idle energy; add them once.
    empty = n_r - (len(rounds) if not instance.placement else n_r)
    totals.objective += empty * always_on_idle_j(instance)
    totals.bound += empty * always_on_idle_j(instance)
    if instance.placement and not math.isnan(totals.objective):
        per_round = np.full(n_r, math.nan)  # not separable by round
    return totals.result(per_round, hosts)
