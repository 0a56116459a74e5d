"""PerLLM's offline optimum as assignment data (docs/model.md, "Offline optimum").

For round ``t`` with requests ``I_t`` and their on-time options ``O_t`` (only those: a late
option never helps), with weights ``w``:

    min  sum_o c_o x_o + sum_{j sleepy} w_idle P_idle_j tau on_j + M sum_i drop_i + K_t
    s.t. sum_{o of i} x_o + drop_i = 1                               (each request once)
         sum_{o on j} phi_o x_o <= 1                                 (compute share of j)
         sum_{o on j} kv_i x_o <= KV_j                               (memory of j)
         sum_{o using e} r_o x_o <= B_e(t)                           (bandwidth of link e)
         x_o <= on_j                                                 (a sleeping server is off)

with ``c_o = w_tran E_tran_o + w_infer E_infer_o - w_idle P_idle_j phi_o D_infer_o`` (idle
energy is ``P_idle (tau on - busy)``) and ``K_t = sum_{j always on} w_idle P_idle_j tau``.
In placement mode all rounds form one problem, with ``y_{j,m}`` (model ``m`` deployed on
``j``) gating options (``x_o <= y_{j,m(o)}``) and taking memory in every round
(``sum_m W_{j,m} y_{j,m} + sum_o kv_o x_o <= Mem_j``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perllm_opt.instance.realised import Instance
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.reduce import reduce_data

#: Memory enters the MILP in GB, so that coefficients stay near 1.
GB = 1e9


@dataclass(frozen=True, eq=False)
class RoundProblem:
    """Assignment data of one round (or of all rounds in placement mode) and the maps back
    to the instance: ``option`` (global option index per MILP option), ``request`` (global
    request per MILP item), for placement ``deploy_pairs`` (server, model) per y-gate, and
    after :func:`reduce_problem` the requests fixed to an option outside the MILP
    (``fixed_request``, ``fixed_option``) and the option count before reduction."""

    data: AssignmentData
    option: np.ndarray
    request: np.ndarray
    deploy_gate_start: int = -1
    deploy_pairs: np.ndarray | None = None
    fixed_request: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    fixed_option: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    n_options_full: int = -1
    all_options: np.ndarray | None = None
    stand_in: np.ndarray | None = None

    def start_x(self, start: np.ndarray) -> np.ndarray:
        """0/1 per MILP option from ``start`` (global option per request, -1 for none): a
        start option that a reduction removed is carried over to its stand-in."""
        want = start[self.request[self.data.option_item]]
        if self.all_options is not None and len(self.all_options) and len(want):
            order = np.argsort(self.all_options)
            known = self.all_options[order]
            pos = np.minimum(np.searchsorted(known, want), len(known) - 1)
            found = known[pos] == want
            want = np.where(found, self.all_options[self.stand_in[order[pos]]], want)
        return (want == self.option).astype(float)

    def options_of(self, x: np.ndarray | None, n_requests: int) -> np.ndarray:
        """Global option per request (-1: none) of the 0/1 choice ``x`` of this problem's
        options (None: nothing chosen), with the requests a reduction fixed at their
        options."""
        option = np.full(n_requests, -1, dtype=np.int64)
        if x is not None:
            on = np.asarray(x) > 0.5
            option[self.request[self.data.option_item[on]]] = self.option[on]
        option[self.fixed_request] = self.fixed_option
        return option

    @property
    def n_requests(self) -> int:
        """Requests covered: the MILP's items and the fixed ones."""
        return self.data.n_items + len(self.fixed_request)


def reduce_problem(prob: RoundProblem) -> RoundProblem:
    """``prob`` without the rows, options and requests no optimum needs
    (:func:`perllm_opt.milp.reduce.reduce_data`; the optimum is unchanged)."""
    red = reduce_data(prob.data)
    return RoundProblem(
        data=red.data,
        option=prob.option[red.option],
        request=prob.request[red.item],
        deploy_gate_start=prob.deploy_gate_start,
        deploy_pairs=prob.deploy_pairs,
        fixed_request=np.concatenate([prob.fixed_request, prob.request[red.fixed_item]]),
        fixed_option=np.concatenate([prob.fixed_option, prob.option[red.fixed_option]]),
        n_options_full=prob.data.n_options if prob.n_options_full < 0 else prob.n_options_full,
        all_options=prob.option,
        stand_in=red.stand_in,
    )


