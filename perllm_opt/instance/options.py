"""The option table: the one place where every option's delays, energies and feasibility
are computed from ground truth (docs/model.md, "Options and resources").

An option is (request i, server j, slice c) where the slice is a compute share ``phi`` of
``j`` (one of the device's share levels) and a rate on every link of the zone-to-``j`` path
(one of ``system.rate_levels_mbps``). All requests of the same zone and service type have the
same candidate list, a :class:`Template`; request ``i``'s options are the contiguous block
``ptr[i]:ptr[i+1]`` in template order, so candidate ``k`` of request ``i`` is option
``ptr[i] + k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perllm_opt.instance import delays
from perllm_opt.system.catalog import Catalog
from perllm_opt.system.deployment import Deployment
from perllm_opt.system.topology import Topology


@dataclass(frozen=True, eq=False)
class ServerSlices:
    """All (server, share level, rate level) combinations: the arms' resource part."""

    server: np.ndarray
    share_index: np.ndarray
    rate_index: np.ndarray
    phi: np.ndarray
    rate_mbps: np.ndarray

    def __len__(self) -> int:
        return len(self.server)


@dataclass(frozen=True, eq=False)
class Template:
    """Candidate options shared by all requests of one (zone, service type).

    Attributes
    ----------
    server, server_slice, path_id : ndarray of int, shape (K,)
    phi, rate_mbps : ndarray of float, shape (K,)
    prefill_tok_s, decode_floor_s_per_token, decode_tok_s : ndarray, shape (K,)
        The device profile (public) for the model, devices of the node pooled.
    active_power_w : ndarray, shape (K,)
    path_latency_s, path_energy_j_per_bit : ndarray, shape (K,)
    """

    zone: int
    service: int
    model: int
    server: np.ndarray
    server_slice: np.ndarray
    path_id: np.ndarray
    phi: np.ndarray
    rate_mbps: np.ndarray
    prefill_tok_s: np.ndarray
    decode_floor_s_per_token: np.ndarray
    decode_tok_s: np.ndarray
    active_power_w: np.ndarray
    path_latency_s: np.ndarray
    path_energy_j_per_bit: np.ndarray

    def __len__(self) -> int:
        return len(self.server)


@dataclass(frozen=True, eq=False)
class OptionTable:
    """Every option of every request, CSR by request (see module docstring).

    Times are seconds from the request's dispatch unless named ``latency`` (from arrival).
    ``run_s`` is how long the option computes: its inference time, or (rounds mode) until
    the end of the round if it would not finish (cut off). Energies are those actually spent.

    Intervals relative to dispatch (continuous mode, docs/model.md): the server's compute
    share and KV memory are held over ``[0, service_s)``; the path's links carry the rate
    while the prompt and attachment upload, ``[0, up_s)``, and while the answer streams back,
    ``[down_start_s, service_s)``.
    """

    ptr: np.ndarray
    request: np.ndarray
    candidate: np.ndarray
    server: np.ndarray
    server_slice: np.ndarray
    path_id: np.ndarray
    phi: np.ndarray
    rate_mbps: np.ndarray
    tran_s: np.ndarray
    infer_s: np.ndarray
    latency_s: np.ndarray
    completes: np.ndarray
    on_time: np.ndarray
    run_s: np.ndarray
    energy_tran_j: np.ndarray
    energy_infer_j: np.ndarray
    up_s: np.ndarray
    down_start_s: np.ndarray

    def __len__(self) -> int:
        return len(self.request)

    @property
    def service_s(self) -> np.ndarray:
        """Dispatch to completion (transmission + inference)."""
        return self.tran_s + self.infer_s

    @property
    def busy_share_s(self) -> np.ndarray:
        """Share-seconds of compute the option occupies (phi x run time)."""
        return self.phi * self.run_s


def build_slices(topology: Topology, catalog: Catalog, rate_levels_mbps) -> ServerSlices:
    """Enumerate (server, share, rate) in server-major order."""
    srv, si, ri, phi, rate = [], [], [], [], []
    for j, dev in enumerate(topology.server_device):
        for a, share in enumerate(catalog.devices[dev].share_levels):
            for b, r in enumerate(rate_levels_mbps):
                srv.append(j)
                si.append(a)
                ri.append(b)
                phi.append(share)
                rate.append(float(r))
    return ServerSlices(
        np.asarray(srv),
        np.asarray(si),
        np.asarray(ri),
        np.asarray(phi, dtype=float),
        np.asarray(rate, dtype=float),
    )


