"""The online simulator (docs/model.md, "Online scheduling"), one loop for both service modes.

At each decision epoch the epoch's requests are offered to the scheduler one at a time in
arrival order. The environment applies the true option: if its server's compute share or
KV memory, or (as the service mode says, :mod:`perllm_opt.simulation.mode`) its links'
realised bandwidth, would be exceeded, the request is refused and the scheduler is told at
once; otherwise the resources are reserved. Outcomes reach the scheduler when the mode says.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from perllm_opt.instance.assignment import ADMITTED, DECLINED, REFUSED, Assignment
from perllm_opt.instance.realised import Instance
from perllm_opt.schedulers.base import Scheduler, check_choice
from perllm_opt.simulation.continuous import ContinuousMode
from perllm_opt.simulation.feedback import refusals
from perllm_opt.simulation.knowledge import oracle_info, public_info
from perllm_opt.simulation.mode import ServiceMode
from perllm_opt.simulation.rounds import RoundsMode
from perllm_opt.simulation.view import CAPACITY_RTOL


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """The assignment a scheduler produced and how long the simulation took."""

    assignment: Assignment
    wall_s: float


def simulate(
    instance: Instance,
    scheduler: Scheduler,
    rng: np.random.Generator,
    progress: bool = False,
    label: str | None = None,
) -> SimulationResult:
    """Run ``scheduler`` online over ``instance``.

    Parameters
    ----------
    instance : Instance
    scheduler : Scheduler
        Reset at the start, so one object can be run again (same seed, same result).
    rng : numpy.random.Generator
        The scheduler's own stream.
    progress : bool
        Show a progress bar over rounds.
    label : str, optional
        The progress bar's label (default: the scheduler's class name).

    Returns
    -------
    SimulationResult
        Its ``assignment`` (each request's option and status) and the wall time.
    """
    t0 = time.perf_counter()
    info = public_info(instance)
    scheduler.reset(info, rng, oracle_info(instance) if scheduler.uses_oracle else None)
    n = instance.n_requests
    option = np.full(n, -1, dtype=np.int64)
    status = np.full(n, DECLINED, dtype=np.int8)
    bar = tqdm(
        total=n,
        desc=label or type(scheduler).__name__,
        unit="req",
        disable=not progress,
        leave=False,
        mininterval=0.5,
    )
    if instance.continuous:
        mode: ServiceMode = ContinuousMode(instance, info, scheduler, option, status)
    else:
        mode = RoundsMode(instance, scheduler, option, status)
    _run(instance, scheduler, mode, option, status, bar)
    bar.close()
    return SimulationResult(
        Assignment(
            option=option,
            status=status,
            source=getattr(scheduler, "name", type(scheduler).__name__),
        ),
        time.perf_counter() - t0,
    )


def _run(
    instance: Instance,
    scheduler: Scheduler,
    mode: ServiceMode,
    option: np.ndarray,
    status: np.ndarray,
    bar,
) -> None:
    """The decision epochs of ``mode``: fill ``option`` and ``status`` in place (module
    docstring). The server checks are :func:`~perllm_opt.simulation.view.fits` written out
    on Python scalars (the hot path); the evaluator re-checks every capacity with ``fits``
    itself."""
    topo = instance.topology
    comp, kvu = mode.compute, mode.kv
    compute_used, kv_used = mode.arrays["c"], mode.arrays["k"]
    rate_used, bw_est, path_res = mode.arrays["r"], mode.arrays["b"], mode.arrays["p"]
    matrix = topo.path_link_matrix
    # Scalar access through Python lists is several times faster than numpy indexing.
    tpl_server = [t.server.tolist() for t in instance.templates]
    tpl_phi = [t.phi.tolist() for t in instance.templates]
    tpl_links = [[topo.path_links[p] for p in t.path_id.tolist()] for t in instance.templates]
    kv_budget = instance.server_kv_budget_bytes.tolist()
    ptr = instance.options.ptr
    rtol = CAPACITY_RTOL

    for t, ids in enumerate(instance.round_requests()):
        view = mode.begin_epoch(t, ids)
        if view is None:
            continue
        scheduler.begin_round(view)
        keys_l, ids_l, kv_l = view.template.tolist(), ids.tolist(), view.kv_bytes.tolist()
        for k in range(len(ids_l)):
            c = scheduler.select(view, k)
            if c < 0:
                continue
            key = keys_l[k]
            servers = tpl_server[key]
            c = check_choice(scheduler, c, len(servers))
            i = ids_l[k]
            j, phi, links = servers[c], tpl_phi[key][c], tpl_links[key][c]
            kvi = kv_l[k]
            ok = (
                comp[j] + phi <= 1.0 + 2 * rtol and kvu[j] + kvi <= kv_budget[j] * (1 + rtol) + rtol
            )
            if not (ok and mode.links_fit(i, key, c, links)):
                status[i] = REFUSED
                scheduler.update(refusals(instance, np.asarray([i]), np.asarray([c])))
                continue
            comp[j] += phi
            kvu[j] += kvi
            compute_used[j] = comp[j]
            kv_used[j] = kvu[j]
            mode.hold(i, key, c, j, phi, kvi, links)
            if links:
                np.min((bw_est - rate_used)[matrix], axis=1, out=path_res)
            option[i] = ptr[i] + c
            status[i] = ADMITTED
        mode.end_epoch(t, ids)
        bar.update(len(ids))
