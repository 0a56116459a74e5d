"""Scoring in continuous mode: capacities over time, idle energy over time, per-bin series.

Definitions (docs/model.md, "Time" and "Idle energy"): an admitted option holds its share
and KV memory over ``[d, d + service_s)`` and its rate on each path link during its two
transmissions (:mod:`perllm_opt.instance.timeline`). Idle energy is ``P_idle (on - busy)`` per
server, with ``busy`` the share-seconds computing. A server that never sleeps is on over
``[0, max(accounting_end_s, its last completion))``; one that may sleep is on during every
sleep block (``system.sleep_block_s``, from time 0) that one of its reservations touches.
"""

from __future__ import annotations

import numpy as np

from perllm_opt.evaluation.per_bin import CapacityViolationError, PerBin
from perllm_opt.instance import timeline
from perllm_opt.instance.bins import series_bins
from perllm_opt.instance.capacity import capacity_families
from perllm_opt.instance.realised import Instance


def capacity_excess(
    instance: Instance, option: np.ndarray, kv_budget_bytes: np.ndarray | None = None
) -> str | None:
    """A description of the first capacity exceeded at some event time, else None."""
    for name, iv, n_res, cap, step in capacity_families(instance, option, kv_budget_bytes):
        bad = timeline.peak_excess(iv, n_res, cap, step)
        if bad is not None:
            r, t, load, c = bad
            return f"{name} exceeded at ({r}, t={t:.3f} s): {load} > {c}"
    return None


def server_on_s(instance: Instance, option: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Seconds each server is on, and for servers that may sleep the sleep blocks they are
    on in (empty arrays for the others)."""
    opts, topo = instance.options, instance.topology
    n_s = topo.n_servers
    block = instance.sleep_block_s
    d = instance.request_dispatch_s[opts.request[option]]
    end = d + opts.service_s[option]
    srv = opts.server[option]
    on_s = np.zeros(n_s)
    blocks: list[np.ndarray] = []
    first, last = timeline.block_span(d, end, block)
    for j in range(n_s):
        sel = srv == j
        if topo.server_can_sleep[j]:
            ks = [np.arange(a, b + 1) for a, b in zip(first[sel], last[sel], strict=True)]
            b = np.unique(np.concatenate(ks)) if ks else np.empty(0, dtype=np.int64)
            blocks.append(b)
            on_s[j] = block * len(b)
        else:
            blocks.append(np.empty(0, dtype=np.int64))
            on_s[j] = max(instance.accounting_end_s, float(end[sel].max(initial=0.0)))
    return on_s, blocks


def bin_series(
    instance: Instance, admitted: np.ndarray, option: np.ndarray, on_time: np.ndarray
) -> PerBin:
    """Per-bin transmission, inference and idle energy, on-time and total requests.

    A request's energies and its count go to the bin of its arrival. Idle energy: a sleep
    block's to the bin of its start, the never-sleeping servers' draw evenly over the bins
    of the horizon (their draw past ``accounting_end_s`` to the last bin), and the busy
    share-seconds that displace idle draw to the bin of the request's arrival. The series
    sum to the totals.
    """
    opts = instance.options
    req_bin, nb, bin_s = series_bins(instance)
    o = option[admitted]
    rb = req_bin[admitted]
    e_tran = np.bincount(rb, weights=opts.energy_tran_j[o], minlength=nb).astype(float)
    e_inf = np.bincount(rb, weights=opts.energy_infer_j[o], minlength=nb).astype(float)
    idle_w = instance.server_idle_power_w
    busy = idle_w[opts.server[o]] * opts.phi[o] * opts.run_s[o]
    e_idle = -np.bincount(rb, weights=busy, minlength=nb).astype(float)
    on_s, blocks = server_on_s(instance, o)
    block = instance.sleep_block_s
    for j, b in enumerate(blocks):
        if instance.topology.server_can_sleep[j]:
            if len(b):
                bb = np.minimum((b * block // bin_s).astype(np.int64), nb - 1)
                e_idle += np.bincount(bb, minlength=nb) * idle_w[j] * block
        else:
            base = idle_w[j] * instance.accounting_end_s
            e_idle += base / nb
            e_idle[-1] += idle_w[j] * on_s[j] - base
    return PerBin(
        tran=e_tran,
        infer=e_inf,
        idle=e_idle,
        served=np.bincount(req_bin[on_time], minlength=nb),
        total=np.bincount(req_bin, minlength=nb),
    )


def per_bin(
    instance: Instance,
    option: np.ndarray,
    admitted: np.ndarray,
    on_time: np.ndarray,
    kv_budget_bytes: np.ndarray | None = None,
) -> PerBin:
    """Per ``system.bin_s`` bin: energies and requests of ``option`` (:func:`bin_series`).

    Raises
    ------
    CapacityViolationError
        If a capacity is exceeded at some moment (:func:`capacity_excess`).
    """
    excess = capacity_excess(instance, option[admitted], kv_budget_bytes)
    if excess is not None:
        raise CapacityViolationError(excess)
    return bin_series(instance, admitted, option, on_time)
