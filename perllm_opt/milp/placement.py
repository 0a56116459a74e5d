"""Optimal placement in continuous mode: the joint MILP over the allocation and the
deployment (docs/model.md, "Placement in continuous mode"), and the fixed-deployment
instance of a deployment; :mod:`perllm_opt.milp.placement_search` searches over them.

The joint MILP (:func:`placement_problem`) is continuous mode's MILP over every request
with an on-time option (all windows at once: a deployment holds over the whole horizon, so
windows that share no resource still share it) plus a binary ``y_jm`` per (server, model)
pair some on-time option uses:

    x_o <= y_{j(o), m(o)}                                       (a model serves only where deployed)
    sum_m W_jm y_jm + sum_{o on j, active at t} kv_o x_o <= Mem_j   (memory of j at time t)
    sum_m W_jm y_jm <= Mem_j                                    (the weights alone fit)

with valid inequalities per pair ``p`` that tighten its LP (the pair's own use of each
compute row is at most ``y_p``, of each memory row at most ``(Mem_j - W_p) y_p``).
Deployed weights stay in memory whether the server computes or sleeps. The rows at the
interval starts on ``j`` are exact, as for a fixed deployment (a load only rises there).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields, replace

import numpy as np

from perllm_opt.instance import timeline
from perllm_opt.instance.capacity import capacity_families
from perllm_opt.instance.options import OptionTable, Template
from perllm_opt.instance.realised import Instance
from perllm_opt.instance.windows import continuous_windows
from perllm_opt.milp.continuous import (
    capacity_rows,
    concat,
    sleep_gates,
)
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.perllm import (
    GB,
    RoundProblem,
    on_time_options,
    option_costs,
)

#: Subsets of a server's candidate models enumerated exactly when computing the heaviest
#: deployment that fits (beyond that, the sum of every candidate's weights bounds it).
_MAX_ENUMERATED_PAIRS = 12


def option_pairs(instance: Instance, options: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Server and model of each option in ``options`` (global indices)."""
    o = instance.options
    model = instance.service_model[instance.requests.service[o.request[options]]]
    return o.server[options], model


def restrict_to_deployment(instance: Instance, hosts: np.ndarray) -> tuple[Instance, np.ndarray]:
    """The fixed-deployment instance of ``hosts`` inside a placement instance.

    The candidates are those of ``instance`` whose (server, model) ``hosts`` deploys, with
    the same delays, energies and order (an option's values never depend on the other
    candidates), so the result is the instance :func:`perllm_opt.instance.build.build_instance`
    builds with that deployment, on ``instance``'s drop penalty. Windows (continuous mode)
    are recomputed from its on-time options.

    Parameters
    ----------
    instance : Instance
        Built with ``placement=True`` (every deployable pair a candidate).
    hosts : ndarray of bool, shape (n_servers, n_models)
        The deployment; only pairs of ``deployment.can_host``, weights within each server's
        memory.

    Returns
    -------
    Instance
        Its ``placement`` is False and its deployment ``hosts``.
    ndarray of int
        Global option of ``instance`` for each of its options.

    Raises
    ------
    ValueError
        ``hosts`` deploys a pair the device cannot host, or weights over a server's memory.
    """
    dep = instance.deployment
    hosts = np.asarray(hosts, dtype=bool)
    if hosts.shape != dep.hosts.shape:
        raise ValueError(f"hosts: expected shape {dep.hosts.shape}, got {hosts.shape}")
    if np.any(hosts & ~dep.can_host):
        raise ValueError("hosts deploys a (server, model) the device cannot host")
    if np.any((dep.weight_bytes * hosts).sum(axis=1) > dep.memory_bytes):
        raise ValueError("hosts: the deployed weights exceed a server's memory")
    templates, options, kept = _restricted_options(instance, hosts)
    deployment = replace(dep, hosts=hosts.copy())
    window = instance.request_window
    if instance.continuous:
        window, _, _ = continuous_windows(
            options,
            instance.n_requests,
            instance.request_dispatch_s,
            instance.topology.server_can_sleep,
            instance.sleep_block_s,
        )
    sub = replace(
        instance,
        deployment=deployment,
        templates=tuple(templates),
        options=options,
        server_kv_budget_bytes=deployment.kv_budget_bytes,
        placement=False,
        request_window=window,
    )
    return sub, kept


def _restricted_options(
    instance: Instance, hosts: np.ndarray
) -> tuple[list[Template], OptionTable, np.ndarray]:
    """The templates and option table of ``instance`` without the candidates ``hosts``
    does not deploy (candidates renumbered), and the global options kept."""
    o = instance.options
    srv, model = option_pairs(instance, np.arange(len(o)))
    kept = np.flatnonzero(hosts[srv, model])
    templates, new_candidate = [], []
    for t in instance.templates:
        mask = hosts[t.server, t.model]
        templates.append(
            replace(
                t,
                **{
                    f.name: getattr(t, f.name)[mask]
                    for f in fields(Template)
                    if isinstance(getattr(t, f.name), np.ndarray)
                },
            )
        )
        new_candidate.append(np.cumsum(mask) - 1)
    n_services = len(instance.services)
    key = instance.requests.zone * n_services + instance.requests.service
    candidate = np.empty(len(kept), dtype=np.int64)
    for k in np.unique(key):
        sel = key[o.request[kept]] == k
        candidate[sel] = new_candidate[int(k)][o.candidate[kept][sel]]
    ptr = np.zeros(instance.n_requests + 1, dtype=np.int64)
    np.cumsum(np.bincount(o.request[kept], minlength=instance.n_requests), out=ptr[1:])
    table = {f.name: getattr(o, f.name)[kept] for f in fields(OptionTable) if f.name != "ptr"}
    table["candidate"] = candidate
    return templates, OptionTable(ptr=ptr, **table), kept