def option_costs(instance: Instance, options: np.ndarray) -> np.ndarray:
    """``c_o``: weighted transmission and inference energy minus the idle energy the busy
    share-seconds displace."""
    o = instance.options
    w_tran, w_infer, w_idle = instance.weights
    idle = instance.server_idle_power_w[o.server[options]]
    return (
        w_tran * o.energy_tran_j[options]
        + w_infer * o.energy_infer_j[options]
        - w_idle * idle * o.busy_share_s[options]
    )


def always_on_idle_j(instance: Instance) -> float:
    """``K_t``: weighted idle energy of the servers that never sleep, per round."""
    _, _, w_idle = instance.weights
    on = ~instance.topology.server_can_sleep
    return float(w_idle * instance.server_idle_power_w[on].sum() * instance.round_s)


def on_time_options(instance: Instance, requests: np.ndarray) -> np.ndarray:
    """Every on-time option of ``requests`` (late ones never improve the objective)."""
    o = instance.options
    starts, counts = o.ptr[requests], o.ptr[requests + 1] - o.ptr[requests]
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    opts = np.repeat(starts, counts) + offsets
    return opts[o.on_time[opts]]


def round_problem(instance: Instance, requests: np.ndarray) -> RoundProblem:
    """The MILP data of one round's requests with the instance's fixed deployment."""
    return joint_problem(instance, optimize_deployment=False, requests=requests)


def joint_problem(
    instance: Instance, optimize_deployment: bool, requests: np.ndarray | None = None
) -> RoundProblem:
    """The MILP data of ``requests`` (default: all) over the rounds they fall in.

    Resources are per (round, server or link), so rounds only interact through the
    deployment. With ``optimize_deployment`` the deployment is a variable (placement mode;
    ``instance`` must have been built with ``placement=True`` so that its option table holds
    a candidate for every (server, model) the device can host). Without it the instance's
    deployment is fixed; for all requests the problem is then the block-diagonal union of the
    rounds (the same optimum as solving them one by one; used to benchmark large models).
    The constant counts the always-on idle energy of every round covered: all rounds of the
    horizon for all requests, else the rounds of ``requests``.
    """
    o = instance.options
    topo = instance.topology
    n_s, n_l = topo.n_servers, topo.n_links
    if requests is None:
        requests = np.arange(instance.n_requests)
        covered = np.arange(instance.n_rounds)
    else:
        requests = np.asarray(requests, dtype=np.int64)
        covered = np.unique(instance.request_round[requests])
    n_r = len(covered)
    opts = on_time_options(instance, requests)
    local = np.full(instance.n_requests, -1, dtype=np.int64)
    local[requests] = np.arange(len(requests))
    req = o.request[opts]
    rnd = np.searchsorted(covered, instance.request_round[req])  # local round index
    # Resources of local round t: compute of j (t R + j), memory of j (t R + n_s + j),
    # link e (t R + 2 n_s + e), with R = 2 n_s + n_l.
    n_res_round = 2 * n_s + n_l
    usage_option, usage_resource, usage_amount = _usage(instance, opts, rnd * n_res_round)
    # Placement: weights are variables, so the whole memory is the capacity; fixed: what the
    # deployed weights leave.
    memory = (
        instance.deployment.memory_bytes if optimize_deployment else instance.server_kv_budget_bytes
    )
    capacity = (
        np.concatenate(
            [
                np.concatenate([np.ones(n_s), memory / GB, instance.round_bandwidth_mbps[:, t]])
                for t in covered
            ]
        )
        if n_r
        else np.empty(0)
    )
    g = _gates(instance, opts, rnd, n_r, optimize_deployment, capacity)
    data = AssignmentData(
        n_items=len(requests),
        option_item=local[req],
        option_cost=option_costs(instance, opts),
        capacity=g["capacity"],
        usage_option=usage_option,
        usage_resource=usage_resource,
        usage_amount=usage_amount,
        drop_cost=np.full(len(requests), instance.drop_penalty_j),
        gate_cost=g["gate_cost"],
        gate_usage_gate=g["gate_usage_gate"],
        gate_usage_resource=g["gate_usage_resource"],
        gate_usage_amount=g["gate_usage_amount"],
        option_gate_option=g["option_gate_option"],
        option_gate_gate=g["option_gate_gate"],
        constant=always_on_idle_j(instance) * n_r,
    )
    return RoundProblem(
        data=data,
        option=opts,
        request=requests,
        deploy_gate_start=g["start"] if optimize_deployment else -1,
        deploy_pairs=g["pairs"] if optimize_deployment else None,
    )


