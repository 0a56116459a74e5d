"""Build the realised instance: :func:`build_instance` is the single path from an
:class:`~perllm_opt.config.InstanceConfig` to everything the simulator, the MILP and the
evaluator read.
"""

from __future__ import annotations

import numpy as np

from perllm_opt.config import InstanceConfig
from perllm_opt.errors import InputError
from perllm_opt.instance import delays
from perllm_opt.instance.dynamics import realise_dynamics
from perllm_opt.instance.options import (
    build_option_table,
    build_slices,
    build_templates,
)
from perllm_opt.instance.penalty import continuous_drop_penalty_j, drop_penalty_bound_j
from perllm_opt.instance.realised import Instance
from perllm_opt.instance.size_guard import check_size, instance_size, size_keys
from perllm_opt.instance.windows import continuous_windows
from perllm_opt.rng import RngStreams
from perllm_opt.system.catalog import Catalog, load_catalog
from perllm_opt.system.deployment import resolve_deployment
from perllm_opt.system.topology import build_graph, topology_from_graph
from perllm_opt.workload.generator import generate_requests


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
        The candidates include every (server, model) the devices can host, not only the
        configured deployment: the option table the placement MILP needs. The requests and
        dynamics are the same as without it.
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
        catalog = load_catalog(
            config.calibration.models_file,
            config.calibration.devices_file,
            dict(config.calibration.overrides or {}),
            extra_devices_path=config.calibration.extra_devices_file,
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

    continuous = config.system.mode == "continuous"
    tau = float(config.system.epoch_s if continuous else config.system.round_s)
    slices = build_slices(topology, catalog, config.system.rate_levels_mbps)
    templates = build_templates(
        topology,
        catalog,
        deployment,
        service_model,
        slices,
        hosts=deployment.can_host if placement else None,
    )
    # Refuse, before allocating, a run that cannot fit in memory (instance/size_guard.py).
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
    n_rounds = int(np.ceil(config.horizon_s / tau))
    requests = generate_requests(
        config.workload, services, topology.n_zones, config.horizon_s, streams
    )
    n_intervals = int(np.ceil(config.horizon_s / config.dynamics.interval_s))
    dynamics = realise_dynamics(config.dynamics, topology, n_intervals, streams)

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

    options = build_option_table(
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
        np.inf if continuous else tau,
    )
    s = config.system
    weights = (s.w_tran, s.w_infer, s.w_idle)
    window = None
    accounting_end = 0.0
    if continuous:
        accounting_end = float(config.horizon_s + max(sv.deadline_max_s for sv in services))
        window, w_start, w_end = continuous_windows(
            options, len(requests), dispatch, topology.server_can_sleep, s.sleep_block_s
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
        mode=config.system.mode,
        request_dispatch_s=dispatch,
        round_bandwidth_mbps=round_bw,
        accounting_end_s=accounting_end,
        request_window=window,
        request_interval=dyn_index,
    )
