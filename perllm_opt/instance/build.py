"""Build the realised instance: :func:`build_instance` is the single path from an
:class:`~perllm_opt.config.InstanceConfig` to everything the simulator, the MILP and the
evaluator read.
"""

from __future__ import annotations

from dataclasses import replace

import networkx as nx
import numpy as np

from perllm_opt.config import InstanceConfig, ServiceTypeConfig
from perllm_opt.errors import InputError
from perllm_opt.instance import delays
from perllm_opt.instance.dynamics import Dynamics, realise_dynamics
from perllm_opt.instance.options import (
    OptionTable,
    ServerSlices,
    Template,
    build_option_table,
    build_slices,
    build_templates,
)
from perllm_opt.instance.penalty import continuous_drop_penalty_j, drop_penalty_bound_j
from perllm_opt.instance.realised import Instance
from perllm_opt.instance.size_guard import check_size, instance_size, size_keys
from perllm_opt.instance.windows import continuous_windows
from perllm_opt.rng import RngStreams
from perllm_opt.system.build import build_graph_from
from perllm_opt.system.catalog import Catalog, load_catalog
from perllm_opt.system.deployment import Deployment, resolve_deployment
from perllm_opt.system.topology import Topology, nearest_edge_servers, topology_from_graph
from perllm_opt.workload.generator import Requests, generate_requests


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


def build_instance(
    config: InstanceConfig,
    catalog: Catalog | None = None,
    placement: bool = False,
    drop_penalty_j: float | None = None,
) -> Instance:
    """Build the realised instance described by ``config`` (deterministic in its seed).

    Parameters
    ----------
    config : InstanceConfig
        Or an :class:`~perllm_opt.config.AppConfig` (``perllm_opt.load_config``).
    catalog : Catalog, optional
        Models and devices; by default loaded from ``config.calibration``.
    placement : bool
        Every (server, model) the devices can host is a candidate, not only the configured
        deployment (the option table of the placement MILP); requests and dynamics unchanged.
    drop_penalty_j : float, optional
        Overrides the penalty (to score two instances of the same requests on one scale).

    Returns
    -------
    Instance

    Raises
    ------
    InputError
        For a config, file or graph that makes no sense (naming the key and the value).
    """
    streams = RngStreams(config.seed)
    if catalog is None:
        catalog = _catalog(config)
    services = tuple(config.services)
    continuous = config.system.mode == "continuous"
    tau = float(config.system.epoch_s if continuous else config.system.round_s)
    topology, deployment, service_model, slices, templates = _system(
        config, catalog, services, tau, placement
    )
    n_rounds = int(np.ceil(config.horizon_s / tau))
    requests = _requests(config, services, topology, streams)
    dynamics = _dynamics(config, topology, streams)
    rnd, dispatch, wait, dyn_index, round_bw = _epochs(
        requests, dynamics, tau, n_rounds, continuous
    )
    up, down, kv = _request_loads(config, catalog, deployment, service_model, services, requests)
    idle_w, active_w = _server_power_w(config, catalog, topology)
    cap_s = np.inf if continuous else tau  # rounds mode: a request must finish in its round
    options = _option_table(
        templates, services, requests, dynamics, dyn_index, wait, up, down, cap_s
    )
    window, penalty = _windows_and_penalty(
        config, options, rnd, n_rounds, dispatch, topology, idle_w, drop_penalty_j
    )
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
        mode=config.system.mode,
        request_dispatch_s=dispatch,
        round_bandwidth_mbps=round_bw,
        accounting_end_s=_accounting_end_s(config, services),
        request_window=window,
        request_interval=dyn_index,
    )


