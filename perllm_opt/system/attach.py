"""How users and servers attach to a real network's nodes, shared by the Topology Zoo/SNDlib
and the EUA builders: the knobs both take, and the zone, edge and cloud nodes they add.

At a network node (a point of presence, or a base-station site) a *router* (kind
``switch``) joins the network's links; a user zone joins it over an access link, an edge
server over a LAN link, a cloud data centre over its uplink (the cloud's shared bottleneck,
as the presets' WAN link). Figures and sources: docs/model.md, "Systems on real networks
and sites".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from perllm_opt.errors import InputError, require, require_non_negative, require_positive
from perllm_opt.system.geo import (
    FIBRE_US_PER_KM,
    HOP_LATENCY_MS,
    ROUTE_FACTOR,
    fibre_latency_ms,
)
from perllm_opt.system.presets import ACCESS, LAN, LARGE_EDGE_MIX, WAN
from perllm_opt.system.topology import MAX_SERVER_COUNT


@dataclass
class AttachConfig:
    """Servers and links of a system built on real data (``topology.zoo``, ``topology.eua``).

    Attributes
    ----------
    edge_devices : list of str
        Device profiles of the edge servers, given in turn to the edge sites in the order
        they are chosen (the ``large`` preset's mix by default).
    cloud_device, cloud_count : str, int
        The device of a cloud site and how many it pools (2 A100-80GB hold the three fp16
        models, as in the paper preset).
    cloud_bandwidth_mbps : float
        The cloud site's uplink: the share of it that this service gets [E, as the presets'
        WAN link].
    link_bandwidth_mbps, link_energy_uj_per_bit : float
        A network link that gives no rate of its own, and every network link's energy per bit
        [E, as the presets' metro link].
    fibre_us_per_km, route_factor, hop_latency_ms : float
        A link of length L km takes ``hop_latency_ms + route_factor * L * fibre_us_per_km``
        one way (perllm_opt/system/geo.py: the sources).
    access_latency_ms, access_energy_uj_per_bit : float
        A user zone's access link to its node (its rate is the presets' access rate).
    """

    edge_devices: list[str] = field(default_factory=lambda: list(LARGE_EDGE_MIX))
    cloud_device: str = "a100-80gb"
    cloud_count: int = 2
    cloud_bandwidth_mbps: float = WAN["bandwidth_mbps"]
    link_bandwidth_mbps: float = 1000.0
    link_energy_uj_per_bit: float = 0.1
    fibre_us_per_km: float = FIBRE_US_PER_KM
    route_factor: float = ROUTE_FACTOR
    hop_latency_ms: float = HOP_LATENCY_MS
    access_latency_ms: float = ACCESS["latency_ms"]
    access_energy_uj_per_bit: float = ACCESS["energy_uj_per_bit"]

    def check(self, key: str) -> None:
        """Raise :class:`InputError` naming ``key.<field>`` for a value that makes no sense."""
        require(
            len(self.edge_devices) > 0 and all(isinstance(d, str) and d for d in self.edge_devices),
            f"{key}.edge_devices",
            list(self.edge_devices),
            "a non-empty list of device profiles",
        )
        require(bool(self.cloud_device), f"{key}.cloud_device", self.cloud_device, "a device")
        require(
            isinstance(self.cloud_count, int)
            and not isinstance(self.cloud_count, bool)
            and 1 <= self.cloud_count <= MAX_SERVER_COUNT,
            f"{key}.cloud_count",
            self.cloud_count,
            f"an integer in [1, {MAX_SERVER_COUNT:,}]",
        )
        for name in ("cloud_bandwidth_mbps", "link_bandwidth_mbps", "fibre_us_per_km"):
            require_positive(getattr(self, name), f"{key}.{name}")
        for name in (
            "link_energy_uj_per_bit",
            "hop_latency_ms",
            "access_latency_ms",
            "access_energy_uj_per_bit",
        ):
            require_non_negative(getattr(self, name), f"{key}.{name}")
        require(
            isinstance(self.route_factor, int | float) and 1 <= self.route_factor < 100,
            f"{key}.route_factor",
            self.route_factor,
            "a number >= 1 (a fibre route is no shorter than the great circle)",
        )

    def check_devices(self, key: str, known: set[str]) -> None:
        """Raise naming ``key.edge_devices`` or ``key.cloud_device`` for an unknown profile."""
        for dev in self.edge_devices:
            require(dev in known, f"{key}.edge_devices", dev, f"one of {sorted(known)}")
        require(
            self.cloud_device in known,
            f"{key}.cloud_device",
            self.cloud_device,
            f"one of {sorted(known)}",
        )

    def link_latency_ms(self, length_km: float) -> float:
        """One-way latency of a network link of ``length_km``."""
        return fibre_latency_ms(
            length_km, self.fibre_us_per_km, self.route_factor, self.hop_latency_ms
        )


def _add(g: nx.Graph, node: str, where: str, **attrs: object) -> None:
    if node in g:
        raise InputError(where, f"two nodes named {node!r}", "distinct node names")
    g.add_node(node, **attrs)


def add_router(g: nx.Graph, router: str, where: str) -> None:
    """A network node's router (kind ``switch``)."""
    _add(g, router, where, kind="switch")


