"""The online simulator (docs/model.md, "Online scheduling"): rounds mode here, continuous
mode in :mod:`perllm_opt.simulation.continuous`.

At each round boundary the round's requests are offered to the scheduler one at a time in
arrival order. The environment applies the true option: if the round's compute, KV memory or
(realised) link bandwidth would be exceeded, the request is refused and the scheduler is told
at once; otherwise the resources are reserved for the round. Outcomes (time, energy, on time
or not) reach the scheduler at the end of the round in completion order: since every decision
of a round happens at its boundary, this is when each request completes as far as any later
decision can tell.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from perllm_opt.instance.assignment import ADMITTED, DECLINED, REFUSED, Assignment
from perllm_opt.instance.realised import Instance
from perllm_opt.schedulers.base import Scheduler, check_choice
from perllm_opt.simulation.continuous import simulate_continuous
from perllm_opt.simulation.knowledge import epoch_view, oracle_info, public_info, resource_arrays
from perllm_opt.simulation.view import CAPACITY_RTOL, Feedback


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """The assignment a scheduler produced and how long the simulation took."""

    assignment: Assignment
    wall_s: float


def _feedback(
    instance: Instance, ids: np.ndarray, option: np.ndarray, refused: bool, keep_order=False
) -> Feedback:
    """Outcomes of ``ids``: ``option`` holds the refused candidates, or the admitted options;
    completions sorted by service time unless ``keep_order`` (already in completion order)."""
    opts = instance.options
    req = instance.requests
    tk = req.zone[ids] * len(instance.services) + req.service[ids]
    if refused:
        n = len(ids)
        return Feedback(
            request_id=ids,
            service=req.service[ids],
            template=tk,
            candidate=option,
            server_slice=np.asarray(
                [
                    instance.templates[int(a)].server_slice[int(c)]
                    for a, c in zip(tk, option, strict=True)
                ],
                dtype=np.int64,
            ),
            refused=np.ones(n, dtype=bool),
            on_time=np.zeros(n, dtype=bool),
            latency_s=np.full(n, np.nan),
            service_s=np.full(n, np.nan),
            energy_j=np.zeros(n),
        )
    o = option
    completes = opts.completes[o]
    latency = np.where(
        completes, opts.latency_s[o], instance.request_wait_s[ids] + instance.round_s
    )
    service = latency - instance.request_wait_s[ids]
    order = np.arange(len(ids)) if keep_order else np.argsort(service, kind="stable")
    o, ids, tk = o[order], ids[order], tk[order]
    latency, service = latency[order], service[order]
    return Feedback(
        request_id=ids,
        service=req.service[ids],
        template=tk,
        candidate=opts.candidate[o],
        server_slice=opts.server_slice[o],
        refused=np.zeros(len(ids), dtype=bool),
        on_time=opts.on_time[o],
        latency_s=latency,
        service_s=service,
        energy_j=opts.energy_tran_j[o] + opts.energy_infer_j[o],
        censored=~completes[order],
    )


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
        feedback = functools.partial(_feedback, instance, keep_order=True)
        simulate_continuous(instance, scheduler, info, option, status, feedback, bar)
    else:
        _simulate_rounds(instance, scheduler, option, status, bar)
    bar.close()
    return SimulationResult(
        Assignment(
            option=option,
            status=status,
            source=getattr(scheduler, "name", type(scheduler).__name__),
        ),
        time.perf_counter() - t0,
    )


def _simulate_rounds(
    instance: Instance, scheduler: Scheduler, option: np.ndarray, status: np.ndarray, bar
) -> None:
    """Rounds mode: fill ``option`` and ``status`` in place (module docstring)."""
    topo, opts = instance.topology, instance.options
    n_s, n_l = topo.n_servers, topo.n_links
    arrays, views = resource_arrays(instance)
    compute_used, kv_used, rate_used = arrays["c"], arrays["k"], arrays["r"]
    bw_est, path_res = arrays["b"], arrays["p"]
    matrix = topo.path_link_matrix
    # Scalar access through Python lists is several times faster than numpy indexing.
    tpl_server = [t.server.tolist() for t in instance.templates]
    tpl_phi = [t.phi.tolist() for t in instance.templates]
    tpl_rate = [t.rate_mbps.tolist() for t in instance.templates]
    tpl_links = [[topo.path_links[p] for p in t.path_id.tolist()] for t in instance.templates]
    kv_budget = instance.server_kv_budget_bytes.tolist()
    ptr = opts.ptr
    # The per-request checks below are view.fits written out on Python scalars (the hot
    # path); the evaluator re-checks every round with fits itself.
    rtol = CAPACITY_RTOL

    rounds = instance.round_requests()
    for t, ids in enumerate(rounds):
        compute_used[:] = 0.0
        kv_used[:] = 0.0
        rate_used[:] = 0.0
        np.min(bw_est[matrix], axis=1, out=path_res)
        cap_bw = np.append(instance.round_bandwidth_mbps[:, t], np.inf).tolist()
        comp = [0.0] * n_s
        kvu = [0.0] * n_s
        rate = [0.0] * (n_l + 1)
        view = epoch_view(instance, t, ids, views, now_s=(t + 1) * instance.round_s)
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
            j, phi, r, links = servers[c], tpl_phi[key][c], tpl_rate[key][c], tpl_links[key][c]
            kvi = kv_l[k]
            ok = (
                comp[j] + phi <= 1.0 + 2 * rtol and kvu[j] + kvi <= kv_budget[j] * (1 + rtol) + rtol
            )
            if ok:
                for e in links:
                    if rate[e] + r > cap_bw[e] * (1 + rtol) + rtol:
                        ok = False
                        break
            if not ok:
                status[i] = REFUSED
                scheduler.update(_feedback(instance, np.asarray([i]), np.asarray([c]), True))
                continue
            comp[j] += phi
            kvu[j] += kvi
            compute_used[j] = comp[j]
            kv_used[j] = kvu[j]
            for e in links:
                rate[e] += r
                rate_used[e] = rate[e]
            if links:
                np.min((bw_est - rate_used)[matrix], axis=1, out=path_res)
            option[i] = ptr[i] + c
            status[i] = ADMITTED
        done = ids[status[ids] == ADMITTED]
        if len(done):
            scheduler.update(_feedback(instance, done, option[done], False))
        # The round's realised bandwidth is observed once it is over.
        bw_est[:-1] = instance.round_bandwidth_mbps[:, t]
        bar.update(len(ids))
