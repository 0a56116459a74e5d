"""Continuous mode over time: who holds what when, peak loads, sleep blocks, windows.

In continuous mode (docs/model.md, "Time") an admitted option of request ``i`` dispatched
at ``d_i`` holds, relative to ``d_i`` (see :class:`~perllm_opt.instance.options.OptionTable`):

- its compute share ``phi`` and the request's KV memory on its server over
  ``[0, service_s)`` (dispatch to completion);
- its rate on every link of its path over ``[0, up_s)`` (upload) and
  ``[down_start_s, service_s)`` (the answer streaming back).

All intervals are half-open. The load of a resource is a step function that only rises at
the start of an interval, and a link's capacity only changes at the start of a dynamics
interval; so capacity holds at every moment iff it holds at every interval start and at
every dynamics-interval start that some interval spans (:func:`check_times`). The simulator,
the evaluator and the MILP all use these functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Relative tolerance on capacity checks (shares, Mbps, bytes), as in
#: :mod:`perllm_opt.simulation.view`.
RTOL = 1e-9


@dataclass(frozen=True, eq=False)
class Intervals:
    """Half-open intervals ``[start, end)`` of options on resources.

    Attributes
    ----------
    resource : ndarray of int
        Which resource (a server, or a link).
    option : ndarray of int
        Index of the option (into whatever option array the caller used).
    start, end : ndarray of float
        Absolute times (s).
    amount : ndarray of float
        How much of the resource the option holds over the interval.
    """

    resource: np.ndarray
    option: np.ndarray
    start: np.ndarray
    end: np.ndarray
    amount: np.ndarray

    def __len__(self) -> int:
        return len(self.option)


def server_intervals(
    server: np.ndarray, dispatch_s: np.ndarray, service_s: np.ndarray, amount: np.ndarray
) -> Intervals:
    """Compute share or KV memory held from dispatch to completion, one interval an option."""
    n = len(server)
    return Intervals(
        resource=np.asarray(server, dtype=np.int64),
        option=np.arange(n),
        start=np.asarray(dispatch_s, dtype=float),
        end=np.asarray(dispatch_s, dtype=float) + service_s,
        amount=np.asarray(amount, dtype=float),
    )


def link_intervals(
    path_links: np.ndarray,
    n_links: int,
    dispatch_s: np.ndarray,
    up_s: np.ndarray,
    down_start_s: np.ndarray,
    service_s: np.ndarray,
    rate_mbps: np.ndarray,
) -> Intervals:
    """The rate held on each path link while uploading and while the answer streams back.

    ``path_links`` is (options, max path length) with the sentinel ``n_links`` as padding
    (:attr:`perllm_opt.system.topology.Topology.path_link_matrix` rows).
    """
    rows, cols = np.nonzero(path_links < n_links)
    link = path_links[rows, cols]
    d = np.asarray(dispatch_s, dtype=float)[rows]
    up_end = d + up_s[rows]
    dn_start = d + down_start_s[rows]
    end = d + service_s[rows]
    rate = rate_mbps[rows]
    return Intervals(
        resource=np.concatenate([link, link]),
        option=np.concatenate([rows, rows]),
        start=np.concatenate([d, dn_start]),
        end=np.concatenate([up_end, end]),
        amount=np.concatenate([rate, rate]),
    )


def check_times(iv: Intervals, resource: int, step_s: float | None = None) -> np.ndarray:
    """Times at which the load of ``resource`` must be checked: every interval start, and
    (when capacity changes every ``step_s``) every multiple of ``step_s`` that some interval
    spans."""
    sel = iv.resource == resource
    starts = iv.start[sel]
    times = [starts]
    if step_s is not None and sel.any():
        lo = np.ceil(starts / step_s - 1e-9)
        hi = np.ceil(iv.end[sel] / step_s - 1e-9) - 1
        ks = [np.arange(a, b + 1) for a, b in zip(lo, hi, strict=True) if b >= a]
        if ks:
            times.append(np.unique(np.concatenate(ks)) * step_s)
    return np.unique(np.concatenate(times)) if times else np.empty(0)


def load_at(iv: Intervals, resource: int, times: np.ndarray) -> np.ndarray:
    """Total amount of ``resource`` held at each of ``times`` (intervals are half-open)."""
    sel = iv.resource == resource
    s, e, a = iv.start[sel], iv.end[sel], iv.amount[sel]
    so, eo = np.argsort(s, kind="stable"), np.argsort(e, kind="stable")
    cs = np.concatenate([[0.0], np.cumsum(a[so])])
    ce = np.concatenate([[0.0], np.cumsum(a[eo])])
    started = cs[np.searchsorted(s[so], times, side="right")]
    ended = ce[np.searchsorted(e[eo], times, side="right")]
    return started - ended


def peak_excess(
    iv: Intervals, n_resources: int, capacity, step_s: float | None = None
) -> tuple[int, float, float, float] | None:
    """The first (resource, time, load, capacity) where the load exceeds capacity, else None.

    ``capacity(resource, times)`` returns the capacity at those times.
    """
    for r in range(n_resources):
        times = check_times(iv, r, step_s)
        if len(times) == 0:
            continue
        load = load_at(iv, r, times)
        cap = capacity(r, times)
        bad = load > cap * (1.0 + RTOL) + RTOL
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            return r, float(times[k]), float(load[k]), float(cap[k])
    return None


def active_sets(iv: Intervals, resource: int, times: np.ndarray) -> list[np.ndarray]:
    """Positions (into ``iv``) of the intervals of ``resource`` active at each time."""
    sel = np.flatnonzero(iv.resource == resource)
    if len(sel) == 0:
        return [np.empty(0, dtype=np.int64) for _ in times]
    order = sel[np.argsort(iv.start[sel], kind="stable")]
    s, e = iv.start[order], iv.end[order]
    longest = float((e - s).max())
    lo = np.searchsorted(s, times - longest, side="left")
    hi = np.searchsorted(s, times, side="right")
    out = []
    for t, a, b in zip(times.tolist(), lo.tolist(), hi.tolist(), strict=True):
        cand = order[a:b]
        out.append(cand[e[a:b] > t])
    return out


def block_span(start: np.ndarray, end: np.ndarray, block_s: float) -> tuple[np.ndarray, np.ndarray]:
    """First and last sleep block (inclusive) touched by ``[start, end)``."""
    first = np.floor(start / block_s + 1e-9).astype(np.int64)
    last = np.maximum(first, np.ceil(end / block_s - 1e-9).astype(np.int64) - 1)
    return first, last


def merge_spans(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Group label of each span after merging overlapping ones (touching spans stay apart).

    Returns an int array, labels 0, 1, ... in order of time.
    """
    n = len(start)
    label = np.empty(n, dtype=np.int64)
    if n == 0:
        return label
    order = np.argsort(start, kind="stable")
    s, e = start[order], end[order]
    reach = np.maximum.accumulate(e)
    new = np.ones(n, dtype=bool)
    new[1:] = s[1:] >= reach[:-1]
    label[order] = np.cumsum(new) - 1
    return label