def _usage(
    instance: Instance, opts: np.ndarray, base: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each option of ``opts`` uses (option, resource row, amount): its share of its
    server's compute, its request's KV memory (GB), its rate on every link of its path;
    ``base`` is the first resource row of each option's round."""
    o = instance.options
    topo = instance.topology
    n_s, n_l = topo.n_servers, topo.n_links
    n_opt = len(opts)
    req = o.request[opts]
    srv = o.server[opts]
    links = topo.path_link_matrix[o.path_id[opts]]
    rows, cols = np.nonzero(links < n_l)
    usage_option = np.concatenate([np.arange(n_opt), np.arange(n_opt), rows])
    usage_resource = np.concatenate(
        [base + srv, base + n_s + srv, base[rows] + 2 * n_s + links[rows, cols]]
    )
    usage_amount = np.concatenate(
        [o.phi[opts], instance.request_kv_bytes[req] / GB, o.rate_mbps[opts][rows]]
    )
    return usage_option, usage_resource, usage_amount


def _gates(
    instance: Instance,
    opts: np.ndarray,
    rnd: np.ndarray,
    n_r: int,
    optimize_deployment: bool,
    capacity: np.ndarray,
) -> dict[str, object]:
    """The gates and their rows: ``on_{j,t}`` for each sleepy server ``j`` used in local
    round ``t``, then (placement) ``y_{j,m}`` for each (server, model) pair used; the
    capacity rows the gates tighten get capacity 0 (returned as a copy)."""
    o = instance.options
    topo = instance.topology
    dep = instance.deployment
    n_s, n_l = topo.n_servers, topo.n_links
    n_m = len(dep.models)
    n_opt = len(opts)
    n_res_round = 2 * n_s + n_l
    srv = o.server[opts]
    model = instance.service_model[instance.requests.service[o.request[opts]]]
    _, _, w_idle = instance.weights
    sleepy = topo.server_can_sleep[srv]
    on_key, on_gate = np.unique(srv[sleepy] * n_r + rnd[sleepy], return_inverse=True)
    on_cost = w_idle * instance.server_idle_power_w[on_key // max(n_r, 1)] * instance.round_s
    og_opt = [np.flatnonzero(sleepy)]
    og_gate = [on_gate.astype(np.int64)]
    start = len(on_key)
    if optimize_deployment:
        pair_key, pair_gate = np.unique(srv * n_m + model, return_inverse=True)
        og_opt.append(np.arange(n_opt))
        og_gate.append(start + pair_gate.astype(np.int64))
    else:
        pair_key = np.empty(0, dtype=np.int64)
    pair_srv, pair_model = pair_key // n_m, pair_key % n_m
    gu_gate = np.repeat(start + np.arange(len(pair_key)), n_r)
    gu_res = (np.arange(n_r)[None, :] * n_res_round + n_s + pair_srv[:, None]).ravel()
    gu_amt = np.repeat(dep.weight_bytes[pair_srv, pair_model] / GB, n_r)
    # Capacity only while on: the compute row of a sleepy server j in round t becomes
    # sum phi x <= 1 * on_{j,t}, and with a fixed deployment its memory row sum kv x <=
    # KV_j * on_{j,t} (placement's memory row also holds the deployed weights, which stay
    # when the server sleeps). The same integer solutions (x_o <= on_{j,t} already empties
    # an off server), a tighter LP: on_{j,t} must cover the load, not only the largest x_o.
    on_srv, on_rnd = on_key // max(n_r, 1), on_key % max(n_r, 1)
    tight = [on_rnd * n_res_round + on_srv]
    if not optimize_deployment:
        tight.append(on_rnd * n_res_round + n_s + on_srv)
    tight_res = np.concatenate(tight).astype(np.int64)
    tight_gate = np.tile(np.arange(len(on_key), dtype=np.int64), len(tight))
    tight_amt = -capacity[tight_res]
    capacity = capacity.copy()
    capacity[tight_res] = 0.0
    return {
        "capacity": capacity,
        "gate_cost": np.concatenate([on_cost, np.zeros(len(pair_key))]),
        "gate_usage_gate": np.concatenate([gu_gate, tight_gate]),
        "gate_usage_resource": np.concatenate([gu_res, tight_res]),
        "gate_usage_amount": np.concatenate([gu_amt, tight_amt]),
        "option_gate_option": np.concatenate(og_opt),
        "option_gate_gate": np.concatenate(og_gate),
        "start": start,
        "pairs": np.column_stack([pair_srv, pair_model]),
    }
