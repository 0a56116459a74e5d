"""Continuous mode (docs/model.md, "Time" and "Online scheduling").

Decision epochs are ``system.epoch_s`` apart. At each epoch the requests that arrived during
the previous epoch are offered to the scheduler, with the reservations still live at that
moment. An admitted option holds its compute share and KV memory until its realised
completion and its rate on each path link only while it uploads and while its answer
streams back (:mod:`perllm_opt.instance.timeline`); nothing is cut off. The environment
refuses an option whose share or memory does not fit now, or whose rate would exceed a
link's realised bandwidth at any moment of its transmissions, given the transmissions
already admitted. Completions reach the scheduler at the first epoch at or after them, in
completion order; refusals at once.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from perllm_opt.instance.realised import Instance
from perllm_opt.schedulers.base import Scheduler
from perllm_opt.schedulers.estimates import candidate_models
from perllm_opt.simulation.feedback import outcomes
from perllm_opt.simulation.knowledge import epoch_view
from perllm_opt.simulation.mode import ServiceMode
from perllm_opt.simulation.view import CAPACITY_RTOL, RoundView, SystemInfo, read_only


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
        cap = capacity[min(math.floor(p / step_s + 1e-9), last)]
        if load > cap * (1 + rtol) + rtol:
            return False
    return True


class ContinuousMode(ServiceMode):
    """Continuous mode's part of the simulation loop: reservations live until their
    realised completion, link rates only during the two transmissions."""

    def __init__(
        self,
        instance: Instance,
        info: SystemInfo,
        scheduler: Scheduler,
        option: np.ndarray,
        status: np.ndarray,
    ) -> None:
        super().__init__(instance, scheduler, option, status)
        n_s, n_l = instance.topology.n_servers, instance.topology.n_links
        dyn = instance.dynamics
        self.step_s = dyn.interval_s
        self.bandwidth = [dyn.bandwidth_mbps[e].tolist() for e in range(n_l)]
        self.models = candidate_models(info)
        # Live server reservations: request -> (server, phi, kv, realised end, expected end).
        self.live: dict[int, tuple[int, float, float, float, float]] = {}
        self.n_live = [0] * n_s
        self.ends: list[tuple[float, int]] = []  # heap of (realised end, request)
        self.held: list[list[tuple[float, float, float]]] = [[] for _ in range(n_l)]
        self.unreported: list[tuple[float, int]] = []  # heap of completions not yet told

    def begin_epoch(self, t: int, ids: np.ndarray) -> RoundView | None:
        """An epoch without arrivals decides nothing (what ended is released at the next)."""
        if len(ids) == 0:
            return None
        now = (t + 1) * self.instance.round_s
        self._release(now)
        reported = []
        while self.unreported and self.unreported[0][0] <= now + 1e-12:
            reported.append(heapq.heappop(self.unreported)[1])
        if reported:
            r_ids = np.asarray(reported, dtype=np.int64)
            fb = outcomes(self.instance, r_ids, self.option[r_ids], keep_order=True)
            self.scheduler.update(fb)
        self._refresh(now)
        lv = list(self.live.values())
        return epoch_view(
            self.instance,
            t,
            ids,
            self.views,
            now_s=now,
            live_server=read_only(np.asarray([v[0] for v in lv], dtype=np.int64)),
            live_phi=read_only(np.asarray([v[1] for v in lv], dtype=float)),
            live_kv_bytes=read_only(np.asarray([v[2] for v in lv], dtype=float)),
            live_expected_end_s=read_only(np.asarray([max(v[4], now) for v in lv], dtype=float)),
        )

    def _release(self, now: float) -> None:
        """Free the servers of the reservations that ended by ``now``."""
        comp, kvu, n_live = self.compute, self.kv, self.n_live
        while self.ends and self.ends[0][0] <= now + 1e-12:
            _, i = heapq.heappop(self.ends)
            j, phi, kvi, _, _ = self.live.pop(i)
            n_live[j] -= 1
            comp[j] = max(0.0, comp[j] - phi)
            kvu[j] = max(0.0, kvu[j] - kvi)
            if n_live[j] == 0:
                comp[j], kvu[j] = 0.0, 0.0  # no drift from float sums on an empty server

    def _refresh(self, now: float) -> None:
        """The resource arrays at ``now``: transmissions over by then dropped, the rate
        still held, the server reservations, and the bandwidth of the interval just past."""
        instance, arrays, held = self.instance, self.arrays, self.held
        dyn = instance.dynamics
        n_l = instance.topology.n_links
        rate_used, bw_est = arrays["r"], arrays["b"]
        for e in range(n_l):
            if held[e]:
                held[e] = [h for h in held[e] if h[1] > now]
        rate_used[:] = 0.0
        for e in range(n_l):
            rate_used[e] = sum(r for a, b, r in held[e] if a <= now < b)
        arrays["c"][:] = self.compute
        arrays["k"][:] = self.kv
        cell = min(math.floor((now - instance.round_s) / self.step_s + 1e-9), dyn.n_intervals - 1)
        bw_est[:-1] = dyn.bandwidth_mbps[:, max(cell, 0)]
        matrix = instance.topology.path_link_matrix
        np.min((bw_est - rate_used)[matrix], axis=1, out=arrays["p"])

    def _spans(self, i: int, c: int) -> tuple[float, float, float, float, float]:
        """Dispatch, end of upload, start of download, completion (s) and rate of candidate
        ``c`` of request ``i``."""
        opts = self.instance.options
        o = int(opts.ptr[i]) + c
        d = float(self.instance.request_dispatch_s[i])
        end = d + float(opts.tran_s[o] + opts.infer_s[o])
        up_end = d + float(opts.up_s[o])
        dn_start = d + float(opts.down_start_s[o])
        return d, up_end, dn_start, end, float(opts.rate_mbps[o])

    def links_fit(self, i: int, key: int, c: int, links: list[int]) -> bool:
        d, up_end, dn_start, end, r = self._spans(i, c)
        held, bw, step_s = self.held, self.bandwidth, self.step_s
        for e in links:
            if not (
                _link_fits(held[e], d, up_end, r, bw[e], step_s)
                and _link_fits(held[e], dn_start, end, r, bw[e], step_s)
            ):
                return False
        return True

    def hold(self, i: int, key: int, c: int, j: int, phi: float, kv: float, links) -> None:
        """Also note when the reservation is expected to end (the public profile's
        estimate, which the scheduler's view shows) and when it really does."""
        instance = self.instance
        d, up_end, dn_start, end, r = self._spans(i, c)
        expected = d + float(
            self.models[key].dispatch_time_s(
                float(instance.request_up_bits[i]), float(instance.requests.prompt_tokens[i])
            )[c]
        )
        self.live[i] = (j, phi, kv, end, expected)
        self.n_live[j] += 1
        heapq.heappush(self.ends, (end, i))
        heapq.heappush(self.unreported, (end, i))
        rate_used = self.arrays["r"]
        for e in links:
            self.held[e].append((d, up_end, r))
            self.held[e].append((dn_start, end, r))
            rate_used[e] += r

    def end_epoch(self, t: int, ids: np.ndarray) -> None:
        """Nothing: completions are told at the first epoch at or after them."""