def placement_start(instance: Instance, start: np.ndarray | None) -> np.ndarray | None:
    """A start given on the configured deployment's option table (e.g. the best
    scheduler's on-time choices, :func:`perllm_opt.milp.optimum.on_time_start`) as options
    of the placement instance ``instance``, whose table restricted to that deployment is the
    configured one (:func:`restrict_to_deployment`)."""
    if start is None:
        return None
    _, kept = restrict_to_deployment(instance, instance.deployment.hosts)
    return mapped(kept, np.asarray(start, dtype=np.int64))


def mapped(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``table[index]`` where ``index >= 0``, -1 elsewhere."""
    out = np.full(len(index), -1, dtype=np.int64)
    has = index >= 0
    out[has] = table[index[has]]
    return out


def describe_hosts(instance: Instance, hosts: np.ndarray) -> str:
    """``server: model, model; ...`` for a deployment."""
    dep = instance.deployment
    return "; ".join(
        f"{s}: {', '.join(dep.models[m] for m in np.flatnonzero(hosts[j])) or '-'}"
        for j, s in enumerate(instance.topology.servers)
    )


def heaviest_fitting_weights(weights: np.ndarray, memory: float) -> float:
    """The largest total of a subset of ``weights`` within ``memory`` (exact for up to
    ``_MAX_ENUMERATED_PAIRS`` weights; beyond, ``min(sum, memory)``, an upper bound)."""
    weights = np.asarray(weights, dtype=float)
    if weights.sum() <= memory:
        return float(weights.sum())
    if len(weights) > _MAX_ENUMERATED_PAIRS:
        return float(memory)
    best = 0.0
    for r in range(1, len(weights) + 1):
        for combo in itertools.combinations(weights.tolist(), r):
            s = sum(combo)
            if best < s <= memory:
                best = s
    return best


def placement_problem(instance: Instance, strengthen: bool = True) -> RoundProblem:
    """The joint MILP of continuous mode with the deployment as variables (module docstring).

    Items are every request with an on-time option (``instance.request_window >= 0``);
    options their on-time options; gates the sleep blocks (as in
    :func:`perllm_opt.milp.continuous.window_problem`), then ``y_jm`` for every (server,
    model) pair an option uses, from ``deploy_gate_start`` on (``deploy_pairs``). Memory
    rows are left out only where the largest use of every request active there fits beside
    the heaviest deployment of that server that fits its memory: the feasible set is the
    same.
    """
    o = instance.options
    topo = instance.topology
    dep = instance.deployment
    requests = np.flatnonzero(instance.request_window >= 0)
    opts = on_time_options(instance, requests)
    local = np.full(instance.n_requests, -1, dtype=np.int64)
    local[requests] = np.arange(len(requests))
    req = o.request[opts]
    item = local[req]
    d = instance.request_dispatch_s[req]
    service = o.service_s[opts]
    srv, model = option_pairs(instance, opts)
    n_m = len(dep.models)
    pair_key, pair_of_opt = np.unique(srv * n_m + model, return_inverse=True)
    pair_srv, pair_model = pair_key // n_m, pair_key % n_m
    pair_gb = dep.weight_bytes[pair_srv, pair_model] / GB
    memory_gb = dep.memory_bytes / GB
    kv_test_bytes = _kv_test_bytes(pair_srv, pair_gb, memory_gb)
    rows = _Rows()
    families = capacity_families(instance, opts, kv_budget_bytes=kv_test_bytes, kv_unit=GB)
    for name, iv, n_res, cap, step in families:
        per_row = capacity_rows(iv, n_res, item[iv.option], cap, step)
        for act, amt, c in zip(*per_row, strict=True):
            if name == "KV memory":
                j = int(iv.resource[act[0]])
                rows.add_memory_row(iv.option[act], amt, pair_srv, pair_gb, j, float(memory_gb[j]))
                c = float(memory_gb[j])
            else:
                rows.add(iv.option[act], amt, c)
            if strengthen and name != "link rate":
                rows.add_pair_rows(iv.option[act], amt, c, pair_of_opt, pair_gb, name)
    # The weights alone fit (the rows above cover only times with a request active).
    for j in range(topo.n_servers):
        on_j = np.flatnonzero(pair_srv == j)
        if pair_gb[on_j].sum() > memory_gb[j] * (1 + timeline.RTOL):
            rows.add_gates(on_j, pair_gb[on_j], float(memory_gb[j]))
    u_opt, u_res, u_amt, caps = rows.u_opt, rows.u_res, rows.u_amt, rows.caps
    g_res, g_pair, g_amt = rows.g_res, rows.g_pair, rows.g_amt

    # Sleep blocks: gate on_{j,b} for every (sleepy server, block) an option touches.
    s_opt, s_gate, sleep_cost = sleep_gates(instance, d, service, srv)
    start = len(sleep_cost)
    cat = concat

    data = AssignmentData(
        n_items=len(requests),
        option_item=item,
        option_cost=option_costs(instance, opts),
        capacity=np.asarray(caps, dtype=float),
        usage_option=cat(u_opt, np.int64),
        usage_resource=cat(u_res, np.int64),
        usage_amount=cat(u_amt, float),
        drop_cost=np.full(len(requests), instance.drop_penalty_j),
        gate_cost=np.concatenate([sleep_cost, np.zeros(len(pair_key))]).astype(float),
        gate_usage_gate=start + cat(g_pair, np.int64),
        gate_usage_resource=cat(g_res, np.int64),
        gate_usage_amount=cat(g_amt, float),
        option_gate_option=np.concatenate([s_opt, np.arange(len(opts))]).astype(np.int64),
        option_gate_gate=np.concatenate([s_gate.ravel(), start + pair_of_opt]).astype(np.int64),
        constant=0.0,
    )
    return RoundProblem(
        data=data,
        option=opts,
        request=requests,
        deploy_gate_start=start,
        deploy_pairs=np.column_stack([pair_srv, pair_model]),
    )


def _kv_test_bytes(pair_srv: np.ndarray, pair_gb: np.ndarray, memory_gb: np.ndarray) -> np.ndarray:
    """The KV memory each server has beside its heaviest deployment that fits: what the
    redundancy test of the memory rows sees."""
    heaviest = np.asarray(
        [
            heaviest_fitting_weights(pair_gb[pair_srv == j], float(memory_gb[j]))
            for j in range(len(memory_gb))
        ]
    )
    return (memory_gb - heaviest) * GB


@dataclass
class _Rows:
    """The rows of :func:`placement_problem` as they are built (mutable, local to it):
    option uses per row, gate (pair) uses per row, capacities."""

    u_opt: list[np.ndarray] = field(default_factory=list)
    u_res: list[np.ndarray] = field(default_factory=list)
    u_amt: list[np.ndarray] = field(default_factory=list)
    caps: list[float] = field(default_factory=list)
    g_res: list[np.ndarray] = field(default_factory=list)
    g_pair: list[np.ndarray] = field(default_factory=list)
    g_amt: list[np.ndarray] = field(default_factory=list)

    def add(self, options: np.ndarray, amount: np.ndarray, capacity: float) -> None:
        """A row ``sum amount x <= capacity`` over ``options``."""
        self.u_opt.append(options)
        self.u_res.append(np.full(len(options), len(self.caps), dtype=np.int64))
        self.u_amt.append(amount)
        self.caps.append(capacity)

    def add_memory_row(
        self,
        options: np.ndarray,
        amount: np.ndarray,
        pair_srv: np.ndarray,
        pair_gb: np.ndarray,
        j: int,
        memory_gb: float,
    ) -> None:
        """A memory row of server ``j``: its options' KV plus the weights of the pairs
        deployed on it within its memory."""
        r = len(self.caps)
        self.u_opt.append(options)
        self.u_res.append(np.full(len(options), r, dtype=np.int64))
        self.u_amt.append(amount)
        on_j = np.flatnonzero(pair_srv == j)
        self.g_res.append(np.full(len(on_j), r, dtype=np.int64))
        self.g_pair.append(on_j)
        self.g_amt.append(pair_gb[on_j])
        self.caps.append(memory_gb)

    def add_pair_rows(
        self,
        options: np.ndarray,
        amount: np.ndarray,
        capacity: float,
        pair_of_opt: np.ndarray,
        pair_gb: np.ndarray,
        name: str,
    ) -> None:
        """Per pair: its options' use <= what the pair leaves when deployed, times y."""
        ps = pair_of_opt[options]
        for p in np.unique(ps):
            sel = ps == p
            room = capacity - pair_gb[p] if name == "KV memory" else capacity
            self.u_opt.append(options[sel])
            self.u_res.append(np.full(int(sel.sum()), len(self.caps), dtype=np.int64))
            self.u_amt.append(amount[sel])
            self.g_res.append(np.array([len(self.caps)], dtype=np.int64))
            self.g_pair.append(np.array([p], dtype=np.int64))
            self.g_amt.append(np.array([-room]))
            self.caps.append(0.0)

    def add_gates(self, pairs: np.ndarray, amount: np.ndarray, capacity: float) -> None:
        """A row over gates only: ``sum amount y <= capacity`` over ``pairs``."""
        self.g_res.append(np.full(len(pairs), len(self.caps), dtype=np.int64))
        self.g_pair.append(pairs)
        self.g_amt.append(amount)
        self.caps.append(capacity)