def build_templates(
    topology: Topology,
    catalog: Catalog,
    deployment: Deployment,
    service_models: np.ndarray,
    slices: ServerSlices,
    hosts: np.ndarray | None = None,
) -> tuple[Template, ...]:
    """One template per (zone, service), indexed ``zone * n_services + service``.

    ``hosts`` (servers x models) defaults to the deployment; placement mode passes
    ``deployment.can_host`` so that every deployable model is a candidate.
    """
    hosts = deployment.hosts if hosts is None else hosts
    out = []
    for z in range(topology.n_zones):
        for svc, m in enumerate(service_models):
            model = deployment.models[m]
            ok = hosts[slices.server, m] & topology.path_reachable[z, slices.server]
            idx = np.flatnonzero(ok)
            srv = slices.server[idx]
            perf = [catalog.devices[topology.server_device[j]].models[model] for j in srv]
            count = topology.server_count[srv].astype(float)
            act = np.asarray(
                [catalog.devices[topology.server_device[j]].active_power_w for j in srv],
                dtype=float,
            )
            out.append(
                Template(
                    zone=z,
                    service=svc,
                    model=int(m),
                    server=srv,
                    server_slice=idx,
                    path_id=z * topology.n_servers + srv,
                    phi=slices.phi[idx],
                    rate_mbps=slices.rate_mbps[idx],
                    prefill_tok_s=np.asarray([p.prefill_tok_s for p in perf], dtype=float) * count,
                    decode_floor_s_per_token=np.asarray(
                        [p.decode_floor_s_per_token for p in perf], dtype=float
                    ),
                    decode_tok_s=np.asarray([p.decode_tok_s for p in perf], dtype=float) * count,
                    active_power_w=act * count,
                    path_latency_s=topology.path_latency_s[z, srv],
                    path_energy_j_per_bit=topology.path_energy_j_per_bit[z, srv],
                )
            )
    return tuple(out)


def build_option_table(
    templates: tuple[Template, ...],
    n_services: int,
    zone: np.ndarray,
    service: np.ndarray,
    dynamics_index: np.ndarray,
    wait_s: np.ndarray,
    prompt_tokens: np.ndarray,
    output_tokens: np.ndarray,
    deadline_s: np.ndarray,
    up_bits: np.ndarray,
    down_bits: np.ndarray,
    speed_factor: np.ndarray,
    slowdown: np.ndarray,
    time_cap_s: float,
) -> OptionTable:
    """Apply the formulas of :mod:`perllm_opt.instance.delays` to the ground truth of every option.

    ``dynamics_index`` is each request's interval of the slowdown process (its round's
    start in rounds mode, its dispatch in continuous mode); ``time_cap_s`` the time an
    option may run from dispatch (the round in rounds mode, ``inf`` in continuous mode:
    nothing is cut off). Vectorised per template: each group of requests sharing a (zone,
    service) is a (requests x candidates) block.
    """
    key = zone * n_services + service
    sizes = np.asarray([len(t) for t in templates], dtype=np.int64)[key]
    ptr = np.zeros(len(key) + 1, dtype=np.int64)
    np.cumsum(sizes, out=ptr[1:])
    n_opt = int(ptr[-1])
    i_arr = np.empty(n_opt, dtype=np.int64)
    cand = np.empty(n_opt, dtype=np.int64)
    f_arrays = {name: np.empty(n_opt) for name in _FLOAT_FIELDS}
    b_arrays = {name: np.empty(n_opt, dtype=bool) for name in ("completes", "on_time")}
    per_request = {
        "dynamics_index": dynamics_index,
        "wait_s": wait_s,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "deadline_s": deadline_s,
        "up_bits": up_bits,
        "down_bits": down_bits,
    }

    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for group in np.split(order, bounds):
        if len(group) == 0:
            continue
        t = templates[int(key[group[0]])]
        k = len(t)
        if k == 0:
            continue
        pos = (ptr[group][:, None] + np.arange(k)[None, :]).ravel()
        i_arr[pos] = np.repeat(group, k)
        cand[pos] = np.tile(np.arange(k), len(group))
        block = {n: a[group] for n, a in per_request.items()}
        values = _block(t, block, speed_factor, slowdown, time_cap_s)
        for name, value in values.items():
            (b_arrays if name in b_arrays else f_arrays)[name][pos] = value.ravel()
    return OptionTable(
        ptr=ptr,
        request=i_arr,
        candidate=cand,
        **_template_fields(templates, key, i_arr, cand),
        **f_arrays,
        **b_arrays,
    )


