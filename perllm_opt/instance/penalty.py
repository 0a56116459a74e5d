"""The drop penalty: a price per request left unserved that outweighs every energy
difference, so any objective serves as many requests on time as it can first."""

from __future__ import annotations

import numpy as np

from perllm_opt.instance.options import OptionTable


def drop_penalty_bound_j(
    options: OptionTable,
    request_round: np.ndarray,
    n_rounds: int,
    weights: tuple[float, float, float],
    idle_power_w: np.ndarray,
    round_s: float,
) -> float:
    """A drop penalty that dominates every energy difference within a round.

    Any solution's weighted energy in round t lies in ``[0, sum_i max_o e_o + w_idle sum_j
    P_idle_j tau]`` (the per-option term is non-negative when ``w_infer P_active >= w_idle
    P_idle``), so one more request served on time always pays off with a penalty above it.
    """
    w_tran, w_infer, w_idle = weights
    per_opt = w_tran * options.energy_tran_j + w_infer * options.energy_infer_j
    n = len(request_round)
    best = np.zeros(n)
    if len(options):
        np.maximum.at(best, options.request, per_opt)
    per_round = np.bincount(request_round, weights=best, minlength=n_rounds)
    idle = w_idle * float(idle_power_w.sum()) * round_s
    return float(np.ceil(per_round.max(initial=0.0) + idle + 1.0))


def continuous_drop_penalty_j(
    options: OptionTable,
    window: np.ndarray,
    w_start: np.ndarray,
    w_end: np.ndarray,
    weights: tuple[float, float, float],
    idle_power_w: np.ndarray,
    block_s: float,
) -> float:
    """A drop penalty that dominates every energy difference within a window.

    Within a window, two solutions' weighted energies differ by at most the sum over its
    requests of their costliest option plus the idle power of every server over the window
    (two sleep blocks of slack at its ends); windows share nothing, so one more request on
    time in a window always pays off with a penalty above the largest such bound.
    """
    w_tran, w_infer, w_idle = weights
    per_opt = w_tran * options.energy_tran_j + w_infer * options.energy_infer_j
    best = np.zeros(len(window))
    on = np.flatnonzero(options.on_time)
    np.maximum.at(best, options.request[on], per_opt[on])
    if len(w_start) == 0:
        return 1.0
    has = window >= 0
    per_w = np.bincount(window[has], weights=best[has], minlength=len(w_start))
    idle = w_idle * float(idle_power_w.sum()) * (w_end - w_start + 2 * block_s)
    return float(np.ceil((per_w + idle).max() + 1.0))
