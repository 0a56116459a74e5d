"""Rounds mode (docs/model.md, "Online scheduling"): every decision of a round happens at its
boundary, an admitted option holds its share, memory and link rate for the whole round, and
a link carries at most the round's realised bandwidth. Outcomes reach the scheduler at the
end of the round, in completion order (since every decision of a round happens at its
boundary, this is when each request completes as far as any later decision can tell); the
round's realised bandwidth is observed once it is over."""

from __future__ import annotations

import numpy as np

from perllm_opt.instance.assignment import ADMITTED
from perllm_opt.instance.realised import Instance
from perllm_opt.schedulers.base import Scheduler
from perllm_opt.simulation.feedback import outcomes
from perllm_opt.simulation.knowledge import epoch_view
from perllm_opt.simulation.mode import ServiceMode
from perllm_opt.simulation.view import CAPACITY_RTOL, RoundView


class RoundsMode(ServiceMode):
    """Rounds mode's part of the simulation loop: each round starts empty."""

    def __init__(
        self, instance: Instance, scheduler: Scheduler, option: np.ndarray, status: np.ndarray
    ) -> None:
        super().__init__(instance, scheduler, option, status)
        topo = instance.topology
        self.rate_mbps = [t.rate_mbps.tolist() for t in instance.templates]
        # Rate reserved on each link this round (sentinel last) and the round's capacity.
        self.rate = [0.0] * (topo.n_links + 1)
        self.capacity: list[float] = []

    def begin_epoch(self, t: int, ids: np.ndarray) -> RoundView:
        instance, arrays = self.instance, self.arrays
        topo = instance.topology
        arrays["c"][:] = 0.0
        arrays["k"][:] = 0.0
        arrays["r"][:] = 0.0
        np.min(arrays["b"][topo.path_link_matrix], axis=1, out=arrays["p"])
        self.capacity = np.append(instance.round_bandwidth_mbps[:, t], np.inf).tolist()
        self.compute[:] = [0.0] * topo.n_servers
        self.kv[:] = [0.0] * topo.n_servers
        self.rate = [0.0] * (topo.n_links + 1)
        return epoch_view(instance, t, ids, self.views, now_s=(t + 1) * instance.round_s)

    def links_fit(self, i: int, key: int, c: int, links: list[int]) -> bool:
        r, rate, cap, rtol = self.rate_mbps[key][c], self.rate, self.capacity, CAPACITY_RTOL
        return not any(rate[e] + r > cap[e] * (1 + rtol) + rtol for e in links)

    def hold(self, i: int, key: int, c: int, j: int, phi: float, kv: float, links) -> None:
        r, rate, rate_used = self.rate_mbps[key][c], self.rate, self.arrays["r"]
        for e in links:
            rate[e] += r
            rate_used[e] = rate[e]

    def end_epoch(self, t: int, ids: np.ndarray) -> None:
        """Tell the round's outcomes, then reveal its realised bandwidth."""
        done = ids[self.status[ids] == ADMITTED]
        if len(done):
            self.scheduler.update(outcomes(self.instance, done, self.option[done]))
        self.arrays["b"][:-1] = self.instance.round_bandwidth_mbps[:, t]
