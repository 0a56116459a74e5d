"""Named random streams: one ``numpy.random.Generator`` per concern, all from one seed.

Each concern (arrivals, token lengths, bandwidth, one scheduler, ...) gets an independent
stream derived with :class:`numpy.random.SeedSequence` from the run seed and a stable hash of
the concern's name. Adding a concern never shifts another concern's numbers, and nothing
touches numpy's global state.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RngStreams:
    """Factory of independent, reproducible generators keyed by concern name.

    Parameters
    ----------
    seed : int
        The run seed (a non-negative integer).
    """

    seed: int

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            from perllm_opt.errors import InputError

            raise InputError("seed", self.seed, "a non-negative integer")

    def stream(self, concern: str) -> np.random.Generator:
        """Return a fresh generator for ``concern``; the same name always gives the same stream."""
        key = zlib.crc32(concern.encode("utf-8"))
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(key,)))
