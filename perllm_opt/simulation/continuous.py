"""The continuous-mode online simulator (docs/model.md, "Time" and "Online scheduling").

Decision epochs are ``system.epoch_s`` apart. At each epoch the requests that arrived during
the previous epoch are offered to the scheduler one at a time in arrival order, with the
reservations still live at that moment. An admitted option holds its compute share and KV
memory until its realised completion and its rate on each path link only while it uploads
and while its answer streams back (:mod:`perllm_opt.instance.timeline`); nothing is cut off. The
environment refuses an option whose share or memory does not fit now, or whose rate would
exceed a link's realised bandwidth at any moment of its transmissions, given the
transmissions already admitted. Completions reach the scheduler at the first epoch at or
after them, in completion order; refusals at once.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from perllm_opt.instance.assignment import ADMITTED, REFUSED
from perllm_opt.instance.realised import Instance
from perllm_opt.schedulers.base import Scheduler, check_choice
from perllm_opt.schedulers.estimates import candidate_models
from perllm_opt.simulation.knowledge import epoch_view, resource_arrays
from perllm_opt.simulation.view import CAPACITY_RTOL, SystemInfo, read_only


def _link_fits(
    held: list[tuple[float, float, float]],
    start: float,
    end: float,
    rate: float,
    capacity: list[float],
    step_s: float,
) -> bool:
    """Whether ``rate`` more over ``[start, end)`` fits a link holding ``held`` intervals
    (start, end, rate), against its capacity per dynamics interval of ``step_s``."""
    if end <= start:
        return True
    last = len(capacity) - 1
    points = [start]
    points += [a for a, _, _ in held if start < a < end]
    k = math.floor(start / step_s + 1e-9) + 1
    while k * step_s < end and k <= last:
        points.append(k * step_s)
        k += 1
    rtol = CAPACITY_RTOL
    for p in points:
        load = rate
        for a, b, r in held:
            if a <= p < b:
                load += r
        cap = capacity[min(int(p // step_s + 1e-9), last)]
        if load > cap * (1 + rtol) + rtol:
            return False
    return True


def simulate_continuous(
    instance: Instance,
    scheduler: Scheduler,
    info: SystemInfo,
    option: np.ndarray,
    status: np.ndarray,
    feedback,
    bar,
) -> None:
    """Run ``scheduler`` (already reset) over ``instance`` in continuous mode, filling
    ``option`` and ``status`` in place. ``feedback(ids, choice, refused)`` builds a
    :class:`Feedback` (``choice``: the refused candidates, or the completed options);
    ``bar`` is a progress bar."""
    topo, opts, req = instance.topology, instance.options, instance.requests
    n_s, n_l = topo.n_servers, topo.n_links
    dyn = instance.dynamics
    step_s = dyn.interval_s
    bw_rows = [dyn.bandwidth_mbps[e].tolist() for e in range(n_l)]
    eps = instance.round_s
    dispatch = instance.request_dispatch_s

    arrays, shared = resource_arrays(instance)
    compute_used, kv_used, rate_used = arrays["c"], arrays["k"], arrays["r"]
    bw_est, path_res = arrays["b"], arrays["p"]
    matrix = topo.path_link_matrix
    tpl_server = [t.server.tolist() for t in instance.templates]
    tpl_phi = [t.phi.tolist() for t in instance.templates]
    tpl_links = [[topo.path_links[p] for p in t.path_id.tolist()] for t in instance.templates]
    kv_budget = instance.server_kv_budget_bytes.tolist()
    models = candidate_models(info)
    ptr = opts.ptr
    rtol = CAPACITY_RTOL

    comp = [0.0] * n_s
    kvu = [0.0] * n_s
    # Live server reservations: request -> (server, phi, kv, realised end, expected end).
    live: dict[int, tuple[int, float, float, float, float]] = {}
    n_live = [0] * n_s
    ends: list[tuple[float, int]] = []  # heap of (realised end, request)
    held: list[list[tuple[float, float, float]]] = [[] for _ in range(n_l)]
    done_heap: list[tuple[float, int]] = []  # completions not yet reported

    for t, ids in enumerate(instance.round_requests()):
        if len(ids) == 0:
            continue
        now = (t + 1) * eps
        while ends and ends[0][0] <= now + 1e-12:
            _, i = heapq.heappop(ends)
            j, phi, kvi, _, _ = live.pop(i)
            n_live[j] -= 1
            comp[j] = max(0.0, comp[j] - phi)
            kvu[j] = max(0.0, kvu[j] - kvi)
            if n_live[j] == 0:
                comp[j], kvu[j] = 0.0, 0.0  # no drift from float sums on an empty server
        reported = []
        while done_heap and done_heap[0][0] <= now + 1e-12:
            reported.append(heapq.heappop(done_heap)[1])
        if reported:
            r_ids = np.asarray(reported, dtype=np.int64)
            scheduler.update(feedback(r_ids, option[r_ids], False))
        for e in range(n_l):
            if held[e]:
                held[e] = [h for h in held[e] if h[1] > now]
        rate_used[:] = 0.0
        for e in range(n_l):
            rate_used[e] = sum(r for a, b, r in held[e] if a <= now < b)
        compute_used[:] = comp
        kv_used[:] = kvu
        cell = min(int((now - eps) // step_s + 1e-9), dyn.n_intervals - 1)
        bw_est[:-1] = dyn.bandwidth_mbps[:, max(cell, 0)]
        np.min((bw_est - rate_used)[matrix], axis=1, out=path_res)
        lv = list(live.values())
        view = epoch_view(
            instance,
            t,
            ids,
            shared,
            now_s=now,
            live_server=read_only(np.asarray([v[0] for v in lv], dtype=np.int64)),
            live_phi=read_only(np.asarray([v[1] for v in lv], dtype=float)),
            live_kv_bytes=read_only(np.asarray([v[2] for v in lv], dtype=float)),
            live_expected_end_s=read_only(np.asarray([max(v[4], now) for v in lv], dtype=float)),
        )
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
            o = int(ptr[i]) + c
            j, phi, links = servers[c], tpl_phi[key][c], tpl_links[key][c]
            kvi = kv_l[k]
            d = float(dispatch[i])
            end = d + float(opts.tran_s[o] + opts.infer_s[o])
            up_end = d + float(opts.up_s[o])
            dn_start = d + float(opts.down_start_s[o])
            r = float(opts.rate_mbps[o])
            ok = (
                comp[j] + phi <= 1.0 + 2 * rtol and kvu[j] + kvi <= kv_budget[j] * (1 + rtol) + rtol
            )
            if ok:
                for e in links:
                    if not (
                        _link_fits(held[e], d, up_end, r, bw_rows[e], step_s)
                        and _link_fits(held[e], dn_start, end, r, bw_rows[e], step_s)
                    ):
                        ok = False
                        break
            if not ok:
                status[i] = REFUSED
                scheduler.update(feedback(np.asarray([i]), np.asarray([c]), True))
                continue
            comp[j] += phi
            kvu[j] += kvi
            compute_used[j] = comp[j]
            kv_used[j] = kvu[j]
            expected = d + float(
                models[key].dispatch_time_s(
                    float(instance.request_up_bits[i]), float(req.prompt_tokens[i])
                )[c]
            )
            live[i] = (j, phi, kvi, end, expected)
            n_live[j] += 1
            heapq.heappush(ends, (end, i))
            heapq.heappush(done_heap, (end, i))
            for e in links:
                held[e].append((d, up_end, r))
                held[e].append((dn_start, end, r))
                rate_used[e] += r
            if links:
                np.min((bw_est - rate_used)[matrix], axis=1, out=path_res)
            option[i] = o
            status[i] = ADMITTED
        bar.update(len(ids))