#: The float columns of the option table computed per (request, candidate) block.
_FLOAT_FIELDS = (
    "tran_s",
    "infer_s",
    "latency_s",
    "run_s",
    "energy_tran_j",
    "energy_infer_j",
    "up_s",
    "down_start_s",
)


def _block(
    t: Template,
    req: dict[str, np.ndarray],
    speed_factor: np.ndarray,
    slowdown: np.ndarray,
    time_cap_s: float,
) -> dict[str, np.ndarray]:
    """The (requests x candidates) block of one template: ``req`` holds the group's
    per-request arrays (:func:`build_option_table`'s names)."""
    speed = speed_factor[t.server]
    pre = delays.prefill_s_per_token(t.phi, t.prefill_tok_s, speed)
    dec = delays.decode_s_per_token(t.phi, t.decode_floor_s_per_token, t.decode_tok_s, speed)
    slow = slowdown[t.server[None, :], req["dynamics_index"][:, None]]
    infer = delays.inference_time_s(
        req["prompt_tokens"][:, None], req["output_tokens"][:, None], pre, dec, slow
    )
    up_bits, down_bits = req["up_bits"], req["down_bits"]
    tran = delays.transmission_time_s(up_bits[:, None], t.rate_mbps, t.path_latency_s)
    completes = tran + infer <= time_cap_s
    latency = req["wait_s"][:, None] + tran + infer
    run = np.where(completes, infer, np.clip(time_cap_s - tran, 0.0, None))
    up_s = delays.transmission_time_s(up_bits[:, None], t.rate_mbps, 0.0)
    down_s = delays.transmission_time_s(down_bits[:, None], t.rate_mbps, 0.0)
    # The answer's bits leave over the last down_s before completion, never before the
    # prompt has reached the server.
    down_start = np.maximum(up_s + t.path_latency_s, tran + infer - down_s)
    return {
        "tran_s": tran,
        "infer_s": infer,
        "latency_s": latency,
        "run_s": run,
        "up_s": np.broadcast_to(up_s, tran.shape),
        "down_start_s": down_start,
        "energy_infer_j": delays.inference_energy_j(t.active_power_w, t.phi, run),
        "energy_tran_j": delays.transmission_energy_j(
            (up_bits + down_bits)[:, None], t.path_energy_j_per_bit
        ),
        "completes": completes,
        "on_time": completes & (latency <= req["deadline_s"][:, None]),
    }


def _template_fields(
    templates: tuple[Template, ...], key: np.ndarray, i_arr: np.ndarray, cand: np.ndarray
) -> dict[str, np.ndarray]:
    """Per option, the fields it takes from its template: server, slice, path, share, rate."""
    n_opt = len(i_arr)
    server = np.empty(n_opt, dtype=np.int64)
    slc = np.empty(n_opt, dtype=np.int64)
    path = np.empty(n_opt, dtype=np.int64)
    phi = np.empty(n_opt)
    rate = np.empty(n_opt)
    opt_key = key[i_arr]
    for tk in np.unique(key):
        t = templates[int(tk)]
        if len(t) == 0:
            continue
        sel = opt_key == tk
        c = cand[sel]
        server[sel], slc[sel], path[sel] = t.server[c], t.server_slice[c], t.path_id[c]
        phi[sel], rate[sel] = t.phi[c], t.rate_mbps[c]
    return {"server": server, "server_slice": slc, "path_id": path, "phi": phi, "rate_mbps": rate}
