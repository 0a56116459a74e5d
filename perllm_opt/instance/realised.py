"""The realised instance: topology, deployment, requests, dynamics and the option table,
as :func:`perllm_opt.instance.build.build_instance` builds it for every later stage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perllm_opt.config import InstanceConfig, ServiceTypeConfig
from perllm_opt.instance.dynamics import Dynamics
from perllm_opt.instance.options import OptionTable, ServerSlices, Template
from perllm_opt.system.catalog import Catalog
from perllm_opt.system.deployment import Deployment
from perllm_opt.system.topology import Topology
from perllm_opt.workload.generator import Requests


@dataclass(frozen=True, eq=False)
class Instance:
    """One realised instance (immutable). See docs/model.md for every symbol.

    Decision epochs are ``round_s`` apart: the round length tau in rounds mode, the epoch
    ``system.epoch_s`` in continuous mode. A request arriving at ``a`` belongs to decision
    group ``t = floor(a / round_s)`` (``request_round``) and is dispatched at
    ``(t + 1) round_s`` (``request_dispatch_s``) after waiting ``wait_s``. In rounds mode it
    must finish by ``(t + 2) tau``; in continuous mode it runs to completion.

    Continuous mode only: ``accounting_end_s`` is the end of the span over which servers
    that never sleep are counted as on (the horizon plus the longest deadline, so every
    on-time request ends inside it); ``request_window`` labels the independent time windows
    of the exact optimum (-1: the request has no on-time option). Rounds mode only:
    ``round_bandwidth_mbps`` (links x rounds), each round's bandwidth. ``request_interval``
    is the interval of the dynamics each request meets (its round's start, or its dispatch).
    """

    config: InstanceConfig
    catalog: Catalog
    topology: Topology
    deployment: Deployment
    services: tuple[ServiceTypeConfig, ...]
    service_model: np.ndarray
    requests: Requests
    dynamics: Dynamics
    round_s: float
    n_rounds: int
    request_round: np.ndarray
    request_wait_s: np.ndarray
    request_up_bits: np.ndarray
    request_down_bits: np.ndarray
    request_kv_bytes: np.ndarray
    server_idle_power_w: np.ndarray
    server_active_power_w: np.ndarray
    server_kv_budget_bytes: np.ndarray
    slices: ServerSlices
    templates: tuple[Template, ...]
    options: OptionTable
    drop_penalty_j: float
    placement: bool = False
    mode: str = "rounds"
    request_dispatch_s: np.ndarray | None = None
    round_bandwidth_mbps: np.ndarray | None = None
    accounting_end_s: float = 0.0
    request_window: np.ndarray | None = None
    request_interval: np.ndarray | None = None

    @property
    def continuous(self) -> bool:
        return self.mode == "continuous"

    @property
    def sleep_block_s(self) -> float:
        return float(self.config.system.sleep_block_s)

    @property
    def n_requests(self) -> int:
        return len(self.requests)

    @property
    def horizon_s(self) -> float:
        return float(self.config.horizon_s)

    @property
    def weights(self) -> tuple[float, float, float]:
        s = self.config.system
        return (s.w_tran, s.w_infer, s.w_idle)

    def template_of(self, request: int) -> Template:
        return self.templates[
            int(self.requests.zone[request]) * len(self.services)
            + int(self.requests.service[request])
        ]

    def round_requests(self) -> list[np.ndarray]:
        """Request indices per round, in arrival order."""
        order = np.argsort(self.request_round, kind="stable")
        bounds = np.searchsorted(self.request_round[order], np.arange(1, self.n_rounds))
        return np.split(order, bounds)
