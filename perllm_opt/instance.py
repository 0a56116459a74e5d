"""The realised instance: topology, deployment, requests, dynamics and the option table.

:func:`build_instance` is the single path from an :class:`~perllm_opt.config.InstanceConfig`
to everything the simulator, the MILP and the evaluator read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from perllm_opt import delays, timeline
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
from perllm_opt.size_guard import SizeEstimate, check_size, estimate_size
from perllm_opt.topology import Topology, build_graph_from, topology_from_graph
from perllm_opt.trace import resolve_trace_path
from perllm_opt.workload.generator import Requests, generate_requests


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


def option_spans(
    options: OptionTable,
    dispatch_s: np.ndarray,
    can_sleep: np.ndarray,
    block_s: float,
    opts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The time span through which each option in ``opts`` couples with others: its
    dispatch-to-completion interval, widened to whole sleep blocks on a server that sleeps
    (two options in one block share that server's on state)."""
    start = dispatch_s[options.request[opts]]
    end = start + options.service_s[opts]
    sleepy = can_sleep[options.server[opts]]
    first, last = timeline.block_span(start, end, block_s)
    start = np.where(sleepy, first * block_s, start)
    end = np.where(sleepy, (last + 1) * block_s, end)
    return start, end


def continuous_windows(
    options: OptionTable,
    n_requests: int,
    dispatch_s: np.ndarray,
    can_sleep: np.ndarray,
    block_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Independent windows of continuous mode: requests whose on-time options can never
    share a resource at the same time (nor a sleep block) fall in different windows.

    Returns the window of each request (-1 without an on-time option) and each window's
    start and end (s).
    """
    window = np.full(n_requests, -1, dtype=np.int64)
    on = np.flatnonzero(options.on_time)
    if len(on) == 0:
        return window, np.empty(0), np.empty(0)
    start, end = option_spans(options, dispatch_s, can_sleep, block_s, on)
    req = options.request[on]
    r_start = np.full(n_requests, np.inf)
    r_end = np.full(n_requests, -np.inf)
    np.minimum.at(r_start, req, start)
    np.maximum.at(r_end, req, end)
    has = np.flatnonzero(np.isfinite(r_start))
    label = timeline.merge_spans(r_start[has], r_end[has])
    window[has] = label
    n_w = int(label.max()) + 1
    w_start = np.full(n_w, np.inf)
    w_end = np.full(n_w, -np.inf)
    np.minimum.at(w_start, label, r_start[has])
    np.maximum.at(w_end, label, r_end[has])
    return window, w_start, w_end


def continuous_drop_penalty_j(
    options: OptionTable,
    window: np.ndarray,
    w_start: np.ndarray,
    w_end: np.ndarray,
    weights: tuple[float, float, float],
    idle_power_w: np.ndarray,
    block_s: float,
) -> float:
    """A drop penalty that dominates every energy difference within a window.

    Within a window, two solutions' weighted energies differ by at most the sum over its
    requests of their costliest option plus the idle power of every server over the window
    (two sleep blocks of slack at its ends); windows share nothing, so one more request on
    time in a window always pays off with a penalty above the largest such bound.
    """
    w_tran, w_infer, w_idle = weights
    per_opt = w_tran * options.energy_tran_j + w_infer * options.energy_infer_j
    best = np.zeros(len(window))
    on = np.flatnonzero(options.on_time)
    np.maximum.at(best, options.request[on], per_opt[on])
    if len(w_start) == 0:
        return 1.0
    has = window >= 0
    per_w = np.bincount(window[has], weights=best[has], minlength=len(w_start))
    idle = w_idle * float(idle_power_w.sum()) * (w_end - w_start + 2 * block_s)
    return float(np.ceil((per_w + idle).max() + 1.0))


def instance_size(
    config: InstanceConfig,
    templates: Sequence[Template],
    n_links_servers: int,
    round_s: float,
    n_sleep_servers: int = 0,
    n_schedulers: int = 1,
) -> SizeEstimate:
    """The expected size of ``config``'s instance, from its templates: requests
    (rate x horizon; a trace gives at most its rows), options (each request is offered its
    template's candidates, averaged over zones and weighted by the service mix), epochs or
    rounds, bins of the per-bin series (rounds mode: the rounds), sleep blocks and dynamics
    intervals."""
    w = config.workload
    requests = float(w.rate_rps) * float(config.horizon_s)
    if w.kind == "trace" and w.trace_path:
        path = resolve_trace_path(str(w.trace_path))
        if path.is_file():
            with path.open("rb") as fh:
                rows = sum(1 for _ in fh)
            requests = rows if w.trace_native_rate else min(requests, rows)
    n_services = len(config.services)
    mix = np.asarray([s.mix for s in config.services], dtype=float)
    per_service = np.zeros(n_services)
    for t in templates:
        per_service[t.service] += len(t.server)
    n_zones = max(len(templates) // max(n_services, 1), 1)
    options_per_request = float(per_service @ mix / mix.sum()) / n_zones
    horizon = float(config.horizon_s)
    rounds = math.ceil(horizon / round_s)
    continuous = config.system.mode == "continuous"
    return estimate_size(
        requests,
        options_per_request,
        rounds=rounds,
        intervals=math.ceil(horizon / float(config.dynamics.interval_s)),
        n_links_servers=n_links_servers,
        n_schedulers=n_schedulers,
        bins=math.ceil(horizon / float(config.system.bin_s)) if continuous else rounds,
        sleep_blocks=math.ceil(horizon / float(config.system.sleep_block_s)) if continuous else 0,
        n_sleep_servers=n_sleep_servers,
    )


def size_keys(config: InstanceConfig, options_keys: str) -> tuple[str, dict[str, str]]:
    """The keys a refusal of the size guard names: ``options_keys`` for the options (led by
    ``system.rate_levels_mbps`` when its levels multiply them tenfold or more), and the
    round length for the rounds of rounds mode."""
    if len(config.system.rate_levels_mbps) >= 10:
        options_keys = f"system.rate_levels_mbps, {options_keys}"
    rounds = config.system.mode == "rounds"
    key = "system.round_s" if rounds else "system.epoch_s"
    return options_keys, {"rounds": key, "bins": "system.round_s" if rounds else "system.bin_s"}


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
    graph = build_graph_from(config.topology, catalog)
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
    # Refuse, before allocating, a run that cannot fit in memory (perllm_opt/size_guard.py).
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
    workload = config.workload
    if workload.zone_weights is None and topology.zone_weight is not None:
        # The topology's zone weights (SNDlib demands, EUA users) unless the config gives some.
        workload = replace(workload, zone_weights=topology.zone_weight.tolist())
    requests = generate_requests(workload, services, topology.n_zones, config.horizon_s, streams)
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
