"""The edge-cloud topology: a validated NetworkX graph and the dense arrays derived from it.

A request travels from its zone to a server along the lowest-latency path (never through
another user zone). Paths, their latency, their per-bit energy and their links are computed
once here; the option table and the schedulers read these arrays.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from perllm_opt.errors import InputError, require
from perllm_opt.system.catalog import Catalog
from perllm_opt.system.presets import PRESETS

KINDS = ("user", "edge", "cloud", "switch")
SERVER_KINDS = ("edge", "cloud")
#: Devices one server node may stand for (``count``): about the size of the largest GPU
#: clusters announced (10^5 accelerators); beyond it the count is a typo, and its powers and
#: capacities would leave the range the optimum's solver resolves.
MAX_SERVER_COUNT = 100_000
#: The attributes a node and a link may carry (anything else is refused, as a misspelling).
NODE_ATTRS = ("kind", "device", "count", "can_sleep", "models", "weight")
LINK_ATTRS = ("bandwidth_mbps", "latency_ms", "energy_uj_per_bit", "fluctuates")
#: Presets built on real data from their own config section (``topology.zoo``, ``.eua``).
BUILDERS = ("zoo", "eua")


@dataclass(frozen=True, eq=False)
class Topology:
    """Servers, zones, links and zone-to-server paths as arrays.

    Paths are indexed by ``path_id = zone * n_servers + server``. ``path_link_matrix`` lists
    each path's links padded with ``n_links`` (a sentinel link of unlimited bandwidth), so a
    path's residual bandwidth is ``residual[path_link_matrix[p]].min()``.
    """

    graph: nx.Graph = field(repr=False)
    zones: tuple[str, ...]
    servers: tuple[str, ...]
    server_device: tuple[str, ...]
    server_is_cloud: np.ndarray
    server_count: np.ndarray
    server_can_sleep: np.ndarray
    server_models_attr: tuple[tuple[str, ...] | None, ...]
    links: tuple[tuple[str, str], ...]
    link_bandwidth_mbps: np.ndarray
    link_latency_s: np.ndarray
    link_energy_j_per_bit: np.ndarray
    link_fluctuates: np.ndarray
    path_reachable: np.ndarray
    path_latency_s: np.ndarray
    path_energy_j_per_bit: np.ndarray
    path_link_matrix: np.ndarray
    path_links: tuple[tuple[int, ...], ...]
    #: Each zone's share of the requests (its user nodes' ``weight``); None: equal shares.
    zone_weight: np.ndarray | None = None

    @property
    def n_zones(self) -> int:
        return len(self.zones)

    @property
    def n_servers(self) -> int:
        return len(self.servers)

    @property
    def n_links(self) -> int:
        return len(self.links)

    def path_id(self, zone: int, server: int) -> int:
        return zone * self.n_servers + server


def _num(
    attrs: dict[str, Any], key: str, where: str, required: bool, default: float = 0.0
) -> float:
    if key not in attrs or attrs[key] is None or attrs[key] == "":
        if required:
            raise InputError(where, f"no '{key}'", f"a '{key}' attribute (a number)")
        return default
    try:
        value = float(attrs[key])
    except (TypeError, ValueError):
        raise InputError(f"{where}.{key}", attrs[key], "a number") from None
    require(math.isfinite(value), f"{where}.{key}", attrs[key], "a finite number")
    return value


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise InputError(where, value, "a boolean")


def _models_attr(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        return tuple(parts)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    raise InputError(where, value, "a list of model names or a comma-separated string")


def _check_pairs(pairs: Any, where: str) -> None:
    """Refuse a link from a node to itself, and a second link between one pair of nodes (in
    either direction): a graph keeps only the last, and the first would vanish unseen."""
    seen: set[frozenset[Any]] = set()
    for u, v in pairs:
        if not (isinstance(u, Hashable) and isinstance(v, Hashable)):
            continue  # node_link_graph reports these
        if u == v:
            raise InputError(
                f"{where} links", f"a link from {u!r} to itself", "links between two nodes"
            )
        pair = frozenset((u, v))
        if pair in seen:
            raise InputError(
                f"{where} links",
                f"two links between {u!r} and {v!r}",
                "at most one link per pair of nodes (give the pair one bandwidth and latency)",
            )
        seen.add(pair)


def load_graph(path: str | Path) -> nx.Graph:
    """Read a user topology from GraphML (``.graphml``) or node-link JSON (``.json``).

    JSON is NetworkX's node-link format: ``{"nodes": [{"id": ..., "kind": ...}, ...],
    "links": [{"source": ..., "target": ..., "bandwidth_mbps": ...}, ...]}`` (``"edges"`` is
    accepted for ``"links"``).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("topology.path", str(p), "an existing .graphml or .json file")
    suffix = p.suffix.lower()
    if suffix == ".graphml":
        try:
            g = nx.read_graphml(p)
        except Exception as exc:  # parser errors of several types
            raise InputError("topology.path", str(p), f"valid GraphML ({exc})") from None
        _check_pairs(((u, v) for u, v, *_ in g.edges), p.name)
    elif suffix == ".json":
        try:
            data = json.loads(p.read_text("utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError("topology.path", str(p), f"valid JSON ({exc})") from None
        if not isinstance(data, dict) or "nodes" not in data:
            raise InputError("topology.path", str(p), "a node-link JSON object with 'nodes'")
        key = "links" if "links" in data else "edges"
        if key not in data:
            raise InputError("topology.path", str(p), "a node-link JSON object with 'links'")
        nodes = data["nodes"] if isinstance(data["nodes"], list) else []
        ids = [n.get("id") for n in nodes if isinstance(n, dict)]
        seen: set[Any] = set()
        for node_id in ids:
            if isinstance(node_id, Hashable) and node_id in seen:
                raise InputError(f"{p.name} nodes", f"id {node_id!r} twice", "distinct node ids")
            if isinstance(node_id, Hashable):
                seen.add(node_id)
        links = data[key] if isinstance(data[key], list) else []
        _check_pairs(
            ((e.get("source"), e.get("target")) for e in links if isinstance(e, dict)), p.name
        )
        try:
            g = nx.node_link_graph(data, directed=False, multigraph=False, edges=key)
        except (KeyError, TypeError, nx.NetworkXError) as exc:
            raise InputError("topology.path", str(p), f"node-link JSON ({exc})") from None
    else:
        raise InputError("topology.path", str(p), "a file ending in .graphml or .json")
    if g.is_directed():
        g = g.to_undirected()
    return nx.Graph(g)


def build_graph(preset: str | None, path: str | None) -> nx.Graph:
    """The graph named by the topology config: a preset or a user file (exactly one)."""
    if (preset is None) == (path is None):
        raise InputError(
            "topology", {"preset": preset, "path": path}, "exactly one of preset or path"
        )
    if path is not None:
        return load_graph(path)
    if preset not in PRESETS:
        raise InputError("topology.preset", preset, f"one of {sorted([*PRESETS, *BUILDERS])}")
    return PRESETS[preset]()


def _zone_weights(graph: nx.Graph, zones: list[Any]) -> np.ndarray | None:
    """The user nodes' ``weight`` (all of them or none), >= 0 with a positive sum."""
    given = [z for z in zones if graph.nodes[z].get("weight") is not None]
    if not given:
        return None
    unweighted = [z for z in zones if z not in set(given)]
    if unweighted:
        raise InputError(
            f"zone {unweighted[0]!r}.weight", None, "a weight on every user node or on none"
        )
    w = np.asarray([_num(graph.nodes[z], "weight", f"zone {z!r}", required=True) for z in zones])
    for z, x in zip(zones, w.tolist(), strict=True):
        require(x >= 0, f"zone {z!r}.weight", x, "a share of the requests >= 0")
    require(w.sum() > 0, "topology zones' weight", w.tolist(), "weights with a positive sum")
    return w


def topology_from_graph(graph: nx.Graph, catalog: Catalog) -> Topology:
    """Validate ``graph`` and derive the arrays the instance needs.

    Raises
    ------
    InputError
        For an unknown node kind, a server without a (known) device profile, a link without
        bandwidth or latency, or a zone with no path to any server.
    """
    zones, servers, zone_weight = _zones_and_servers(graph)
    devices, counts, sleep, is_cloud, models_attr = _server_attrs(graph, servers, catalog)
    links, bw, lat_arr, energy_arr, fluct = _links(graph)
    reachable, path_lat, path_energy, path_links, matrix = _paths(
        graph, zones, servers, links, lat_arr, energy_arr
    )
    return Topology(
        graph=graph,
        zones=tuple(str(z) for z in zones),
        servers=tuple(str(s) for s in servers),
        server_device=tuple(devices),
        server_is_cloud=np.asarray(is_cloud, dtype=bool),
        server_count=np.asarray(counts, dtype=np.int64),
        server_can_sleep=np.asarray(sleep, dtype=bool),
        server_models_attr=tuple(models_attr),
        links=tuple((str(u), str(v)) for u, v in links),
        link_bandwidth_mbps=np.asarray(bw, dtype=float),
        link_latency_s=lat_arr,
        link_energy_j_per_bit=energy_arr,
        link_fluctuates=np.asarray(fluct, dtype=bool),
        path_reachable=reachable,
        path_latency_s=path_lat,
        path_energy_j_per_bit=path_energy,
        path_link_matrix=matrix,
        path_links=tuple(path_links),
        zone_weight=zone_weight,
    )


def nearest_edge_servers(topology: Topology, k: int) -> Topology:
    """``topology`` with each zone reaching only its ``k`` nearest edge servers (by path
    latency; ties by server order) and every cloud server it reached.

    A user's requests go to the edge servers near it, not to any site of the region: in the
    edge user allocation problem a user is served by the servers that cover it (Lai et al.,
    ICSOC 2018), and collaborative edge offloading forwards to neighbouring servers. On a
    system with hundreds of sites this keeps the options per request (and so memory and
    every scheduler's and the optimum's time) independent of the number of sites.
    """
    edge = ~topology.server_is_cloud
    latency = np.where(topology.path_reachable & edge, topology.path_latency_s, np.inf)
    nearest = np.argsort(latency, axis=1, kind="stable")[:, :k]
    keep = np.zeros_like(topology.path_reachable)
    np.put_along_axis(keep, nearest, True, axis=1)
    keep &= np.isfinite(latency)
    return replace(topology, path_reachable=topology.path_reachable & (keep | ~edge))


def _zones_and_servers(graph: nx.Graph) -> tuple[list, list, np.ndarray | None]:
    """The user zones and the servers of ``graph``, in node order (every node's attributes
    and kind checked), and the zones' weights (None: equal shares)."""
    zones, servers = [], []
    for node, attrs in graph.nodes(data=True):
        unknown = sorted(set(attrs) - set(NODE_ATTRS))
        require(not unknown, f"node {node!r}", unknown, f"attributes among {list(NODE_ATTRS)}")
        kind = attrs.get("kind")
        require(kind in KINDS, f"node {node!r}.kind", kind, f"one of {list(KINDS)}")
        require(
            kind == "user" or attrs.get("weight") is None,
            f"node {node!r}.weight",
            attrs.get("weight"),
            "no weight (a share of the requests is given to user nodes only)",
        )
        if kind == "user":
            zones.append(node)
        elif kind in SERVER_KINDS:
            servers.append(node)
    require(bool(zones), "topology", "no user node", "at least one node of kind 'user'")
    zone_weight = _zone_weights(graph, zones)
    require(bool(servers), "topology", "no server", "at least one node of kind 'edge' or 'cloud'")
    return zones, servers, zone_weight


def _server_attrs(graph: nx.Graph, servers: list, catalog: Catalog) -> tuple[list, ...]:
    """Per server: device profile, count of devices, whether it may sleep, whether it is a
    cloud, and its ``models`` attribute (checked)."""
    devices, counts, sleep, is_cloud, models_attr = [], [], [], [], []
    for s in servers:
        attrs = graph.nodes[s]
        dev = attrs.get("device")
        if dev is None or dev == "":
            raise InputError(
                f"server {s!r}.device", dev, f"a device profile, one of {sorted(catalog.devices)}"
            )
        if dev not in catalog.devices:
            raise InputError(
                f"server {s!r}.device",
                dev,
                f"a known device profile, one of {sorted(catalog.devices)}",
            )
        devices.append(str(dev))
        count = attrs.get("count", 1)
        try:
            count_i = int(count)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"server {s!r}.count", count, "a positive integer") from None
        require(
            count_i >= 1 and float(count) == count_i,
            f"server {s!r}.count",
            count,
            "a positive integer",
        )
        require(
            count_i <= MAX_SERVER_COUNT,
            f"server {s!r}.count",
            count,
            f"at most {MAX_SERVER_COUNT:,} devices at one node (about the largest GPU "
            "clusters announced; a larger site is several nodes)",
        )
        counts.append(count_i)
        is_cloud.append(attrs["kind"] == "cloud")
        default_sleep = attrs["kind"] == "edge"
        sleep.append(_flag(attrs.get("can_sleep", default_sleep), f"server {s!r}.can_sleep"))
        models_attr.append(_models_attr(attrs.get("models"), f"server {s!r}.models"))
    return devices, counts, sleep, is_cloud, models_attr


def _links(graph: nx.Graph) -> tuple[list, list, np.ndarray, np.ndarray, list]:
    """Per link: its end nodes, bandwidth (Mbps), latency (s), energy (J/bit) and whether
    it fluctuates (checked)."""
    links = []
    bw, lat, energy, fluct = [], [], [], []
    for u, v, attrs in graph.edges(data=True):
        where = f"link ({u!r}, {v!r})"
        unknown = sorted(set(attrs) - set(LINK_ATTRS))
        require(not unknown, where, unknown, f"attributes among {list(LINK_ATTRS)}")
        b = _num(attrs, "bandwidth_mbps", where, required=True)
        require(b > 0, f"{where}.bandwidth_mbps", b, "a number > 0")
        latency = _num(attrs, "latency_ms", where, required=True)
        require(latency >= 0, f"{where}.latency_ms", latency, "a number >= 0")
        e = _num(attrs, "energy_uj_per_bit", where, required=False, default=0.0)
        require(e >= 0, f"{where}.energy_uj_per_bit", e, "a number >= 0")
        links.append((u, v))
        bw.append(b)
        lat.append(latency / 1e3)
        energy.append(e * 1e-6)
        fluct.append(_flag(attrs.get("fluctuates", False), f"{where}.fluctuates"))
    return links, bw, np.asarray(lat), np.asarray(energy), fluct


def _paths(
    graph: nx.Graph,
    zones: list,
    servers: list,
    links: list,
    lat_arr: np.ndarray,
    energy_arr: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, ...]], np.ndarray]:
    """The lowest-latency path from each zone to each server (never through another zone):
    reachable, latency (s), energy (J/bit), its links, and the (zone x server) x links
    matrix padded with the sentinel link ``len(links)``. Refuses a zone that reaches no
    server and a server no zone reaches."""
    link_index = {frozenset(uv): i for i, uv in enumerate(links)}
    n_z, n_s = len(zones), len(servers)
    reachable = np.zeros((n_z, n_s), dtype=bool)
    path_lat = np.full((n_z, n_s), np.inf)
    path_energy = np.full((n_z, n_s), np.inf)
    path_links: list[tuple[int, ...]] = [()] * (n_z * n_s)
    zone_set = set(zones)
    for zi, z in enumerate(zones):
        # Requests never route through another zone's access point.
        sub = graph.subgraph([n for n in graph.nodes if n == z or n not in zone_set])
        # Latency, ties broken by hop count (a tiny per-hop weight). Predecessors, not
        # paths: single_source_dijkstra's path to every node costs memory quadratic in a
        # long chain of switches; the first predecessor gives the same path it would.
        pred, _ = nx.dijkstra_predecessor_and_distance(
            sub, z, weight=lambda u, v, d: float(d["latency_ms"]) + 1e-9
        )
        for si, s in enumerate(servers):
            if s not in pred:
                continue
            nodes = [s]
            while nodes[-1] != z:
                nodes.append(pred[nodes[-1]][0])
            nodes.reverse()
            idx = tuple(link_index[frozenset(ab)] for ab in itertools.pairwise(nodes))
            reachable[zi, si] = True
            path_links[zi * n_s + si] = idx
            path_lat[zi, si] = float(lat_arr[list(idx)].sum()) if idx else 0.0
            path_energy[zi, si] = float(energy_arr[list(idx)].sum()) if idx else 0.0
        if not reachable[zi].any():
            raise InputError(
                f"zone {z!r}",
                "no path to any server",
                "a path from every user zone to at least one edge or cloud server",
            )
    # A server no zone reaches would serve nothing but still draw idle power: refused.
    for si in np.flatnonzero(~reachable.any(axis=0)).tolist():
        raise InputError(
            f"server {servers[si]!r}",
            "reachable from no user zone",
            "a path from at least one user zone (not through another zone) to every server",
        )
    max_len = max((len(p) for p in path_links), default=0)
    matrix = np.full((n_z * n_s, max(max_len, 1)), len(links), dtype=np.int64)
    for pid, p in enumerate(path_links):
        matrix[pid, : len(p)] = p
    return reachable, path_lat, path_energy, path_links, matrix