def add_zone(
    g: nx.Graph, router: str, label: str, cfg: AttachConfig, where: str, weight: float | None
) -> str:
    """A user zone at ``router`` (its share of requests ``weight``, if given)."""
    zone = f"zone-{label}"
    _add(g, zone, where, kind="user", **({} if weight is None else {"weight": float(weight)}))
    g.add_edge(
        zone,
        router,
        bandwidth_mbps=ACCESS["bandwidth_mbps"],
        latency_ms=cfg.access_latency_ms,
        energy_uj_per_bit=cfg.access_energy_uj_per_bit,
        fluctuates=False,
    )
    return zone


def add_edge_server(g: nx.Graph, router: str, label: str, device: str, where: str) -> str:
    """An edge server at ``router``, on the data centre's LAN; it may sleep."""
    edge = f"edge-{label}"
    _add(g, edge, where, kind="edge", device=device, count=1, can_sleep=True)
    g.add_edge(edge, router, **LAN, fluctuates=False)
    return edge


def add_cloud(
    g: nx.Graph,
    router: str,
    label: str,
    cfg: AttachConfig,
    where: str,
    latency_ms: float = LAN["latency_ms"],
    energy_uj_per_bit: float = LAN["energy_uj_per_bit"],
) -> str:
    """A cloud site at ``router`` over its uplink (shared by its traffic; it fluctuates):
    by default a data centre at the node, on its LAN."""
    cloud = f"cloud-{label}"
    _add(
        g,
        cloud,
        where,
        kind="cloud",
        device=cfg.cloud_device,
        count=cfg.cloud_count,
        can_sleep=False,
    )
    g.add_edge(
        cloud,
        router,
        bandwidth_mbps=cfg.cloud_bandwidth_mbps,
        latency_ms=latency_ms,
        energy_uj_per_bit=energy_uj_per_bit,
        fluctuates=True,
    )
    return cloud


def greedy_median(cost: np.ndarray, weight: np.ndarray, k: int) -> list[int]:
    """``k`` sites by the greedy p-median heuristic (Kuehn and Hamburger, Management Science
    1963): each next site the candidate that most lowers the weighted sum of every demand
    point's cost to its nearest chosen site; ties by the candidates' order.

    Parameters
    ----------
    cost : ndarray, shape (points, candidates)
        Cost (latency, distance) from each demand point to each candidate site.
    weight : ndarray, shape (points,)
    k : int
    """
    chosen: list[int] = []
    nearest = np.full(cost.shape[0], np.inf)
    for _ in range(min(k, cost.shape[1])):
        total = (np.minimum(nearest[:, None], cost) * weight[:, None]).sum(axis=0)
        total[chosen] = np.inf
        best = int(np.argmin(total))
        chosen.append(best)
        nearest = np.minimum(nearest, cost[:, best])
    return chosen
