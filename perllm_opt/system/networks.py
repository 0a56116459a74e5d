"""Edge-cloud systems on real backbone networks: Internet Topology Zoo and SNDlib graphs.

``topology=zoo topology.network=<name>`` reads a network in topohub's NetworkX node-link
JSON (nodes with ``pos`` = [longitude, latitude], links with their length ``dist`` in km,
SNDlib's traffic ``demands`` in the graph's attributes) and builds the system on it: a user
zone at every node, edge servers at a share of the nodes spread over the network, the cloud
at named or best-connected nodes, links of fibre latency. Odd data (self-loops, parallel
links, missing lengths, several components) is handled as docs/model.md, "Systems on real
networks and sites", states.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from perllm_opt.errors import InputError, require
from perllm_opt.system.attach import (
    AttachConfig,
    add_cloud,
    add_edge_server,
    add_router,
    add_zone,
    greedy_median,
)
from perllm_opt.system.geo import great_circle_km

log = logging.getLogger(__name__)

#: The sub-folders of a topohub-style data folder, searched in this order.
COLLECTIONS = ("topozoo", "sndlib")
#: Fewest nodes a network must keep (after dropping unconnected parts) to be a network.
MIN_NODES = 2


@dataclass
class NetworkConfig(AttachConfig):
    """``topology.zoo``: how the system is built on a real network (``topology.network``).

    Attributes
    ----------
    data_dir : str or None
        A folder of networks: ``<data_dir>/topozoo/<name>.json``, ``<data_dir>/sndlib/
        <name>.json`` or ``<data_dir>/<name>.json`` (topohub's layout). ``None``: the
        networks packaged with perllm-opt (perllm_opt/data/networks/README.md).
    edge_share : float
        Share of the network's nodes that get an edge server (at least one node), placed
        where they cut the zones' latency to their nearest edge server most (greedy
        p-median, each zone weighted by its SNDlib demand where the network has demands).
    clouds : list of str
        Nodes (by name or id) that host a cloud site; empty: the ``n_clouds``
        best-connected nodes (most links, then the shortest total latency to all others).
    n_clouds : int
    """

    data_dir: str | None = None
    edge_share: float = 0.25
    clouds: list[str] = field(default_factory=list)
    n_clouds: int = 1

    def check(self, key: str = "topology.zoo") -> None:
        """Raise :class:`InputError` naming ``key.<field>`` for a value that makes no sense."""
        super().check(key)
        require(
            isinstance(self.edge_share, int | float) and 0 < self.edge_share <= 1,
            f"{key}.edge_share",
            self.edge_share,
            "a share of the nodes in (0, 1]",
        )
        require(
            isinstance(self.n_clouds, int)
            and not isinstance(self.n_clouds, bool)
            and self.n_clouds >= 1,
            f"{key}.n_clouds",
            self.n_clouds,
            "an integer >= 1",
        )


@dataclass(frozen=True, eq=False)
class RealNetwork:
    """A network as read: nodes, links (parallel ones kept, self-loops dropped), demands.

    Attributes
    ----------
    name, source : str
        The network's name and the file it came from.
    ids : tuple of str
        The file's node ids (as text), one per node.
    labels : tuple of str
        Node names (``name``, or ``name#id`` for a name two nodes share, or the id).
    lon_lat_deg : ndarray, shape (n, 2)
        Positions; NaN where the file gives none.
    link_nodes : ndarray of int, shape (m, 2)
    link_length_km : ndarray of float
        The file's ``dist``, else the great-circle distance between the ends' positions.
    link_bandwidth_mbps : ndarray of float
        The file's rate (``bandwidth_mbps``, or Topology Zoo's ``LinkSpeedRaw`` in bit/s);
        NaN where it gives none.
    demand : ndarray of float or None
        Traffic demand at each node, sent plus received (SNDlib); None without demands.
    """

    name: str
    source: str
    ids: tuple[str, ...]
    labels: tuple[str, ...]
    lon_lat_deg: np.ndarray
    link_nodes: np.ndarray
    link_length_km: np.ndarray
    link_bandwidth_mbps: np.ndarray
    demand: np.ndarray | None

    @property
    def n_nodes(self) -> int:
        return len(self.ids)


def _packaged_dir() -> Path:
    return Path(str(resources.files("perllm_opt.data").joinpath("networks")))


def available_networks(data_dir: str | Path | None = None) -> list[str]:
    """Names of the networks in ``data_dir`` (``None``: the packaged ones)."""
    base = Path(data_dir) if data_dir is not None else _packaged_dir()
    names = {p.stem for sub in COLLECTIONS for p in (base / sub).glob("*.json")}
    names |= {p.stem for p in base.glob("*.json")}
    return sorted(names)


def resolve_network(network: str, data_dir: str | Path | None = None) -> Path:
    """The file of ``network``: a JSON file's path, else ``<name>`` (or ``topozoo/<name>``,
    ``sndlib/<name>``) in ``data_dir`` or the packaged networks. Names are case-sensitive
    (SNDlib's ``abilene`` is not Topology Zoo's ``Abilene``)."""
    require(
        isinstance(network, str) and bool(network.strip()),
        "topology.network",
        network,
        "a network name such as 'Geant2012' or a node-link JSON file",
    )
    as_path = Path(network)
    if as_path.suffix.lower() == ".json" and as_path.is_file():
        return as_path
    base = Path(data_dir) if data_dir is not None else _packaged_dir()
    where = f"topology.zoo.data_dir {str(base)!r}" if data_dir is not None else "the packaged"
    if data_dir is not None and not base.is_dir():
        raise InputError("topology.zoo.data_dir", str(base), "an existing folder of networks")
    for sub in (*COLLECTIONS, ""):
        candidate = (base / sub / network).with_suffix(".json") if sub else base / f"{network}.json"
        if candidate.is_file():
            return candidate
    names = available_networks(base)
    close = difflib.get_close_matches(network, names, n=3, cutoff=0.5)
    hint = f" (close: {', '.join(close)})" if close else ""
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise InputError(
        "topology.network",
        network,
        f"a node-link JSON file or one of the {len(names)} networks of {where} networks"
        f"{hint}: {shown}; topology.zoo.data_dir names a folder of more",
    )


def _number(value: Any, where: str, what: str, minimum: float = 0.0) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(where, value, what) from None
    require(math.isfinite(x) and x >= minimum, where, value, what)
    return x


def _position(node: dict[str, Any], where: str) -> tuple[float, float]:
    pos = node.get("pos")
    if pos is None and "Longitude" in node and "Latitude" in node:  # Topology Zoo GML keys
        pos = [node["Longitude"], node["Latitude"]]
    if pos is None:
        return (math.nan, math.nan)
    expected = "a position [longitude, latitude] in degrees"
    if not isinstance(pos, list | tuple) or len(pos) != 2:
        raise InputError(f"{where}.pos", pos, expected)
    lon = _number(pos[0], f"{where}.pos", expected, minimum=-180.0)
    lat = _number(pos[1], f"{where}.pos", expected, minimum=-90.0)
    require(
        lon <= 180 and lat <= 90,
        f"{where}.pos",
        pos,
        f"{expected} (planar coordinates, which SNDlib gives for some networks, are no "
        "place on the Earth: their lengths in km are unknown)",
    )
    return (lon, lat)


def _link_rate(link: dict[str, Any], where: str) -> float:
    if link.get("bandwidth_mbps") is not None:
        return _number(link["bandwidth_mbps"], f"{where}.bandwidth_mbps", "a rate in Mbps > 0")
    if link.get("LinkSpeedRaw") is not None:
        return _number(link["LinkSpeedRaw"], f"{where}.LinkSpeedRaw", "a rate in bit/s > 0") / 1e6
    return math.nan


def read_network(network: str, data_dir: str | Path | None = None) -> RealNetwork:
    """Read and check a network (see :func:`resolve_network` for where it is looked up).

    Raises
    ------
    InputError
        Naming the network or its file: unknown name, unreadable JSON, duplicate node ids,
        a link to an unknown node, a bad length, position or demand, or a link with neither
        a length nor positions of both its ends.
    """
    path = resolve_network(network, data_dir)
    data, key = _node_link_json(path)
    ids, labels, pos, index = _read_nodes(data["nodes"], path.name)
    ends, lengths, rates = _read_links(data[key], path, labels, pos, index)
    return RealNetwork(
        name=path.stem,
        source=str(path),
        ids=tuple(ids),
        labels=labels,
        lon_lat_deg=pos,
        link_nodes=np.asarray(ends, dtype=np.int64).reshape(len(ends), 2),
        link_length_km=np.asarray(lengths, dtype=float),
        link_bandwidth_mbps=np.asarray(rates, dtype=float),
        demand=_demand(data.get("graph"), index, path.name),
    )


def _node_link_json(path: Path) -> tuple[dict[str, Any], str]:
    """The file's JSON object and the key of its links (``links`` or ``edges``)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            "topology.network", str(path), f"a readable node-link JSON ({exc})"
        ) from None
    key = "links" if isinstance(data, dict) and "links" in data else "edges"
    if not (
        isinstance(data, dict)
        and isinstance(data.get("nodes"), list)
        and isinstance(data.get(key), list)
    ):
        raise InputError(
            "topology.network", str(path), "a node-link JSON object with 'nodes' and 'links'"
        )
    return data, key


