"""``round_robin``: servers in turn, with a fixed share level and the lowest rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perllm_opt.errors import require
from perllm_opt.schedulers.base import DECLINE, Scheduler
from perllm_opt.simulation.view import RoundView, free_mask


@dataclass
class RoundRobin(Scheduler):
    """Cycle over the servers that host the request's model (per service type), skipping
    servers whose resources look taken; on a server take its ``share`` level (``max`` or
    ``min``) at the lowest rate. Deadlines and energy are ignored.
    """

    name: str = "round_robin"
    share: str = "max"

    def __post_init__(self) -> None:
        require(
            self.share in ("max", "min"),
            "scheduler.round_robin.share",
            self.share,
            "'max' or 'min'",
        )

    def setup(self) -> None:
        self.turn = np.zeros(self.info.n_services, dtype=np.int64)
        slices = self.info.slices
        self.picks = []  # per template: (servers in order, candidate per server)
        for t in self.info.templates:
            servers = list(dict.fromkeys(t.server.tolist()))
            cand = []
            for j in servers:
                on_j = np.flatnonzero(t.server == j)
                phi = t.phi[on_j]
                level = phi.max() if self.share == "max" else phi.min()
                at = on_j[phi == level]
                cand.append(int(at[np.argmin(slices.rate_mbps[t.server_slice[at]])]))
            self.picks.append((servers, np.asarray(cand, dtype=np.int64)))

    def select(self, view: RoundView, k: int) -> int:
        key = int(view.template[k])
        servers, cand = self.picks[key]
        if not servers:
            return DECLINE
        free = free_mask(self.info, view, k, self.info.templates[key])[cand]
        s = int(view.service[k])
        start = int(self.turn[s])
        for step in range(len(servers)):
            pos = (start + step) % len(servers)
            if free[pos]:
                self.turn[s] = start + step + 1
                return int(cand[pos])
        return DECLINE