def _system(
    config: InstanceConfig,
    catalog: Catalog,
    services: tuple[ServiceTypeConfig, ...],
    tau: float,
    placement: bool,
) -> tuple[Topology, Deployment, np.ndarray, ServerSlices, tuple[Template, ...]]:
    """The topology, the deployment, each service's model, the bandwidth slices and the
    option templates (every (server, model) the devices can host with ``placement``); a run
    too large for the memory budget is refused here, before any request is drawn."""
    topology = topology_from_graph(_graph(config, catalog), catalog)
    if config.topology.nearest_edge_servers is not None:
        topology = nearest_edge_servers(topology, config.topology.nearest_edge_servers)
    deployment = resolve_deployment(
        topology, catalog, config.deployment, [s.model for s in services]
    )
    service_model = np.asarray([deployment.model_index(s.model) for s in services])
    slices = build_slices(topology, catalog, config.system.rate_levels_mbps)
    hosts = deployment.can_host if placement else None
    templates = build_templates(topology, catalog, deployment, service_model, slices, hosts=hosts)
    _check_size(config, templates, topology, tau)
    return topology, deployment, service_model, slices, templates


def _dynamics(config: InstanceConfig, topology: Topology, streams: RngStreams) -> Dynamics:
    """The realised bandwidth, slowdown and speed factors over the horizon's intervals."""
    n_intervals = int(np.ceil(config.horizon_s / config.dynamics.interval_s))
    return realise_dynamics(config.dynamics, topology, n_intervals, streams)


