"""A trace as arrays (:class:`Trace`) and the check of its arrival times that every trace
reader applies (the Azure CSV in traces.py, the Mooncake JSONL in mooncake.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perllm_opt.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Trace:
    """Requests of a trace, times relative to its first request, sorted by time."""

    source: str
    offset_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray

    @property
    def duration_s(self) -> float:
        return float(self.offset_s[-1]) if len(self.offset_s) else 0.0

    @property
    def mean_rate_rps(self) -> float:
        """Requests per second over the trace (count over span)."""
        return len(self.offset_s) / self.duration_s if self.duration_s > 0 else float("nan")


def time_order(t: np.ndarray, source: Path, column: str) -> np.ndarray:
    """The stable order that sorts the arrival times ``t`` read from ``source`` (a warning
    if the file is out of order); InputError naming ``column`` if they are all one time."""
    if t.max() <= t.min():
        raise InputError(
            f"{source} {column}",
            f"{len(t)} request(s) all at one time",
            "arrivals spanning a positive duration (its rate is what the trace is used for)",
        )
    order = np.argsort(t, kind="stable")
    if np.any(order != np.arange(len(t))):
        log.warning("%s: timestamps out of order; sorted by time", source.name)
    return order