def _read_nodes(
    nodes: list[Any], file: str
) -> tuple[list[str], tuple[str, ...], np.ndarray, dict[str, int]]:
    """The nodes' ids, labels (a name shared by several nodes gets ``#id``), positions
    (longitude, latitude; NaN where unknown) and the index of each id."""
    ids: list[str] = []
    names: list[str] = []
    lon_lat: list[tuple[float, float]] = []
    index: dict[str, int] = {}
    for k, node in enumerate(nodes):
        where = f"{file} node {k}"
        if not isinstance(node, dict) or not isinstance(node.get("id"), Hashable):
            raise InputError(where, node, "an object with an 'id'")
        nid = str(node["id"])
        if nid in index:
            raise InputError(f"{file} nodes", f"id {nid!r} twice", "distinct node ids")
        index[nid] = k
        ids.append(nid)
        names.append(str(node.get("name") or nid))
        lon_lat.append(_position(node, f"{file} node {nid!r}"))
    shared = {n for n in names if names.count(n) > 1}
    labels = tuple(f"{n}#{i}" if n in shared else n for n, i in zip(names, ids, strict=True))
    pos = np.asarray(lon_lat, dtype=float).reshape(len(ids), 2)
    return ids, labels, pos, index


def _read_links(
    links: list[Any],
    path: Path,
    labels: tuple[str, ...],
    pos: np.ndarray,
    index: dict[str, int],
) -> tuple[list[tuple[int, int]], list[float], list[float]]:
    """Each link's end nodes, length (km: its ``dist``, else the great circle between its
    ends' positions) and bandwidth; a link from a node to itself is dropped (a warning)."""
    ends: list[tuple[int, int]] = []
    lengths: list[float] = []
    rates: list[float] = []
    loops = 0
    file = path.name
    for k, link in enumerate(links):
        where = f"{file} link {k}"
        if not isinstance(link, dict):
            raise InputError(where, link, "an object with 'source' and 'target'")
        u, v = str(link.get("source")), str(link.get("target"))
        for end in (u, v):
            require(end in index, f"{where}", f"an end {end!r}", "node ids of the file's nodes")
        if u == v:
            loops += 1
            continue
        where = f"{file} link ({labels[index[u]]}, {labels[index[v]]})"
        a, b = index[u], index[v]
        if link.get("dist") is not None:
            length = _number(link["dist"], f"{where}.dist", "a length in km >= 0")
        else:
            for end in (a, b):
                if np.isnan(pos[end]).any():
                    raise InputError(
                        where,
                        f"no length 'dist' and no position of node {labels[end]!r}",
                        "a link length 'dist' in km, or positions 'pos' [longitude, "
                        "latitude] of both ends",
                    )
            length = float(great_circle_km(pos[a, 0], pos[a, 1], pos[b, 0], pos[b, 1]))
        ends.append((a, b))
        lengths.append(length)
        rates.append(_link_rate(link, where))
    if loops:
        log.warning(
            "%s: %d link(s) from a node to itself dropped (they join nothing)", path.stem, loops
        )
    return ends, lengths, rates


