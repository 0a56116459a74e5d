"""Helpers shared by the tests (imported as ``support``; fixtures live in conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import yaml

from perllm_opt.config import (
    CalibrationConfig,
    DeploymentConfig,
    DynamicsConfig,
    InstanceConfig,
    ServiceTypeConfig,
    SystemConfig,
    TopologyConfig,
    WorkloadConfig,
)
from perllm_opt.instance.assignment import ADMITTED, DECLINED, Assignment
from perllm_opt.instance.build import build_instance
from perllm_opt.instance.realised import Instance
from perllm_opt.schedulers.base import DECLINE, Scheduler
from perllm_opt.schedulers.factory import load_scheduler_spec, make_scheduler
from perllm_opt.simulation.view import Feedback, RoundView

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "conf"
DATA = Path(__file__).resolve().parent / "data"
SCHEDULER_NAMES = tuple(sorted(p.stem for p in (CONF / "scheduler").glob("*.yaml")))
#: Every scheduler but the ablations that only change CS-UCB's parameters on code paths
#: cs_ucb (fast plan), cs_ucb_milp (exact plan) and cs_ucb_greedy (greedy plan) already
#: cover: the generic invariant tests run these (tests/test_cs_ucb.py covers the ablations
#: themselves).
DISTINCT_SCHEDULERS = tuple(
    n for n in SCHEDULER_NAMES if n not in ("cs_ucb_static", "cs_ucb_no_price")
)


def scheduler_spec(name: str) -> dict:
    """The hyperparameters of conf/scheduler/<name>.yaml (Hydra's defaults list dropped)."""
    return load_scheduler_spec(CONF / "scheduler" / f"{name}.yaml")


def scheduler_from_conf(name: str) -> Scheduler:
    return make_scheduler(name, scheduler_spec(name))


def small_config(seed: int = 0, **kw) -> InstanceConfig:
    """A small instance of the default model: 120 s at 1 request/s, rounds mode unless a
    ``system`` is given (continuous mode has its own tests, tests/test_continuous.py)."""
    kw.setdefault("horizon_s", 120.0)
    kw.setdefault("system", SystemConfig(mode="rounds"))
    kw.setdefault("workload", WorkloadConfig(rate_rps=1.0))
    return InstanceConfig(seed=seed, **kw)


# --------------------------------------------------------------------------------------
# The hand-made instance (numbers chosen so every delay and energy is computable by hand).
#
# Nodes: zone z, edge server e (device edgebox, can sleep), switch s, cloud c (device
# cloudbox, 2 pooled devices, never sleeps). Links: z-e 100 Mbps / 5 ms / 0.5 uJ/bit,
# z-s 100 Mbps / 1 ms / 0.1 uJ/bit, s-c 10 Mbps / 19 ms / 1.9 uJ/bit.
# Model "tiny": 1e6 KV bytes per token; 0.5 GB (q4_0) or 2 GB (fp16) of weights.
# edgebox: 2 GB, idle 10 W, active 50 W, q4_0, shares [0.25, 1]; tiny: prefill 100 tok/s,
#          decode floor 0.05 s/token, decode 40 tok/s.
# cloudbox: 10 GB, idle 100 W, active 400 W, fp16, shares [0.125, 0.5]; tiny: prefill
#          1000 tok/s, decode floor 0.01 s/token, decode 200 tok/s.
# Requests (trace, seconds): (0 s, 100 prompt, 50 out), (10, 200, 20), (40, 100, 100),
# (45, 1000, 200), plus one at 200 s beyond the 90 s horizon. Round 30 s.
# --------------------------------------------------------------------------------------

HAND_FILES = {
    "graph": DATA / "hand_graph.json",
    "models": DATA / "hand_models.yaml",
    "devices": DATA / "hand_devices.yaml",
    "trace": DATA / "hand_trace.csv",
}
HAND_GRAPH = json.loads(HAND_FILES["graph"].read_text("utf-8"))
HAND_MODELS = yaml.safe_load(HAND_FILES["models"].read_text("utf-8"))
HAND_DEVICES = yaml.safe_load(HAND_FILES["devices"].read_text("utf-8"))
HAND_TRACE = HAND_FILES["trace"].read_text("utf-8")


def write_hand_files(directory: Path) -> dict[str, Path]:
    """Copy the hand-made topology, catalogue and trace (tests/data/hand_*) into
    ``directory``, so that no test can alter the originals."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, src in HAND_FILES.items():
        paths[key] = directory / src.name
        paths[key].write_bytes(src.read_bytes())
    return paths


def hand_config(
    paths: dict[str, Path],
    deadline_s: float = 35.0,
    drop_penalty_j: float | None = 1000.0,
    weights: tuple[float, float, float] = (2.0, 1.0, 0.5),
    **kw,
) -> InstanceConfig:
    service = ServiceTypeConfig(
        name="svc",
        model="tiny",
        mix=1.0,
        prompt_median_tokens=100.0,
        prompt_sigma=0.0,
        prompt_min_tokens=1,
        prompt_max_tokens=2000,
        output_median_tokens=50.0,
        output_sigma=0.0,
        output_min_tokens=1,
        output_max_tokens=300,
        deadline_min_s=deadline_s,
        deadline_max_s=deadline_s,
    )
    return InstanceConfig(
        seed=kw.pop("seed", 0),
        horizon_s=kw.pop("horizon_s", 90.0),
        system=SystemConfig(
            mode=kw.pop("mode", "rounds"),
            round_s=30.0,
            rate_levels_mbps=[1.0, 10.0],
            bytes_per_token=4.0,
            w_tran=weights[0],
            w_infer=weights[1],
            w_idle=weights[2],
            drop_penalty_j=drop_penalty_j,
        ),
        topology=kw.pop("topology", TopologyConfig(preset=None, path=str(paths["graph"]))),
        deployment=DeploymentConfig(name="hand", edge=["tiny"], cloud=["tiny"]),
        services=[service],
        workload=WorkloadConfig(
            kind="trace", trace_path=str(paths["trace"]), trace_native_rate=True
        ),
        dynamics=kw.pop(
            "dynamics",
            DynamicsConfig(
                bandwidth_links="none", slowdown_max=1.0, speed_sigma=0.0, slowdown_step=0.0
            ),
        ),
        calibration=CalibrationConfig(
            models_file=str(paths["models"]), devices_file=str(paths["devices"])
        ),
        **kw,
    )


def build_hand_instance(paths: dict[str, Path], **kw) -> Instance:
    return build_instance(hand_config(paths, **kw))


def candidate(instance: Instance, request: int, server: str, phi: float, rate: float) -> int:
    """Position of the (server, share, rate) candidate in the request's template."""
    t = instance.template_of(request)
    j = instance.topology.servers.index(server)
    hit = np.flatnonzero((t.server == j) & np.isclose(t.phi, phi) & np.isclose(t.rate_mbps, rate))
    assert len(hit) == 1, (server, phi, rate)
    return int(hit[0])


def option_of(instance: Instance, request: int, server: str, phi: float, rate: float) -> int:
    """Global option index of a (request, server, share, rate)."""
    return int(instance.options.ptr[request]) + candidate(instance, request, server, phi, rate)


def assignment_from(instance: Instance, choice: dict[int, tuple[str, float, float]]) -> Assignment:
    """Admit request i on ``choice[i] = (server, phi, rate)``; decline the others."""
    n = instance.n_requests
    option = np.full(n, -1, dtype=np.int64)
    status = np.full(n, DECLINED, dtype=np.int8)
    for i, (srv, phi, rate) in choice.items():
        option[i] = option_of(instance, i, srv, phi, rate)
        status[i] = ADMITTED
    return Assignment(option=option, status=status, source="hand")


@dataclass
class Scripted(Scheduler):
    """Plays fixed candidates by global request id (DECLINE for the rest); records feedback."""

    name: str = "scripted"
    script: dict[int, int] = field(default_factory=dict)

    def setup(self) -> None:
        self.feedback: list[tuple[int, Feedback]] = []
        self.round = -1
        self.events: list[tuple[str, int]] = []

    def begin_round(self, view: RoundView) -> None:
        self.round = view.round_index
        self.events.append(("begin", view.round_index))

    def select(self, view: RoundView, k: int) -> int:
        return self.script.get(int(view.request_id[k]), DECLINE)

    def update(self, feedback: Feedback) -> None:
        self.feedback.append((self.round, feedback))
        self.events.append(("update", self.round))


class Spy(Scheduler):
    """Wraps a scheduler and records what it was given and what it chose.

    ``free_at_choice[i]`` is whether request ``i``'s chosen candidate was free per the view
    when chosen (``free_mask``).
    """

    uses_oracle: ClassVar[bool] = False

    def __init__(self, inner: Scheduler) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        self.oracle_seen = "unset"
        self.bandwidth_estimates: list[np.ndarray] = []
        self.free_at_choice: dict[int, bool] = {}
        self.choice: dict[int, int] = {}
        self.views: list[RoundView] = []

    def reset(self, info, rng, oracle=None) -> None:
        self.info = info
        self.oracle_seen = oracle
        self.inner.reset(info, rng, oracle)

    def begin_round(self, view: RoundView) -> None:
        self.views.append(view)
        self.bandwidth_estimates.append(np.array(view.bandwidth_estimate_mbps, copy=True))
        self.inner.begin_round(view)

    def select(self, view: RoundView, k: int) -> int:
        from perllm_opt.simulation.view import free_mask

        c = self.inner.select(view, k)
        if c >= 0:
            self.choice[int(view.request_id[k])] = int(c)
            t = self.info.templates[int(view.template[k])]
            self.free_at_choice[int(view.request_id[k])] = bool(free_mask(self.info, view, k, t)[c])
        return c

    def update(self, feedback: Feedback) -> None:
        self.inner.update(feedback)


def spy_for(inner: Scheduler) -> Spy:
    """A Spy that forwards ``uses_oracle`` of the wrapped scheduler."""
    cls = type("Spy_" + type(inner).__name__, (Spy,), {"uses_oracle": type(inner).uses_oracle})
    return cls(inner)


# --------------------------------------------------------------------------------------
# Decision epochs built by hand, and the profile's estimates written out.
# --------------------------------------------------------------------------------------


def lone_view(
    inst, info, i, deadline=None, wait=None, compute_used=None, kv_frac=0.0, link_frac=0.0
):
    """A RoundView holding request ``i`` alone, with some resources already reserved:
    ``compute_used`` per server, a fraction of every server's KV budget and of every link's
    nominal bandwidth."""
    n_l = info.n_links
    bw = np.asarray(info.nominal_bandwidth_mbps, dtype=float)
    rate_used = np.zeros(n_l + 1)
    rate_used[:-1] = link_frac * bw[:-1]
    residual = np.min((bw - rate_used)[info.path_link_matrix], axis=1)
    req = inst.requests
    key = int(req.zone[i]) * info.n_services + int(req.service[i])
    if compute_used is None:
        compute_used = np.zeros(info.n_servers)
    return RoundView(
        round_index=0,
        request_id=np.asarray([i]),
        template=np.asarray([key]),
        zone=np.asarray([req.zone[i]]),
        service=np.asarray([req.service[i]]),
        prompt_tokens=np.asarray([req.prompt_tokens[i]]),
        wait_s=np.asarray([inst.request_wait_s[i] if wait is None else wait]),
        deadline_s=np.asarray([req.deadline_s[i] if deadline is None else deadline]),
        up_bits=np.asarray([inst.request_up_bits[i]]),
        kv_bytes=np.asarray([inst.request_kv_bytes[i]]),
        compute_used=np.asarray(compute_used, dtype=float),
        kv_used_bytes=kv_frac * np.asarray(info.server_kv_budget_bytes),
        rate_used_mbps=rate_used,
        bandwidth_estimate_mbps=bw,
        path_residual_mbps=residual,
    )


def profile_time_s(info, t, up_bits, prompt, speed=None, slowdown=None, mean_out=None):
    """Expected dispatch-to-completion time of every candidate of template ``t``:
    up / rate + 2 latency + (prompt / (phi prefill speed)
    + mean_out max(floor, 1 / (phi decode)) / speed) x slowdown."""
    sp = 1.0 if speed is None else np.asarray(speed)[t.server]
    sl = 1.0 if slowdown is None else np.asarray(slowdown)[t.server]
    m = float((info.mean_output_tokens if mean_out is None else mean_out)[t.service])
    infer = (
        prompt / (t.phi * t.prefill_tok_s * sp)
        + m * np.maximum(t.decode_floor_s_per_token, 1.0 / (t.phi * t.decode_tok_s)) / sp
    ) * sl
    return up_bits / (t.rate_mbps * 1e6) + 2.0 * t.path_latency_s + infer, infer


def profile_energy_j(info, t, up_bits, prompt, compute_used, **kw):
    """Expected weighted marginal energy with waking: w_tran (up + down) e_bit
    + (w_infer P_active - w_idle P_idle) phi D_infer + w_idle P_idle tau (sleeping server)."""
    w_tran, w_infer, w_idle = info.weights
    _, infer = profile_time_s(info, t, up_bits, prompt, **kw)
    mean_out = kw.get("mean_out")
    m = float((info.mean_output_tokens if mean_out is None else mean_out)[t.service])
    down = 8.0 * info.bytes_per_token * m
    idle = np.asarray(info.server_idle_power_w)[t.server]
    net = w_infer * t.active_power_w - w_idle * idle
    asleep = np.asarray(info.server_can_sleep)[t.server] & (
        np.asarray(compute_used)[t.server] == 0.0
    )
    wake = w_idle * idle * info.wake_s * asleep
    return w_tran * (up_bits + down) * t.path_energy_j_per_bit + net * t.phi * infer + wake


def with_realisation(inst: Instance, output_tokens=None, slowdown=None) -> Instance:
    """The same instance with other realised output lengths and/or slowdowns (the option
    table rebuilt from them; laws, arrivals and everything public unchanged)."""
    import dataclasses

    from perllm_opt.instance import delays
    from perllm_opt.instance.options import build_option_table

    out = inst.requests.output_tokens if output_tokens is None else output_tokens
    slow = inst.dynamics.slowdown if slowdown is None else slowdown
    dyn = dataclasses.replace(inst.dynamics, slowdown=slow)
    req = dataclasses.replace(inst.requests, output_tokens=out)
    down = delays.downlink_bits(req.output_tokens, inst.config.system.bytes_per_token)
    opts = build_option_table(
        inst.templates,
        len(inst.services),
        req.zone,
        req.service,
        inst.request_interval,
        inst.request_wait_s,
        req.prompt_tokens,
        req.output_tokens,
        req.deadline_s,
        inst.request_up_bits,
        down,
        inst.dynamics.speed_factor,
        dyn.time_factor(),
        np.inf if inst.continuous else inst.round_s,
    )
    return dataclasses.replace(
        inst, requests=req, request_down_bits=down, options=opts, dynamics=dyn
    )
