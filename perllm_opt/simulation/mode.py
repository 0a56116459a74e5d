"""The seam between the simulation loop and a service mode (docs/model.md, "Time").

The loop (:func:`perllm_opt.simulation.simulator.simulate`) is written once: at each
decision epoch it offers the epoch's requests to the scheduler one at a time, checks the
chosen server's compute share and KV memory, asks the mode whether the path's links can
carry the option, and reserves it. A :class:`ServiceMode` says the rest: which epochs are
decision epochs and what the scheduler sees then, what an admitted option holds on its
links and for how long, and when outcomes reach the scheduler.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from perllm_opt.instance.realised import Instance
from perllm_opt.schedulers.base import Scheduler
from perllm_opt.simulation.knowledge import resource_arrays
from perllm_opt.simulation.view import RoundView


class ServiceMode(ABC):
    """One run's reservations in one service mode (mutable, local to a simulation).

    Attributes
    ----------
    instance : Instance
    scheduler : Scheduler
        The scheduler run, told the outcomes when the mode reveals them.
    option, status : ndarray
        The run's assignment as the loop fills it in.
    arrays, views : dict of str to ndarray
        The resource arrays (:func:`~perllm_opt.simulation.knowledge.resource_arrays`) and
        the read-only views of them the scheduler's :class:`RoundView` holds.
    compute, kv : list of float
        Share and KV bytes reserved on each server now, as Python floats (the hot path
        reads them scalar by scalar); the loop mirrors them into ``arrays``.
    """

    def __init__(
        self, instance: Instance, scheduler: Scheduler, option: np.ndarray, status: np.ndarray
    ) -> None:
        self.instance = instance
        self.scheduler, self.option, self.status = scheduler, option, status
        self.arrays, self.views = resource_arrays(instance)
        n_s = instance.topology.n_servers
        self.compute = [0.0] * n_s
        self.kv = [0.0] * n_s

    @abstractmethod
    def begin_epoch(self, t: int, ids: np.ndarray) -> RoundView | None:
        """Open decision epoch ``t`` for requests ``ids``: release what has ended, tell the
        scheduler what it may learn by now, and return its view (None: no decision)."""

    @abstractmethod
    def links_fit(self, i: int, key: int, c: int, links: list[int]) -> bool:
        """Whether candidate ``c`` of request ``i`` (template ``key``) fits on ``links``."""

    @abstractmethod
    def hold(self, i: int, key: int, c: int, j: int, phi: float, kv: float, links) -> None:
        """Reserve the links of admitted candidate ``c`` (server ``j``, share ``phi``, ``kv``
        bytes; the loop has reserved the server) until the mode releases it."""

    @abstractmethod
    def end_epoch(self, t: int, ids: np.ndarray) -> None:
        """Close decision epoch ``t`` (its requests' ``option`` and ``status`` are set)."""