def _demand(graph: Any, index: dict[str, int], file: str) -> np.ndarray | None:
    """Per node, the SNDlib demands it sends plus those it receives (None if none)."""
    demands = graph.get("demands") if isinstance(graph, dict) else None
    if not demands:
        return None
    where = f"{file} demands"
    require(isinstance(demands, dict), where, type(demands).__name__, "{source: {target: value}}")
    total = np.zeros(len(index))
    for src, row in demands.items():
        require(isinstance(row, dict), f"{where}[{src}]", row, "{target: value}")
        for dst, value in row.items():
            for end in (str(src), str(dst)):
                require(end in index, where, f"a demand of node {end!r}", "node ids of the file")
            x = _number(value, f"{where}[{src}][{dst}]", "a demand >= 0")
            total[index[str(src)]] += x
            total[index[str(dst)]] += x
    return total if total.sum() > 0 else None


def _merged_graph(net: RealNetwork, cfg: NetworkConfig) -> nx.Graph:
    """Nodes by index; one link per pair: parallel circuits add their rates, the shortest
    length stands for them (a path takes the shortest)."""
    g = nx.Graph()
    g.add_nodes_from(range(net.n_nodes))
    merged = 0
    for (a, b), length, rate in zip(
        net.link_nodes.tolist(), net.link_length_km, net.link_bandwidth_mbps, strict=True
    ):
        rate_mbps = float(cfg.link_bandwidth_mbps if np.isnan(rate) else rate)
        if g.has_edge(a, b):
            merged += 1
            d = g.edges[a, b]
            d["length_km"] = min(d["length_km"], float(length))
            d["rate_mbps"] += rate_mbps
        else:
            g.add_edge(a, b, length_km=float(length), rate_mbps=rate_mbps)
    if merged:
        log.warning(
            "%s: %d parallel link(s) merged into the link they double (rates added, the "
            "shortest length kept)",
            net.name,
            merged,
        )
    for _, _, d in g.edges(data=True):
        d["latency_ms"] = cfg.link_latency_ms(d["length_km"])
    return g


