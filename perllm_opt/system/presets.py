"""Built-in edge-cloud topologies as NetworkX graphs.

Node attribute ``kind`` is one of ``user`` (a user zone / access point), ``edge``, ``cloud``
(servers) or ``switch``. Servers carry ``device`` (a profile of ``data/devices.yaml``),
``count`` (identical devices pooled in the node) and ``can_sleep``. Links carry
``bandwidth_mbps``, ``latency_ms`` (one way), ``energy_uj_per_bit`` and ``fluctuates``.

Link figures (labels as in docs/calibration.md):

- access (zone to its edge, WLAN 802.11ac/ax): 300 Mbps [E, range 100-600], 3 ms one way
  [E, RTT 2-10 ms], 0.30 uJ/bit [D: WiFi marginal uplink 0.28 uJ/bit, Huang et al.
  MobiSys'12 power model, plus the wired hop].
- metro (edge aggregation, wired): 1 Gbps, 1 ms [E], 0.1 uJ/bit [E].
- WAN (to the cloud, shared by all cloud-bound traffic): 100 Mbps [E, range 50 Mbps-1 Gbps],
  20 ms one way [E, RTT 20-80 ms intra-continent], 1.7 uJ/bit [E: fixed-line 0.06 kWh/GB in
  2015 (Aslan et al., J. Industrial Ecology 2018) halving every 2 years, extrapolated to 2023].
"""

from __future__ import annotations

import networkx as nx

ACCESS = {"bandwidth_mbps": 300.0, "latency_ms": 3.0, "energy_uj_per_bit": 0.30}
ZONE_UPLINK = {"bandwidth_mbps": 300.0, "latency_ms": 4.0, "energy_uj_per_bit": 0.30}
METRO = {"bandwidth_mbps": 1000.0, "latency_ms": 1.0, "energy_uj_per_bit": 0.10}
LAN = {"bandwidth_mbps": 1000.0, "latency_ms": 0.5, "energy_uj_per_bit": 0.05}
WAN = {"bandwidth_mbps": 100.0, "latency_ms": 20.0, "energy_uj_per_bit": 1.7}


def _link(g: nx.Graph, u: str, v: str, spec: dict[str, float], fluctuates: bool = False) -> None:
    g.add_edge(u, v, **spec, fluctuates=fluctuates)


def paper_graph(edge_device: str = "cpu-xeon-4214r") -> nx.Graph:
    """PerLLM-like set-up: 3 user zones, 3 CPU edge servers, 1 A100 cloud node.

    ``edge_device`` swaps the edge servers' device (preset ``paper_jetson``: Jetson AGX
    Orin, which can serve the 13B and 33B models within deadlines, unlike the CPU).

    Each zone reaches its own edge server directly and the other edges and the cloud through
    a metro switch; all cloud-bound traffic shares one WAN link (the cloud's bottleneck).
    The cloud node pools 2 A100-80GB: the three fp16 models (13.5 + 26 + 65 GB of weights)
    do not fit one 80 GB card, which the paper's single A100 could only hold quantised.
    """
    g = nx.Graph(name="paper")
    g.add_node("metro", kind="switch")
    g.add_node("cloud", kind="cloud", device="a100-80gb", count=2, can_sleep=False)
    _link(g, "metro", "cloud", WAN, fluctuates=True)
    for k in range(3):
        zone, edge = f"zone{k}", f"edge{k}"
        g.add_node(zone, kind="user")
        g.add_node(edge, kind="edge", device=edge_device, count=1, can_sleep=True)
        _link(g, zone, edge, ACCESS)
        _link(g, zone, "metro", ZONE_UPLINK)
        _link(g, "metro", edge, METRO)
    return g


LARGE_EDGE_MIX = ("cpu-xeon-4214r", "jetson-agx-orin-64gb", "rtx-4090", "jetson-agx-orin-64gb")


def large_graph(zones: int = 6, edges_per_zone: int = 4) -> nx.Graph:
    """A larger system: ``zones`` x ``edges_per_zone`` mixed edge servers, 2 cloud sites.

    Each zone has an aggregation switch serving its edge servers (a mix of CPU servers,
    Jetson AGX Orin and RTX 4090 boxes); the aggregation switches meet at a metro core, from
    which two WAN links reach an A100 site and an H100 site.
    """
    g = nx.Graph(name="large")
    g.add_node("core", kind="switch")
    g.add_node("cloud-a100", kind="cloud", device="a100-80gb", count=4, can_sleep=False)
    g.add_node("cloud-h100", kind="cloud", device="h100-80gb", count=2, can_sleep=False)
    _link(g, "core", "cloud-a100", {**WAN, "bandwidth_mbps": 200.0}, fluctuates=True)
    _link(
        g,
        "core",
        "cloud-h100",
        {**WAN, "bandwidth_mbps": 150.0, "latency_ms": 35.0},
        fluctuates=True,
    )
    for z in range(zones):
        zone, agg = f"zone{z}", f"agg{z}"
        g.add_node(zone, kind="user")
        g.add_node(agg, kind="switch")
        _link(g, zone, agg, ACCESS)
        _link(g, agg, "core", METRO)
        for k in range(edges_per_zone):
            name = f"edge{z}-{k}"
            device = LARGE_EDGE_MIX[(z + k) % len(LARGE_EDGE_MIX)]
            g.add_node(name, kind="edge", device=device, count=1, can_sleep=True)
            _link(g, agg, name, LAN)
    return g


def paper_jetson_graph() -> nx.Graph:
    """The paper preset with NVIDIA Jetson AGX Orin 64GB edge servers."""
    g = paper_graph(edge_device="jetson-agx-orin-64gb")
    g.graph["name"] = "paper_jetson"
    return g


PRESETS = {"paper": paper_graph, "paper_jetson": paper_jetson_graph, "large": large_graph}
