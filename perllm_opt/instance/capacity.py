"""Continuous mode's capacity rows: the intervals over which options hold compute share, KV
memory and link rate, and each resource's capacity over time (docs/model.md, "Time")."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from perllm_opt.instance import timeline
from perllm_opt.instance.realised import Instance


def capacity_families(
    instance: Instance,
    option: np.ndarray,
    kv_budget_bytes: np.ndarray | None = None,
    kv_unit: float = 1.0,
) -> tuple[tuple[str, timeline.Intervals, int, Callable, float | None], ...]:
    """The three capacity families of the options ``option`` (global indices): name,
    intervals (``Intervals.option`` is the position in ``option``), number of resources,
    ``capacity(resource, times)`` and the step at which the capacity changes (links only).

    Compute share and KV memory are held from dispatch to completion, link rate during the
    two transmissions (:mod:`perllm_opt.instance.timeline`); KV amounts are in bytes / ``kv_unit``.
    """
    opts, topo, dyn = instance.options, instance.topology, instance.dynamics
    budget = instance.server_kv_budget_bytes if kv_budget_bytes is None else kv_budget_bytes
    d = instance.request_dispatch_s[opts.request[option]]
    service = opts.service_s[option]
    srv = opts.server[option]
    kv = instance.request_kv_bytes[opts.request[option]] / kv_unit
    links = timeline.link_intervals(
        topo.path_link_matrix[opts.path_id[option]],
        topo.n_links,
        d,
        opts.up_s[option],
        opts.down_start_s[option],
        service,
        opts.rate_mbps[option],
    )
    return (
        (
            "compute share",
            timeline.server_intervals(srv, d, service, opts.phi[option]),
            topo.n_servers,
            lambda r, t: np.ones(len(t)),
            None,
        ),
        (
            "KV memory",
            timeline.server_intervals(srv, d, service, kv),
            topo.n_servers,
            lambda r, t: np.full(len(t), budget[r] / kv_unit),
            None,
        ),
        (
            "link rate",
            links,
            topo.n_links,
            lambda r, t: dyn.bandwidth_mbps[r, dyn.interval_of(t)],
            dyn.interval_s,
        ),
    )