def _largest_part(g: nx.Graph, net: RealNetwork) -> nx.Graph:
    parts = sorted(nx.connected_components(g), key=lambda c: (-len(c), min(c)))
    if len(parts) > 1:
        left = sum(len(c) for c in parts[1:])
        log.warning(
            "%s: %d of %d nodes are not connected to its largest part and are left out",
            net.name,
            left,
            net.n_nodes,
        )
    return g.subgraph(parts[0]).copy()


def best_connected(g: nx.Graph) -> list[int]:
    """Nodes from the best-connected: most links, then the least total latency to all
    others, then the file's order."""
    total = {
        n: sum(d.values()) for n, d in nx.all_pairs_dijkstra_path_length(g, weight="latency_ms")
    }
    return sorted(g.nodes, key=lambda n: (-g.degree(n), total[n], n))


def _cloud_nodes(cfg: NetworkConfig, net: RealNetwork, g: nx.Graph, ranked: list[int]) -> list[int]:
    if not cfg.clouds:
        require(
            cfg.n_clouds <= g.number_of_nodes(),
            "topology.zoo.n_clouds",
            cfg.n_clouds,
            f"at most the {g.number_of_nodes()} connected nodes of network {net.name!r}",
        )
        return ranked[: cfg.n_clouds]
    by_name = {lab: k for k, lab in enumerate(net.labels)} | {i: k for k, i in enumerate(net.ids)}
    out = []
    for c in cfg.clouds:
        k = by_name.get(str(c))
        if k is None:
            raise InputError(
                "topology.zoo.clouds",
                c,
                f"a node of network {net.name!r} by name or id, e.g. {list(net.labels[:5])}",
            )
        require(
            k in g,
            "topology.zoo.clouds",
            c,
            f"a node of the largest connected part of network {net.name!r}",
        )
        require(k not in out, "topology.zoo.clouds", list(cfg.clouds), "distinct nodes")
        out.append(k)
    return out


def network_graph(network: str | None, cfg: NetworkConfig) -> nx.Graph:
    """The edge-cloud system on ``network`` (``topology.network``), as a topology graph.

    Raises
    ------
    InputError
        For the errors of :func:`read_network`, a network of fewer than 2 connected nodes,
        and cloud nodes that are not in it.
    """
    require(
        network is not None,
        "topology.network",
        network,
        "a network name such as 'Geant2012' (topology=zoo) or a node-link JSON file",
    )
    cfg.check("topology.zoo")
    net = read_network(str(network), cfg.data_dir)
    g = _largest_part(_merged_graph(net, cfg), net)
    n = g.number_of_nodes()
    require(
        n >= MIN_NODES,
        "topology.network",
        f"{net.name} ({n} connected node{'s' * (n != 1)})",
        f"a network of at least {MIN_NODES} connected nodes",
    )
    ranked = best_connected(g)
    clouds = _cloud_nodes(cfg, net, g, ranked)
    k = max(1, round(cfg.edge_share * n))
    nodes = sorted(g.nodes)
    dist = dict(nx.all_pairs_dijkstra_path_length(g, weight="latency_ms"))
    cost = np.asarray([[dist[a][b] for b in nodes] for a in nodes])
    weight = np.ones(n) if net.demand is None else net.demand[nodes]
    edges = [nodes[i] for i in greedy_median(cost, weight, k)]
    where = f"network {net.name}"

    system = nx.Graph(name=net.name)
    for node in sorted(g.nodes):
        label = net.labels[node]
        add_router(system, label, where)
        weight = None if net.demand is None else float(net.demand[node])
        add_zone(system, label, label, cfg, where, weight)
    for i, node in enumerate(edges):
        device = cfg.edge_devices[i % len(cfg.edge_devices)]
        add_edge_server(system, net.labels[node], net.labels[node], device, where)
    for node in clouds:
        add_cloud(system, net.labels[node], net.labels[node], cfg, where)
    for a, b, d in g.edges(data=True):
        system.add_edge(
            net.labels[a],
            net.labels[b],
            bandwidth_mbps=d["rate_mbps"],
            latency_ms=d["latency_ms"],
            energy_uj_per_bit=cfg.link_energy_uj_per_bit,
            fluctuates=True,
        )
    return system
