"""The realised instance: topology, deployment, requests, dynamics and the option table.

:func:`build_instance` is the single path from an :class:`~perllm_opt.config.InstanceConfig`
to everything the simulator, the MILP and the evaluator read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perllm_opt import delays
from perllm_opt.catalog import Catalog, load_catalog
from perllm_opt.config import InstanceConfig, ServiceTypeConfig
from perllm_opt.deployment import Deployment, resolve_deployment
from perllm_opt.dynamics import Dynamics, realise_dynamics
from perllm_opt.errors import InputError
from perllm_opt.options import (
    OptionTable,
    ServerSlices,
    Template,
    build_option_table,
    build_slices,
    build_templates,
)
from perllm_opt.rng import RngStreams
from perllm_opt.topology import Topology, build_graph, topology_from_graph
from perllm_opt.workload import Requests, generate_requests


@dataclass(frozen=True, eq=False)
class Instance:
    """One realised instance (immutable). See docs/model.md for every symbol.

    Rounds: a request arriving at ``a`` belongs to round ``t = floor(a / tau)``, is
    dispatched at ``(t + 1) tau`` after waiting ``wait_s`` and must finish by ``(t + 2) tau``.
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


def _check_weights(
    inst_cfg: InstanceConfig, idle_w: np.ndarray, active_w: np.ndarray, servers: tuple[str, ...]
) -> None:
    """Running work must never lower the weighted energy (else a late job could "save" idle
    energy and an online scheduler could beat the MILP, which serves only on time)."""
    s = inst_cfg.system
    bad = np.flatnonzero(s.w_infer * active_w < s.w_idle * idle_w - 1e-12)
    if len(bad):
        j = int(bad[0])
        raise InputError(
            "system.w_idle",
            s.w_idle,
            f"w_idle * idle power <= w_infer * active power on every server "
            f"(server {servers[j]!r}: {idle_w[j]:.0f} W idle, "
            f"{active_w[j]:.0f} W active, w_infer {s.w_infer})",
        )


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


def build_instance(
    config: InstanceConfig,
    catalog: Catalog | None = None,
    placement: bool = False,
    drop_penalty_j: float | None = None,
) -> Instance:
    """Build the realised instance described by ``config`` (deterministic in its seed).

    With ``placement=True`` the candidates include every (server, model) the devices can
    host, not only the configured deployment: the option table the placement MILP needs.
    The requests and dynamics are the same as without it. ``drop_penalty_j`` overrides the
    penalty (to score two instances of the same requests on one scale).
    """
    streams = RngStreams(config.seed)
    if catalog is None:
        catalog = load_catalog(
            config.calibration.models_file,
            config.calibration.devices_file,
            dict(config.calibration.overrides or {}),
        )
    graph = build_graph(config.topology.preset, config.topology.path)
    if config.topology.wan_bandwidth_mbps is not None:
        graph = graph.copy()
        clouds = {n for n, d in graph.nodes(data=True) if d.get("kind") == "cloud"}
        for u, v, d in graph.edges(data=True):
            if u in clouds or v in clouds:
                d["bandwidth_mbps"] = float(config.topology.wan_bandwidth_mbps)
    topology = topology_from_graph(graph, catalog)
    services = tuple(config.services)
    deployment = resolve_deployment(
        topology, catalog, config.deployment, [s.model for s in services]
    )
    service_model = np.asarray([deployment.model_index(s.model) for s in services])

    tau = float(config.system.round_s)
    n_rounds = int(np.ceil(config.horizon_s / tau))
    requests = generate_requests(
        config.workload, services, topology.n_zones, config.horizon_s, streams
    )
    dynamics = realise_dynamics(config.dynamics, topology, n_rounds, streams)

    rnd = np.minimum((requests.arrival_s // tau).astype(np.int64), n_rounds - 1)
    wait = (rnd + 1) * tau - requests.arrival_s
    bpt = config.system.bytes_per_token
    up = delays.uplink_bits(requests.prompt_tokens, requests.attachment_bytes, bpt)
    down = delays.downlink_bits(requests.output_tokens, bpt)
    cap = np.asarray([s.output_max_tokens for s in services])[requests.service]
    kv_per_tok = np.asarray(
        [catalog.models[deployment.models[m]].kv_bytes_per_token for m in service_model]
    )[requests.service]
    kv = kv_per_tok * (requests.prompt_tokens + cap)

    count = topology.server_count.astype(float)
    idle_w = np.asarray([catalog.devices[d].idle_power_w for d in topology.server_device]) * count
    active_w = (
        np.asarray([catalog.devices[d].active_power_w for d in topology.server_device]) * count
    )
    _check_weights(config, idle_w, active_w, topology.servers)

    slices = build_slices(topology, catalog, config.system.rate_levels_mbps)
    templates = build_templates(
        topology,
        catalog,
        deployment,
        service_model,
        slices,
        hosts=deployment.can_host if placement else None,
    )
    options = build_option_table(
        templates,
        len(services),
        requests.zone,
        requests.service,
        rnd,
        wait,
        requests.prompt_tokens,
        requests.output_tokens,
        requests.deadline_s,
        up,
        down,
        dynamics.speed_factor,
        dynamics.slowdown,
        tau,
    )
    s = config.system
    weights = (s.w_tran, s.w_infer, s.w_idle)
    if drop_penalty_j is not None:
        penalty = float(drop_penalty_j)
    elif s.drop_penalty_j is not None:
        penalty = float(s.drop_penalty_j)
    else:
        penalty = drop_penalty_bound_j(options, rnd, n_rounds, weights, idle_w, tau)
    return Instance(
        config=config,
        catalog=catalog,
        topology=topology,
        deployment=deployment,
        services=services,
        service_model=service_model,
        requests=requests,
        dynamics=dynamics,
        round_s=tau,
        n_rounds=n_rounds,
        request_round=rnd,
        request_wait_s=wait,
        request_up_bits=up,
        request_down_bits=down,
        request_kv_bytes=kv,
        server_idle_power_w=idle_w,
        server_active_power_w=active_w,
        server_kv_budget_bytes=deployment.kv_budget_bytes,
        slices=slices,
        templates=templates,
        options=options,
        drop_penalty_j=penalty,
        placement=placement,
    )
