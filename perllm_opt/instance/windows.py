"""Continuous mode's independent windows: requests whose on-time options never share a
resource (nor a sleep block) at the same time, so the optimum solves each window apart."""

from __future__ import annotations

import numpy as np

from perllm_opt.instance import timeline
from perllm_opt.instance.options import OptionTable


def option_spans(
    options: OptionTable,
    dispatch_s: np.ndarray,
    can_sleep: np.ndarray,
    block_s: float,
    opts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The time span through which each option in ``opts`` couples with others: its
    dispatch-to-completion interval, widened to whole sleep blocks on a server that sleeps
    (two options in one block share that server's on state)."""
    start = dispatch_s[options.request[opts]]
    end = start + options.service_s[opts]
    sleepy = can_sleep[options.server[opts]]
    first, last = timeline.block_span(start, end, block_s)
    start = np.where(sleepy, first * block_s, start)
    end = np.where(sleepy, (last + 1) * block_s, end)
    return start, end


def continuous_windows(
    options: OptionTable,
    n_requests: int,
    dispatch_s: np.ndarray,
    can_sleep: np.ndarray,
    block_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Independent windows of continuous mode: requests whose on-time options can never
    share a resource at the same time (nor a sleep block) fall in different windows.

    Returns the window of each request (-1 without an on-time option) and each window's
    start and end (s).
    """
    window = np.full(n_requests, -1, dtype=np.int64)
    on = np.flatnonzero(options.on_time)
    if len(on) == 0:
        return window, np.empty(0), np.empty(0)
    start, end = option_spans(options, dispatch_s, can_sleep, block_s, on)
    req = options.request[on]
    r_start = np.full(n_requests, np.inf)
    r_end = np.full(n_requests, -np.inf)
    np.minimum.at(r_start, req, start)
    np.maximum.at(r_end, req, end)
    has = np.flatnonzero(np.isfinite(r_start))
    label = timeline.merge_spans(r_start[has], r_end[has])
    window[has] = label
    n_w = int(label.max()) + 1
    w_start = np.full(n_w, np.inf)
    w_end = np.full(n_w, -np.inf)
    np.minimum.at(w_start, label, r_start[has])
    np.maximum.at(w_end, label, r_end[has])
    return window, w_start, w_end
