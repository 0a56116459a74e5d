"""The bins of the per-bin series: rounds in rounds mode, ``system.bin_s`` by arrival in
continuous mode."""

from __future__ import annotations

import numpy as np

from perllm_opt.instance.realised import Instance


def n_bins(instance: Instance) -> int:
    """Number of bins of the per-bin series: ``system.bin_s`` over the horizon."""
    return max(1, int(np.ceil(instance.horizon_s / instance.config.system.bin_s - 1e-9)))


def series_bins(instance: Instance) -> tuple[np.ndarray, int, float]:
    """Bin of every request in the per-round series, the number of bins and their length:
    the request's round in rounds mode, the ``system.bin_s`` bin of its arrival in
    continuous mode."""
    if not instance.continuous:
        return instance.request_round, instance.n_rounds, instance.round_s
    nb = n_bins(instance)
    bin_s = float(instance.config.system.bin_s)
    return (
        np.minimum((instance.requests.arrival_s // bin_s).astype(np.int64), nb - 1),
        nb,
        bin_s,
    )