def _request_loads(
    config: InstanceConfig,
    catalog: Catalog,
    deployment: Deployment,
    service_model: np.ndarray,
    services: tuple[ServiceTypeConfig, ...],
    requests: Requests,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each request's uplink bits (prompt and attachment), downlink bits (output) and KV
    bytes (:func:`_kv_bytes`)."""
    bpt = config.system.bytes_per_token
    up = delays.uplink_bits(requests.prompt_tokens, requests.attachment_bytes, bpt)
    down = delays.downlink_bits(requests.output_tokens, bpt)
    return up, down, _kv_bytes(catalog, deployment, service_model, services, requests)


def _accounting_end_s(config: InstanceConfig, services: tuple[ServiceTypeConfig, ...]) -> float:
    """Continuous mode: when energy stops being counted (the horizon plus the longest
    deadline, so every admitted request can finish); 0 in rounds mode."""
    if config.system.mode != "continuous":
        return 0.0
    return float(config.horizon_s + max(sv.deadline_max_s for sv in services))


def _catalog(config: InstanceConfig) -> Catalog:
    """The models and devices ``config.calibration`` names (published values by default)."""
    return load_catalog(
        config.calibration.models_file,
        config.calibration.devices_file,
        dict(config.calibration.overrides or {}),
        extra_devices_path=config.calibration.extra_devices_file,
    )


def _option_table(
    templates: tuple[Template, ...],
    services: tuple[ServiceTypeConfig, ...],
    requests: Requests,
    dynamics: Dynamics,
    dyn_index: np.ndarray,
    wait: np.ndarray,
    up: np.ndarray,
    down: np.ndarray,
    time_cap_s: float,
) -> OptionTable:
    """Every request's options under the realised dynamics (:func:`build_option_table`)."""
    return build_option_table(
        templates,
        len(services),
        requests.zone,
        requests.service,
        dyn_index,
        wait,
        requests.prompt_tokens,
        requests.output_tokens,
        requests.deadline_s,
        up,
        down,
        dynamics.speed_factor,
        dynamics.time_factor(),
        time_cap_s,
    )


def _epochs(
    requests: Requests, dynamics: Dynamics, tau: float, n_rounds: int, continuous: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Each request's decision epoch (round), dispatch time, wait and the dynamics interval
    it meets, and (rounds mode) each round's bandwidth per link."""
    rnd = np.minimum((requests.arrival_s // tau).astype(np.int64), n_rounds - 1)
    dispatch = (rnd + 1) * tau
    wait = dispatch - requests.arrival_s
    if continuous:
        dyn_index = dynamics.interval_of(dispatch)
        round_bw = None  # capacities are checked over time (timeline.py), not per round
    else:
        # A round takes the conditions of the interval holding its start.
        round_dyn = dynamics.interval_of(np.arange(n_rounds) * tau)
        dyn_index = round_dyn[rnd]
        round_bw = dynamics.bandwidth_mbps[:, round_dyn]
    return rnd, dispatch, wait, dyn_index, round_bw


def _requests(
    config: InstanceConfig,
    services: tuple[ServiceTypeConfig, ...],
    topology: Topology,
    streams: RngStreams,
) -> Requests:
    """The realised requests; zones drawn by the topology's zone weights (SNDlib demands,
    EUA users) unless the config gives some."""
    workload = config.workload
    if workload.zone_weights is None and topology.zone_weight is not None:
        workload = replace(workload, zone_weights=topology.zone_weight.tolist())
    return generate_requests(workload, services, topology.n_zones, config.horizon_s, streams)


def _graph(config: InstanceConfig, catalog: Catalog) -> nx.Graph:
    """The configured topology graph (device names checked against ``catalog``), with
    ``topology.wan_bandwidth_mbps`` (when set) on every link of a cloud."""
    graph = build_graph_from(config.topology, catalog)
    if config.topology.wan_bandwidth_mbps is not None:
        graph = graph.copy()
        clouds = {n for n, d in graph.nodes(data=True) if d.get("kind") == "cloud"}
        for u, v, d in graph.edges(data=True):
            if u in clouds or v in clouds:
                d["bandwidth_mbps"] = float(config.topology.wan_bandwidth_mbps)
    return graph


def _check_size(
    config: InstanceConfig, templates: tuple[Template, ...], topology: Topology, tau: float
) -> None:
    """Refuse, before allocating, a run that cannot fit in memory (instance/size_guard.py)."""
    keys, term_keys = size_keys(config, "horizon_s, workload.rate_rps, topology")
    check_size(
        instance_size(
            config,
            templates,
            topology.n_links + topology.n_servers,
            tau,
            n_sleep_servers=int(np.count_nonzero(topology.server_can_sleep)),
        ),
        config.memory_budget_gb,
        keys,
        term_keys,
    )


def _kv_bytes(
    catalog: Catalog,
    deployment: Deployment,
    service_model: np.ndarray,
    services: tuple[ServiceTypeConfig, ...],
    requests: Requests,
) -> np.ndarray:
    """KV memory each request holds: its model's bytes per token over its prompt and the
    longest output its service allows."""
    cap = np.asarray([s.output_max_tokens for s in services])[requests.service]
    kv_per_tok = np.asarray(
        [catalog.models[deployment.models[m]].kv_bytes_per_token for m in service_model]
    )[requests.service]
    return kv_per_tok * (requests.prompt_tokens + cap)


def _server_power_w(
    config: InstanceConfig, catalog: Catalog, topology: Topology
) -> tuple[np.ndarray, np.ndarray]:
    """Idle and active power of each server (its device's, times its count of devices),
    checked against the energy weights (:func:`_check_weights`)."""
    count = topology.server_count.astype(float)
    idle_w = np.asarray([catalog.devices[d].idle_power_w for d in topology.server_device]) * count
    active_w = (
        np.asarray([catalog.devices[d].active_power_w for d in topology.server_device]) * count
    )
    _check_weights(config, idle_w, active_w, topology.servers)
    return idle_w, active_w


def _windows_and_penalty(
    config: InstanceConfig,
    options: OptionTable,
    rnd: np.ndarray,
    n_rounds: int,
    dispatch: np.ndarray,
    topology: Topology,
    idle_w: np.ndarray,
    drop_penalty_j: float | None,
) -> tuple[np.ndarray | None, float]:
    """Continuous mode's independent windows (None in rounds mode) and the drop penalty:
    ``drop_penalty_j``, else ``system.drop_penalty_j``, else one that dominates every
    energy difference within a window (continuous) or a round."""
    s = config.system
    continuous = s.mode == "continuous"
    weights = (s.w_tran, s.w_infer, s.w_idle)
    window = None
    if continuous:
        window, w_start, w_end = continuous_windows(
            options, len(rnd), dispatch, topology.server_can_sleep, s.sleep_block_s
        )
    if drop_penalty_j is not None:
        penalty = float(drop_penalty_j)
    elif s.drop_penalty_j is not None:
        penalty = float(s.drop_penalty_j)
    elif continuous:
        penalty = continuous_drop_penalty_j(
            options, window, w_start, w_end, weights, idle_w, s.sleep_block_s
        )
    else:
        tau = float(s.round_s)
        penalty = drop_penalty_bound_j(options, rnd, n_rounds, weights, idle_w, tau)
    return window, penalty
