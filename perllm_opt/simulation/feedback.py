"""What a scheduler is told of its requests' outcomes (:class:`Feedback`): refusals at once,
completions when the service mode reveals them."""

from __future__ import annotations

import numpy as np

from perllm_opt.instance.realised import Instance
from perllm_opt.simulation.view import Feedback


def refusals(instance: Instance, ids: np.ndarray, candidate: np.ndarray) -> Feedback:
    """Requests ``ids`` refused on their ``candidate`` (capacity exceeded): no time, no
    energy."""
    req = instance.requests
    tk = req.zone[ids] * len(instance.services) + req.service[ids]
    n = len(ids)
    return Feedback(
        request_id=ids,
        service=req.service[ids],
        template=tk,
        candidate=candidate,
        server_slice=np.asarray(
            [
                instance.templates[int(a)].server_slice[int(c)]
                for a, c in zip(tk, candidate, strict=True)
            ],
            dtype=np.int64,
        ),
        refused=np.ones(n, dtype=bool),
        on_time=np.zeros(n, dtype=bool),
        latency_s=np.full(n, np.nan),
        service_s=np.full(n, np.nan),
        energy_j=np.zeros(n),
    )


def outcomes(
    instance: Instance, ids: np.ndarray, option: np.ndarray, keep_order: bool = False
) -> Feedback:
    """Outcomes of the admitted ``option`` of requests ``ids``, in completion order: sorted
    by service time unless ``keep_order`` (already in completion order). A request cut off
    at its round's end is censored: its time is a lower bound."""
    opts = instance.options
    req = instance.requests
    tk = req.zone[ids] * len(instance.services) + req.service[ids]
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
