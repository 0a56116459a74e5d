"""Typed configuration schemas (registered in Hydra's ConfigStore by ``perllm_opt.cli``).

Each section is a dataclass; ``__post_init__`` checks values for sense and raises
:class:`~perllm_opt.errors.InputError` naming the key. Hydra needs these schemas mutable
(a frozen schema cannot take overrides); the library treats them as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perllm_opt.errors import (
    InputError,
    require,
    require_int,
    require_non_negative,
    require_positive,
)
from perllm_opt.system.networks import NetworkConfig
from perllm_opt.system.sites import SitesConfig
from perllm_opt.workload.traces import TRACE_FORMATS

MODES = ("continuous", "rounds")


@dataclass
class SystemConfig:
    """Model knobs shared by the simulator, the MILP and the evaluator (docs/model.md).

    Attributes
    ----------
    mode : str
        ``continuous`` (default): requests are dispatched at the next decision epoch
        (``epoch_s``) and hold their compute share and KV memory from dispatch until they
        complete, their link rate only while transmitting; nothing is cut off. ``rounds``:
        rounds of ``round_s`` that share no capacity (docs/model.md, "Time").
    round_s : float
        Rounds mode: round length tau; requests arriving in a round are dispatched at its end
        and must finish within the next round.
    epoch_s : float
        Continuous mode: decision epoch; a request waits at most this long for dispatch.
    sleep_block_s : float
        Continuous mode: a server that may sleep is on during every block of this length
        (from time 0) in which it holds work, and asleep in the others.
    bin_s : float
        Continuous mode: length of the time bins of the per-bin series (cumulative regret).
    rate_levels_mbps : list of float
        Transmission rates a request may reserve on every link of its path.
    bytes_per_token : float
        Text bytes per token for payload sizes (about 4 for English, OpenAI tokenizer docs).
    w_tran, w_infer, w_idle : float
        Objective weights of transmission, inference and idle energy.
    drop_penalty_j : float or None
        Objective cost of a request not served on time, in weighted joules. ``None``: a
        per-instance bound that dominates any energy difference (lexicographic).
    """

    mode: str = "continuous"
    round_s: float = 30.0
    epoch_s: float = 1.0
    sleep_block_s: float = 60.0
    bin_s: float = 30.0
    rate_levels_mbps: list[float] = field(default_factory=lambda: [2.0, 20.0])
    bytes_per_token: float = 4.0
    w_tran: float = 1.0
    w_infer: float = 1.0
    w_idle: float = 1.0
    drop_penalty_j: float | None = None

    def __post_init__(self) -> None:
        require(self.mode in MODES, "system.mode", self.mode, f"one of {list(MODES)}")
        require_positive(self.round_s, "system.round_s")
        require_positive(self.epoch_s, "system.epoch_s")
        require_positive(self.sleep_block_s, "system.sleep_block_s")
        require_positive(self.bin_s, "system.bin_s")
        require(
            len(self.rate_levels_mbps) > 0,
            "system.rate_levels_mbps",
            list(self.rate_levels_mbps),
            "a non-empty list of rates in Mbps",
        )
        for r in self.rate_levels_mbps:
            require_positive(r, "system.rate_levels_mbps")
        require(
            len(set(self.rate_levels_mbps)) == len(self.rate_levels_mbps),
            "system.rate_levels_mbps",
            list(self.rate_levels_mbps),
            "distinct values",
        )
        require_positive(self.bytes_per_token, "system.bytes_per_token")
        for name in ("w_tran", "w_infer", "w_idle"):
            require_non_negative(getattr(self, name), f"system.{name}")
        if self.drop_penalty_j is not None:
            require_positive(self.drop_penalty_j, "system.drop_penalty_j")


@dataclass
class TopologyConfig:
    """Which edge-cloud graph: a preset (``paper``, ``large``), a user file (``path``), or a
    system built on real data: ``preset: zoo`` on the Topology Zoo or SNDlib network
    ``network`` (knobs in ``zoo``), ``preset: eua`` on the EUA sites (knobs in ``eua``).

    ``wan_bandwidth_mbps`` overrides the nominal bandwidth of every link that touches a cloud
    node (the WAN), for bandwidth scenarios. ``nearest_edge_servers`` limits each zone's
    requests to its that many nearest edge servers plus the cloud (None: every server it
    reaches; :func:`perllm_opt.system.topology.nearest_edge_servers`).
    """

    preset: str | None = "paper"
    path: str | None = None
    network: str | None = None
    wan_bandwidth_mbps: float | None = None
    nearest_edge_servers: int | None = None
    zoo: NetworkConfig = field(default_factory=NetworkConfig)
    eua: SitesConfig = field(default_factory=SitesConfig)

    def __post_init__(self) -> None:
        if (self.preset is None) == (self.path is None):
            raise InputError(
                "topology",
                {"preset": self.preset, "path": self.path},
                "exactly one of topology.preset or topology.path",
            )
        if self.network is not None:
            require(
                self.preset == "zoo",
                "topology.network",
                self.network,
                "no network unless topology.preset is 'zoo' (topology=zoo)",
            )
        if self.wan_bandwidth_mbps is not None:
            require_positive(self.wan_bandwidth_mbps, "topology.wan_bandwidth_mbps")
        if self.nearest_edge_servers is not None:
            require_int(
                self.nearest_edge_servers,
                "topology.nearest_edge_servers",
                1,
                "an integer >= 1 (edge servers per zone) or null (every server)",
            )
        if self.preset == "zoo":
            self.zoo.check("topology.zoo")
        elif self.preset == "eua":
            self.eua.check("topology.eua")


@dataclass
class DeploymentConfig:
    """Which models each server hosts.

    ``edge`` and ``cloud`` list the models for every server of that kind; ``servers`` maps a
    server name to its own list and wins over both; a ``models`` attribute on a graph node
    wins over everything. With ``skip_unfit`` a server takes the listed models in order while
    their weights fit its memory and skips the rest (mixed devices); otherwise weights over
    memory are an error.
    """

    name: str = "edge_small"
    edge: list[str] = field(default_factory=lambda: ["llama2-7b"])
    cloud: list[str] = field(default_factory=lambda: ["llama2-7b", "llama2-13b", "llama-33b"])
    servers: dict[str, list[str]] = field(default_factory=dict)
    skip_unfit: bool = False


@dataclass
class ServiceTypeConfig:
    """A service type: its model, token-length distributions and personalised deadlines.

    Token lengths are log-normal (``median``, ``sigma`` of the log), rounded and clipped to
    ``[min, max]``; each request draws its own deadline uniformly in
    ``[deadline_min_s, deadline_max_s]``; attachments (documents, images) add payload bytes.
    ``output_max_tokens`` is also the KV-cache reservation cap, known to schedulers.
    """

    name: str = "assistant"
    model: str = "llama2-7b"
    mix: float = 1.0
    prompt_median_tokens: float = 96.0
    prompt_sigma: float = 0.7
    prompt_min_tokens: int = 8
    prompt_max_tokens: int = 1024
    output_median_tokens: float = 64.0
    output_sigma: float = 0.6
    output_min_tokens: int = 4
    output_max_tokens: int = 256
    deadline_min_s: float = 10.0
    deadline_max_s: float = 40.0
    attachment_median_bytes: float = 0.0
    attachment_sigma: float = 0.0
    attachment_max_bytes: float = 0.0

    def __post_init__(self) -> None:
        w = f"services[{self.name}]"
        require(bool(self.name), f"{w}.name", self.name, "a non-empty name")
        require_non_negative(self.mix, f"{w}.mix")
        require_positive(self.prompt_median_tokens, f"{w}.prompt_median_tokens")
        require_positive(self.output_median_tokens, f"{w}.output_median_tokens")
        require_non_negative(self.prompt_sigma, f"{w}.prompt_sigma")
        require_non_negative(self.output_sigma, f"{w}.output_sigma")
        require(
            1 <= self.prompt_min_tokens <= self.prompt_max_tokens,
            f"{w}.prompt_min_tokens",
            self.prompt_min_tokens,
            f"1 <= prompt_min_tokens <= prompt_max_tokens ({self.prompt_max_tokens})",
        )
        require(
            1 <= self.output_min_tokens <= self.output_max_tokens,
            f"{w}.output_min_tokens",
            self.output_min_tokens,
            f"1 <= output_min_tokens <= output_max_tokens ({self.output_max_tokens})",
        )
        require_positive(self.deadline_min_s, f"{w}.deadline_min_s")
        require(
            self.deadline_max_s >= self.deadline_min_s,
            f"{w}.deadline_max_s",
            self.deadline_max_s,
            f">= deadline_min_s ({self.deadline_min_s})",
        )
        require_non_negative(self.attachment_median_bytes, f"{w}.attachment_median_bytes")
        require_non_negative(self.attachment_sigma, f"{w}.attachment_sigma")
        require(
            self.attachment_max_bytes >= self.attachment_median_bytes,
            f"{w}.attachment_max_bytes",
            self.attachment_max_bytes,
            f">= attachment_median_bytes ({self.attachment_median_bytes})",
        )


def default_services() -> list[ServiceTypeConfig]:
    """The default service mix (conf/services/default.yaml holds the same values)."""
    return [
        ServiceTypeConfig(name="assistant", model="llama2-7b", mix=0.5),
        ServiceTypeConfig(
            name="chat",
            model="llama2-13b",
            mix=0.35,
            prompt_median_tokens=1020.0,
            prompt_sigma=0.99,
            prompt_min_tokens=2,
            prompt_max_tokens=4096,
            output_median_tokens=129.0,
            output_sigma=0.86,
            output_min_tokens=7,
            output_max_tokens=1000,
            deadline_min_s=20.0,
            deadline_max_s=60.0,
        ),
        ServiceTypeConfig(
            name="doc",
            model="llama-33b",
            mix=0.15,
            prompt_median_tokens=1500.0,
            prompt_sigma=0.6,
            prompt_min_tokens=128,
            prompt_max_tokens=4096,
            output_median_tokens=200.0,
            output_sigma=0.6,
            output_min_tokens=16,
            output_max_tokens=1000,
            deadline_min_s=30.0,
            deadline_max_s=90.0,
            attachment_median_bytes=1e6,
            attachment_sigma=0.8,
            attachment_max_bytes=1e7,
        ),
    ]


WORKLOAD_KINDS = ("poisson", "bursty", "trace")


@dataclass
class WorkloadConfig:
    """How requests arrive.

    ``poisson``: rate ``rate_rps``. ``bursty``: a two-state Markov-modulated Poisson process
    with mean rate ``rate_rps``, the high state ``burst_ratio`` times the low one, a share
    ``burst_fraction`` of time in the high state, high periods of mean ``burst_mean_s``.
    ``trace``: arrival times and token counts from a trace file (``trace_format``: an
    Azure-format CSV, a Mooncake-format JSONL, or ``auto``: told by content), the window
    ``[trace_start_s, trace_start_s + horizon)`` of the trace, time-scaled so its mean rate is
    ``rate_rps`` (or its own rate when ``trace_native_rate`` is true).
    """

    kind: str = "poisson"
    rate_rps: float = 1.0
    burst_ratio: float = 8.0
    burst_fraction: float = 0.2
    burst_mean_s: float = 60.0
    zone_weights: list[float] | None = None
    trace_path: str | None = None
    trace_start_s: float = 0.0
    trace_native_rate: bool = False
    trace_format: str = "auto"

    def __post_init__(self) -> None:
        require(
            self.kind in WORKLOAD_KINDS,
            "workload.kind",
            self.kind,
            f"one of {list(WORKLOAD_KINDS)}",
        )
        require_positive(self.rate_rps, "workload.rate_rps")
        require(self.burst_ratio >= 1, "workload.burst_ratio", self.burst_ratio, "a number >= 1")
        require(
            0 < self.burst_fraction < 1,
            "workload.burst_fraction",
            self.burst_fraction,
            "a number in (0, 1)",
        )
        require_positive(self.burst_mean_s, "workload.burst_mean_s")
        if self.zone_weights is not None:
            require(
                len(self.zone_weights) > 0
                and all(x >= 0 for x in self.zone_weights)
                and sum(self.zone_weights) > 0,
                "workload.zone_weights",
                list(self.zone_weights),
                "non-negative weights with a positive sum",
            )
        require_non_negative(self.trace_start_s, "workload.trace_start_s")
        require(
            self.trace_format in TRACE_FORMATS,
            "workload.trace_format",
            self.trace_format,
            f"one of {list(TRACE_FORMATS)}",
        )
        if self.kind == "trace":
            require(
                bool(self.trace_path),
                "workload.trace_path",
                self.trace_path,
                "a trace file when workload.kind is 'trace'",
            )


BANDWIDTH_LINKS = ("fluctuating", "all", "none")
DYNAMICS_PROCESSES = ("walk", "iid")


@dataclass
class DynamicsConfig:
    """Ground-truth fluctuations of the instance (docs/model.md, "Dynamics").

    Link bandwidth is ``nominal * f`` with ``f`` a reflected Gaussian random walk per round
    in ``[bandwidth_min_fraction, 1]`` on the links selected by ``bandwidth_links``
    (``fluctuating``: links marked ``fluctuates`` in the graph). Server slowdown is a
    reflected random walk in ``[1, slowdown_max]``. Both processes step every ``interval_s``
    seconds and hold their value in between (a round of rounds mode takes the value at its
    start; a request in continuous mode the slowdown at its dispatch). Each server's true
    speed differs from its public profile by a log-normal factor of log-sd ``speed_sigma``
    (clipped to ``[speed_min, speed_max]``).

    ``process: iid`` draws bandwidth and slowdown independently each interval from the same
    stationary laws (uniform) instead of the walk. ``drift_fraction`` of the servers (chosen
    at random) change speed at ``drift_at_fraction`` of the horizon: each one's factor is
    multiplied by ``drift_factor`` or its inverse, with equal chance (a co-located job
    starting on some boxes and ending on others). Presets: ``conf/dynamics/``.
    """

    bandwidth_links: str = "fluctuating"
    interval_s: float = 30.0
    bandwidth_min_fraction: float = 0.3
    bandwidth_step: float = 0.15
    slowdown_max: float = 1.5
    slowdown_step: float = 0.1
    speed_sigma: float = 0.15
    speed_min: float = 0.5
    speed_max: float = 2.0
    process: str = "walk"
    drift_fraction: float = 0.0
    drift_factor: float = 1.0
    drift_at_fraction: float = 0.5

    def __post_init__(self) -> None:
        require(
            self.process in DYNAMICS_PROCESSES,
            "dynamics.process",
            self.process,
            f"one of {list(DYNAMICS_PROCESSES)}",
        )
        require_positive(self.speed_min, "dynamics.speed_min")
        require(
            self.speed_max >= self.speed_min,
            "dynamics.speed_max",
            self.speed_max,
            f"a number >= dynamics.speed_min ({self.speed_min})",
        )
        require(
            0 <= self.drift_fraction <= 1,
            "dynamics.drift_fraction",
            self.drift_fraction,
            "a fraction in [0, 1]",
        )
        require_positive(self.drift_factor, "dynamics.drift_factor")
        require(
            0 <= self.drift_at_fraction <= 1,
            "dynamics.drift_at_fraction",
            self.drift_at_fraction,
            "a fraction of the horizon in [0, 1]",
        )
        require(
            self.bandwidth_links in BANDWIDTH_LINKS,
            "dynamics.bandwidth_links",
            self.bandwidth_links,
            f"one of {list(BANDWIDTH_LINKS)}",
        )
        require_positive(self.interval_s, "dynamics.interval_s")
        require(
            0 < self.bandwidth_min_fraction <= 1,
            "dynamics.bandwidth_min_fraction",
            self.bandwidth_min_fraction,
            "a number in (0, 1]",
        )
        require_non_negative(self.bandwidth_step, "dynamics.bandwidth_step")
        require(self.slowdown_max >= 1, "dynamics.slowdown_max", self.slowdown_max, "a number >= 1")
        require_non_negative(self.slowdown_step, "dynamics.slowdown_step")
        require_non_negative(self.speed_sigma, "dynamics.speed_sigma")


@dataclass
class CalibrationConfig:
    """Where model and device numbers come from, and single-field overrides for sweeps.

    Attributes
    ----------
    models_file, devices_file : str or None
        Files in the format of ``perllm_opt/data/{models,devices}.yaml`` that replace the
        packaged, cited ones (``None``: the packaged ones).
    extra_devices_file : str or None
        A file in the format of ``devices.yaml`` whose devices are added to those of
        ``devices_file``: a user's own device without copying the packaged ones.
    overrides : dict
        Single-field overrides per device, e.g. ``{a100-80gb: {idle_power_w: 60}}``.
    """

    models_file: str | None = None
    devices_file: str | None = None
    extra_devices_file: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class InstanceConfig:
    """Everything that defines one realised instance (what the simulator and MILP share)."""

    seed: int = 0
    horizon_s: float = 600.0
    system: SystemConfig = field(default_factory=SystemConfig)
    topology: TopologyConfig = field(default_factory=TopologyConfig)
    deployment: DeploymentConfig = field(default_factory=DeploymentConfig)
    services: list[ServiceTypeConfig] = field(default_factory=default_services)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    #: Memory a run may use (GB); None: half the machine's physical memory. A run estimated
    #: to need more is refused before anything large is allocated
    #: (perllm_opt/instance/size_guard.py).
    memory_budget_gb: float | None = None

    def __post_init__(self) -> None:
        if self.memory_budget_gb is not None:
            require_positive(self.memory_budget_gb, "memory_budget_gb")
        require(
            isinstance(self.seed, int) and self.seed >= 0,
            "seed",
            self.seed,
            "a non-negative integer",
        )
        require_positive(self.horizon_s, "horizon_s")
        require(
            len(self.services) > 0, "services", list(self.services), "at least one service type"
        )
        names = [s.name for s in self.services]
        require(len(set(names)) == len(names), "services", names, "distinct service names")
        require(
            sum(s.mix for s in self.services) > 0,
            "services[*].mix",
            [s.mix for s in self.services],
            "mix weights with a positive sum",
        )


SOLVER_OBJECTIVES = ("lexicographic", "weighted")
SOLVER_BACKENDS = ("local", "ray")


@dataclass
class TuningConfig:
    """A tuning trial (``experiment=tune``, docs/experiments.md): when ``seeds`` is not
    empty, one run of ``perllm-opt`` evaluates the configured schedulers on every seed and
    every load of ``rates_rps`` (optimum skipped) and returns its score to the sweeper: the
    on-time requests summed over those runs, minus ``energy_tiebreak_per_j`` times their
    energy (a tie-break: on-time requests first, then least energy).

    Attributes
    ----------
    seeds : list of int
        Tuning seeds (the protocol uses 100-104 only; reported experiments use 0-4).
    rates_rps : list of float
        Loads to tune on (``workload.rate_rps``); empty: the configured one.
    energy_tiebreak_per_j : float
    """

    seeds: list[int] = field(default_factory=list)
    rates_rps: list[float] = field(default_factory=list)
    energy_tiebreak_per_j: float = 1e-9

    def __post_init__(self) -> None:
        for s in self.seeds:
            require(int(s) >= 0, "tuning.seeds", s, "non-negative integer seeds")
        for r in self.rates_rps:
            require(0 < float(r) < float("inf"), "tuning.rates_rps", r, "positive loads")
        require(
            0 <= self.energy_tiebreak_per_j < 1e-3,
            "tuning.energy_tiebreak_per_j",
            self.energy_tiebreak_per_j,
            "a small non-negative number (a tie-break, not a trade-off)",
        )


@dataclass
class SolverConfig:
    """The exact optimum: which MILP solver and how hard to try.

    ``objective``: ``lexicographic`` solves for the most requests on time, then the least
    weighted energy with that count fixed; ``weighted`` solves once with the drop penalty.
    ``lp_relaxation`` reports the LP bound instead of solving the MILP (large instances).
    ``reduce`` removes the rows, options and requests no optimum needs (milp/reduce.py; the
    optimum is unchanged). ``warm_start`` starts stage 2 from stage 1's solution and stage 1
    from the best scheduler's on-time set (off by default: a started model needs HiGHS's
    presolve off, which costs more than the start saves; docs/model.md).
    ``workers`` solves independent subproblems (rounds, windows) in that many processes, on
    this machine (``backend=local``) or as Ray tasks (``backend=ray``: the cluster at
    ``ray_address`` or ``RAY_ADDRESS``, else a local Ray on loopback); the result is the
    serial one. ``window_s`` (continuous mode) splits each independent window longer than
    that into blocks of ``window_s`` seconds of dispatch times: a rolling plan solves the
    blocks in turn with the earlier blocks' choices fixed, and a Lagrangian bound (the
    window's LP prices on the rows that cross blocks) certifies its gap
    (milp/rolling.py); ``null`` solves each window as one MILP. ``checks`` (HiGHS only) ends
    each MIP search at its ``checks``-th interrupt check (after each root separation round
    and at each node): a budget at the same point on every machine, so a time-limited
    optimum reproduces as long as ``time_limit_s``, then only a guard, is not met first
    (milp/highs_direct.py, ``stop_after_checks``); ``null``: the time limit alone.
    ``search`` (continuous mode): a window whose whole MILP (skipped above
    ``whole_max_options`` options) ends more than ``search_gap`` of its on-time requests
    from its bound gets its LP bound and fix-and-optimize over stretches of
    ``search_window_s`` seconds (milp/window_search.py): up to ``search_passes`` passes on
    the unserved count, then ``search_polish_passes`` on the energy, each sub-MILP within
    ``search_checks`` interrupt checks and started from the current plan if ``search_warm``.
    A window of more than ``lp_max_options`` options (``null``: never) gets that LP bound
    by blocks of ``lp_block_s`` seconds of dispatch times (milp/block_lp.py), which scales
    with the horizon where one LP does not.
    ``placement_moves`` and ``placement_nodes`` budget ``placement=optimize`` in continuous
    mode (milp/placement_search.py): how many neighbour deployments its local search tries, and how
    many LP relaxations its bound's branching over the deployment solves (the root's at
    least).
    """

    name: str = "highs"
    time_limit_s: float = 30.0
    mip_rel_gap: float = 1e-6
    threads: int = 1
    objective: str = "lexicographic"
    lp_relaxation: bool = False
    reduce: bool = True
    warm_start: bool = False
    workers: int = 1
    backend: str = "local"
    ray_address: str | None = None
    window_s: float | None = None
    lookahead_blocks: int = 3
    lookahead_relaxed: bool = True
    improve_passes: int = 1
    checks: int | None = None
    search: bool = True
    search_window_s: float = 60.0
    search_passes: int = 4
    search_polish_passes: int = 1
    search_checks: int = 50
    search_warm: bool = True
    search_gap: float = 0.01
    whole_max_options: int = 20000
    lp_max_options: int | None = 100000
    lp_block_s: float = 120.0
    placement_moves: int = 3
    placement_nodes: int = 8

    def __post_init__(self) -> None:
        require(bool(self.name), "solver.name", self.name, "a solver name such as 'highs'")
        require_positive(self.time_limit_s, "solver.time_limit_s")
        require(
            0 <= self.mip_rel_gap < 1, "solver.mip_rel_gap", self.mip_rel_gap, "a number in [0, 1)"
        )
        require(
            isinstance(self.threads, int) and self.threads >= 1,
            "solver.threads",
            self.threads,
            "a positive integer",
        )
        require(
            self.objective in SOLVER_OBJECTIVES,
            "solver.objective",
            self.objective,
            f"one of {list(SOLVER_OBJECTIVES)}",
        )
        require_int(
            self.workers,
            "solver.workers",
            1,
            "a positive integer (processes solving subproblems at once)",
        )
        require(
            self.backend in SOLVER_BACKENDS,
            "solver.backend",
            self.backend,
            f"one of {list(SOLVER_BACKENDS)}",
        )
        if self.window_s is not None:
            require_positive(self.window_s, "solver.window_s")
        if self.checks is not None:
            require_int(
                self.checks,
                "solver.checks",
                1,
                "an integer >= 1 (HiGHS interrupt checks per MIP search) or null",
            )
        require_int(
            self.lookahead_blocks,
            "solver.lookahead_blocks",
            0,
            "an integer >= 0 (blocks after the current one that the rolling plan looks at)",
        )
        require_int(
            self.improve_passes,
            "solver.improve_passes",
            0,
            "an integer >= 0 (fix-and-optimize passes over the rolling plan)",
        )
        require_positive(self.search_window_s, "solver.search_window_s")
        require_positive(self.lp_block_s, "solver.lp_block_s")
        if self.lp_max_options is not None:
            require_int(
                self.lp_max_options,
                "solver.lp_max_options",
                0,
                "an integer >= 0 (above it a window's LP bound is taken by blocks) or null",
            )
        require(
            0 <= self.search_gap < 1, "solver.search_gap", self.search_gap, "a number in [0, 1)"
        )
        for key, least in (
            ("search_passes", 0),
            ("search_polish_passes", 0),
            ("search_checks", 1),
            ("whole_max_options", 0),
        ):
            require_int(getattr(self, key), f"solver.{key}", least, f"an integer >= {least}")
        for key in ("placement_moves", "placement_nodes"):
            require_int(
                getattr(self, key),
                f"solver.{key}",
                0,
                "an integer >= 0 (placement=optimize in continuous mode: neighbour "
                "deployments the search tries, LP relaxations of the bound's branching)",
            )


PLACEMENTS = ("fixed", "optimize")


@dataclass
class AppConfig(InstanceConfig):
    """The main command's configuration (``conf/config.yaml``).

    Attributes
    ----------
    schedulers : list of str
        Which schedulers to run, by config name (``conf/scheduler/<name>.yaml``).
    scheduler : dict
        Every scheduler's settings: ``_target_`` and hyperparameters.
    optimal : bool
        Also solve the MILP optimum and report regret and energy gap.
    placement : str
        ``fixed``: the configured deployment; ``optimize``: the MILP also chooses it.
    solver : SolverConfig
    progress : bool
        Progress bars on long runs.
    plot : bool
        At the end of a run, write its figures and ``report.html`` (``perllm-opt-plot``).
    overwrite : bool
        Let a single run replace a complete run of another config in its ``hydra.run.dir``
        (refused otherwise, so that no result is lost unasked).
    tuning : TuningConfig
        Off unless ``tuning.seeds`` is set (``experiment=tune``).
    """

    schedulers: list[str] = field(default_factory=list)
    scheduler: dict[str, Any] = field(default_factory=dict)
    optimal: bool = True
    placement: str = "fixed"
    solver: SolverConfig = field(default_factory=SolverConfig)
    progress: bool = True
    overwrite: bool = False
    plot: bool = False
    tuning: TuningConfig = field(default_factory=TuningConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.placement in PLACEMENTS, "placement", self.placement, f"one of {list(PLACEMENTS)}"
        )
        unknown = [s for s in self.schedulers if s not in self.scheduler]
        if unknown:
            raise InputError(
                "schedulers", unknown[0], f"a configured scheduler, one of {sorted(self.scheduler)}"
            )
        require(
            len(set(self.schedulers)) == len(self.schedulers),
            "schedulers",
            list(self.schedulers),
            "distinct names",
        )
