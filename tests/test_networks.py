"""Systems on real backbones (perllm_opt/system/networks.py, ``topology=zoo``): the packaged
Topology Zoo and SNDlib networks give connected systems, latency follows the links' lengths,
SNDlib demands weigh the zones, and odd or broken network files are handled as documented."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from perllm_opt.config import InstanceConfig, TopologyConfig, WorkloadConfig
from perllm_opt.errors import InputError
from perllm_opt.instance.build import build_instance
from perllm_opt.system.build import build_graph_from
from perllm_opt.system.geo import great_circle_km
from perllm_opt.system.networks import (
    NetworkConfig,
    available_networks,
    network_graph,
    read_network,
    resolve_network,
)
from perllm_opt.system.presets import ACCESS, LAN, LARGE_EDGE_MIX
from perllm_opt.system.topology import topology_from_graph

PACKAGED = Path(__file__).resolve().parent.parent / "perllm_opt" / "data" / "networks"
#: Three real networks of different sizes: (name, nodes, links in the file).
SIZES = [("Abilene", 11, 14), ("Geant2012", 37, 58), ("germany50", 50, 88)]


def _raw(name: str) -> dict:
    for sub in ("topozoo", "sndlib"):
        path = PACKAGED / sub / f"{name}.json"
        if path.is_file():
            return json.loads(path.read_text("utf-8"))
    raise FileNotFoundError(name)


def _system(network: str, catalog, **knobs):
    cfg = TopologyConfig(preset="zoo", network=network, zoo=NetworkConfig(**knobs))
    graph = build_graph_from(cfg, catalog)
    return graph, topology_from_graph(graph, catalog)


def _write(tmp_path: Path, name: str, data: dict) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data), "utf-8")
    return str(path)


@pytest.mark.parametrize("name,n_nodes,n_links", SIZES)
def test_real_networks_give_connected_systems(name, n_nodes, n_links, catalog):
    raw = _raw(name)
    assert len(raw["nodes"]) == n_nodes and len(raw["edges"]) == n_links
    graph, topo = _system(name, catalog)
    assert nx.is_connected(graph)
    # A zone at every node; a quarter of the nodes with an edge server; one cloud.
    assert topo.n_zones == n_nodes
    n_edges = max(1, round(0.25 * n_nodes))
    assert int((~topo.server_is_cloud).sum()) == n_edges and int(topo.server_is_cloud.sum()) == 1
    # Every zone reaches every server (hence a server), not through another zone.
    assert topo.path_reachable.all()
    # Backbone links: one per pair of nodes in the file (none doubled there).
    backbone = [
        (u, v)
        for u, v in topo.links
        if not any(x.startswith(("zone-", "edge-", "cloud-")) for x in (u, v))
    ]
    assert len(backbone) == n_links
    # The device mix in turn over the edge sites.
    edges = [d for d, c in zip(topo.server_device, topo.server_is_cloud, strict=True) if not c]
    assert edges == [LARGE_EDGE_MIX[i % len(LARGE_EDGE_MIX)] for i in range(n_edges)]


@pytest.mark.parametrize("name", [s[0] for s in SIZES])
def test_latency_grows_with_distance(name, catalog):
    """Every zone-to-server latency is at least the access and LAN links plus light in fibre
    over the great-circle distance between their nodes (times the route factor), and the
    latencies rise with that distance."""
    raw = _raw(name)
    net = read_network(name)
    _, topo = _system(name, catalog)
    pos = {lab: net.lon_lat_deg[k] for k, lab in enumerate(net.labels)}
    assert len(pos) == len(raw["nodes"])
    gc, lat = [], []
    for z, zone in enumerate(topo.zones):
        a = pos[zone.removeprefix("zone-")]
        for j, server in enumerate(topo.servers):
            if topo.server_is_cloud[j]:
                continue
            b = pos[server.removeprefix("edge-")]
            d_km = float(great_circle_km(a[0], a[1], b[0], b[1]))
            floor_ms = ACCESS["latency_ms"] + LAN["latency_ms"] + 0.995 * 1.3 * d_km * 4.9e-3
            assert topo.path_latency_s[z, j] * 1e3 >= floor_ms - 1e-9, (zone, server)
            gc.append(d_km)
            lat.append(topo.path_latency_s[z, j])
    rank = np.corrcoef(np.argsort(np.argsort(gc)), np.argsort(np.argsort(lat)))[0, 1]
    assert rank > 0.8, rank


def test_abilene_link_latency_by_hand(catalog):
    """New York - Washington DC in Abilene: the file's length, 1.3 x fibre at 4.9 us/km plus
    a 0.04-ms hop; the zone at New York reaches the edge at Washington over access, that
    link and the LAN."""
    raw = _raw("Abilene")
    names = {n["id"]: n["name"] for n in raw["nodes"]}
    (dist,) = [
        e["dist"]
        for e in raw["edges"]
        if {names[e["source"]], names[e["target"]]} == {"New York", "Washington DC"}
    ]
    graph, topo = _system("Abilene", catalog)
    link_ms = 0.04 + 1.3 * dist * 4.9e-3
    assert graph.edges["New York", "Washington DC"]["latency_ms"] == pytest.approx(link_ms)
    z, j = topo.zones.index("zone-New York"), topo.servers.index("edge-Washington DC")
    expected = (ACCESS["latency_ms"] + link_ms + LAN["latency_ms"]) / 1e3
    assert topo.path_latency_s[z, j] == pytest.approx(expected)
    # A longer route factor adds latency in proportion to the length only.
    _, slow = _system("Abilene", catalog, route_factor=2.6)
    assert slow.path_latency_s[z, j] - topo.path_latency_s[z, j] == pytest.approx(
        1.3 * dist * 4.9e-6
    )


def test_sndlib_demands_weigh_the_zones(catalog):
    raw = _raw("germany50")
    ids = [str(n["id"]) for n in raw["nodes"]]
    total = dict.fromkeys(ids, 0.0)
    for src, row in raw["graph"]["demands"].items():
        for dst, value in row.items():
            total[str(src)] += value
            total[str(dst)] += value
    _, topo = _system("germany50", catalog)
    label = {str(n["id"]): n["name"] for n in raw["nodes"]}
    expected = [total[i] for i in sorted(ids, key=lambda i: topo.zones.index(f"zone-{label[i]}"))]
    assert topo.zone_weight is not None
    np.testing.assert_allclose(topo.zone_weight, expected)
    # The requests follow them (unless workload.zone_weights says otherwise).
    config = InstanceConfig(
        horizon_s=400.0,
        topology=TopologyConfig(preset="zoo", network="germany50"),
        workload=WorkloadConfig(rate_rps=20.0),
    )
    inst = build_instance(config, catalog=catalog)
    share = np.bincount(inst.requests.zone, minlength=topo.n_zones) / len(inst.requests)
    p = topo.zone_weight / topo.zone_weight.sum()
    assert np.abs(share - p).max() < 0.03
    assert np.corrcoef(share, p)[0, 1] > 0.95


def test_topology_zoo_has_no_demands(catalog):
    _, topo = _system("Geant2012", catalog)
    assert topo.zone_weight is None


def test_edge_sites_cut_latency_first(catalog):
    """Greedy p-median: the first edge site is the node with the least total latency from
    all zones; more sites never raise a zone's latency to its nearest edge server."""
    _, full = _system("Geant2012", catalog, edge_share=1.0)
    edge = ~full.server_is_cloud
    assert int(edge.sum()) == 37
    # With a server at every node each zone's nearest is its own (access + LAN).
    own = (ACCESS["latency_ms"] + LAN["latency_ms"]) / 1e3
    np.testing.assert_allclose(full.path_latency_s[:, edge].min(axis=1), own)
    totals = full.path_latency_s[:, edge].sum(axis=0)
    best = np.asarray(full.servers)[edge][int(np.argmin(totals))]
    _, one = _system("Geant2012", catalog, edge_share=1 / 37)
    assert [s for s, c in zip(one.servers, one.server_is_cloud, strict=True) if not c] == [best]
    _, quarter = _system("Geant2012", catalog)
    nearest_one = one.path_latency_s[:, ~one.server_is_cloud].min(axis=1)
    nearest_many = quarter.path_latency_s[:, ~quarter.server_is_cloud].min(axis=1)
    assert np.all(nearest_many <= nearest_one + 1e-12)
    assert nearest_many.mean() < nearest_one.mean()
    # The second site is the best given the first (by brute force over the full system).
    lat = full.path_latency_s[:, edge]
    first = int(np.argmin(totals))
    second = int(np.argmin(np.minimum(lat[:, [first]], lat).sum(axis=0)))
    _, two = _system("Geant2012", catalog, edge_share=2 / 37)
    names = np.asarray(full.servers)[edge]
    assert [s for s, c in zip(two.servers, two.server_is_cloud, strict=True) if not c] == [
        names[first],
        names[second],
    ]


def test_cloud_at_best_connected_or_named_node(catalog):
    graph, topo = _system("Geant2012", catalog)
    (cloud,) = [s for s, c in zip(topo.servers, topo.server_is_cloud, strict=True) if c]
    node = cloud.removeprefix("cloud-")
    backbone = graph.subgraph([n for n, d in graph.nodes(data=True) if d["kind"] == "switch"])
    assert backbone.degree(node) == max(d for _, d in backbone.degree())
    _, two = _system("Geant2012", catalog, clouds=["UK", "5"], cloud_count=4)
    names = [s for s, c in zip(two.servers, two.server_is_cloud, strict=True) if c]
    assert len(names) == 2 and "cloud-UK" in names
    assert two.server_count[two.server_is_cloud].tolist() == [4, 4]
    _, many = _system("Abilene", catalog, n_clouds=3)
    assert int(many.server_is_cloud.sum()) == 3


def test_networks_by_name_path_and_data_dir(tmp_path):
    assert {"Abilene", "Geant2012", "abilene", "germany50"} <= set(available_networks())
    # Case matters: SNDlib's abilene is not Topology Zoo's Abilene.
    assert resolve_network("Abilene").parent.name == "topozoo"
    assert resolve_network("abilene").parent.name == "sndlib"
    assert resolve_network("sndlib/abilene").parent.name == "sndlib"
    (tmp_path / "topozoo").mkdir()
    (tmp_path / "topozoo" / "Mine.json").write_text(json.dumps(_raw("Abilene")))
    assert resolve_network("Mine", tmp_path) == tmp_path / "topozoo" / "Mine.json"
    assert read_network("Mine", tmp_path).n_nodes == 11
    direct = _write(tmp_path, "direct", _raw("Abilene"))
    assert read_network(direct).name == "direct"


@pytest.mark.parametrize(
    "network,data_dir,match",
    [
        ("Geant", None, r"topology.network: got 'Geant'.*close: Geant2012"),
        ("geant2012", None, r"close: Geant2012"),
        ("", None, "topology.network: got ''"),
        ("Abilene", "/nonexistent/networks", "topology.zoo.data_dir: got '/nonexistent"),
    ],
)
def test_unknown_networks_are_named(network, data_dir, match):
    with pytest.raises(InputError, match=match):
        read_network(network, data_dir)


def _abilene() -> dict:
    return json.loads(json.dumps(_raw("Abilene")))


def test_self_loops_are_dropped(tmp_path, caplog, catalog):
    data = _abilene()
    data["edges"].append({"source": "0", "target": "0", "dist": 5.0})
    path = _write(tmp_path, "loop", data)
    with caplog.at_level(logging.WARNING):
        graph = network_graph(path, NetworkConfig())
    assert "1 link(s) from a node to itself dropped" in caplog.text
    plain = network_graph("Abilene", NetworkConfig())
    assert sorted(map(sorted, graph.edges)) == sorted(map(sorted, plain.edges))


def test_parallel_links_add_rates_and_keep_the_shortest(tmp_path, caplog, catalog):
    data = _abilene()
    first = data["edges"][0]
    first["LinkSpeedRaw"] = 10e9
    data["edges"].append(
        {
            "source": first["target"],
            "target": first["source"],
            "dist": first["dist"] / 2,
            "bandwidth_mbps": 2500,
        }
    )
    names = {n["id"]: n["name"] for n in data["nodes"]}
    u, v = names[first["source"]], names[first["target"]]
    with caplog.at_level(logging.WARNING):
        graph = network_graph(_write(tmp_path, "parallel", data), NetworkConfig())
    assert "1 parallel link(s) merged" in caplog.text
    link = graph.edges[u, v]
    assert link["bandwidth_mbps"] == pytest.approx(10_000 + 2_500)
    assert link["latency_ms"] == pytest.approx(0.04 + 1.3 * first["dist"] / 2 * 4.9e-3)
    # A link without a rate of its own takes topology.zoo.link_bandwidth_mbps.
    other = next(
        iter(
            e
            for e in graph.edges(data=True)
            if {e[0], e[1]} != {u, v}
            and graph.nodes[e[0]]["kind"] == graph.nodes[e[1]]["kind"] == "switch"
        )
    )
    assert other[2]["bandwidth_mbps"] == 1000.0
    topology_from_graph(graph, catalog)


def test_missing_lengths_come_from_positions(tmp_path, catalog):
    data = _abilene()
    for e in data["edges"]:
        del e["dist"]
    graph = network_graph(_write(tmp_path, "nolength", data), NetworkConfig())
    plain = network_graph("Abilene", NetworkConfig())
    for u, v, d in plain.edges(data=True):
        # topohub's lengths are geodesic; the haversine on a sphere is within 0.5% of them.
        assert graph.edges[u, v]["latency_ms"] == pytest.approx(d["latency_ms"], rel=5e-3)


def test_missing_length_and_position_is_named(tmp_path):
    data = _abilene()
    del data["edges"][0]["dist"]
    end = data["edges"][0]["target"]
    node = next(n for n in data["nodes"] if n["id"] == end)
    del node["pos"]
    with pytest.raises(
        InputError,
        match=rf"noposition.json link .*no position of node "
        rf"'{node['name']}'",
    ):
        network_graph(_write(tmp_path, "noposition", data), NetworkConfig())


def test_disconnected_parts_are_left_out(tmp_path, caplog, catalog):
    data = _abilene()
    data["nodes"] += [
        {"id": "x1", "name": "Island A", "pos": [-150.0, 20.0]},
        {"id": "x2", "name": "Island B", "pos": [-151.0, 20.5]},
    ]
    data["edges"].append({"source": "x1", "target": "x2", "dist": 110.0})
    path = _write(tmp_path, "islands", data)
    with caplog.at_level(logging.WARNING):
        graph = network_graph(path, NetworkConfig())
    assert "2 of 13 nodes are not connected to its largest part" in caplog.text
    assert "Island A" not in graph and nx.is_connected(graph)
    assert topology_from_graph(graph, catalog).n_zones == 11
    with pytest.raises(InputError, match=r"topology.zoo.clouds: got 'Island A'"):
        network_graph(path, NetworkConfig(clouds=["Island A"]))


def test_shared_names_get_their_id(tmp_path, catalog):
    data = _abilene()
    data["nodes"][1]["name"] = data["nodes"][0]["name"]
    graph = network_graph(_write(tmp_path, "twins", data), NetworkConfig())
    assert "New York#0" in graph and "New York#1" in graph
    assert topology_from_graph(graph, catalog).n_zones == 11


@pytest.mark.parametrize(
    "change,match",
    [
        (
            lambda d: d.update(nodes=d["nodes"][:1], edges=[]),
            r"topology.network: got 'small \(1 connected node\)'.*at least 2",
        ),
        (
            lambda d: d["nodes"].append(dict(d["nodes"][0])),
            "small.json nodes: got \"id '0' twice\"",
        ),
        (
            lambda d: d["edges"].append({"source": "0", "target": "99", "dist": 1}),
            "small.json link 14: got \"an end '99'\"",
        ),
        (lambda d: d["edges"][0].update(dist=-3), r"small.json link \(.*\).dist: got -3"),
        (lambda d: d["edges"][0].update(dist="far"), r"small.json link \(.*\).dist: got 'far'"),
        (lambda d: d["nodes"][0].update(pos=[200, 0]), "small.json node '0'.pos: got"),
        (lambda d: d["nodes"][0].update(pos="here"), "small.json node '0'.pos: got 'here'"),
        (
            lambda d: d.update(graph={"demands": {"0": {"77": 5}}}),
            "small.json demands: got \"a demand of node '77'\"",
        ),
        (
            lambda d: d.update(graph={"demands": {"0": {"1": -5}}}),
            r"small.json demands\[0\]\[1\]: got -5",
        ),
        (lambda d: d.pop("nodes"), "expected a node-link JSON object"),
    ],
)
def test_broken_network_files_are_named(tmp_path, change, match):
    data = _abilene()
    change(data)
    with pytest.raises(InputError, match=match):
        network_graph(_write(tmp_path, "small", data), NetworkConfig())


def test_not_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"nodes": [', "utf-8")
    with pytest.raises(InputError, match=r"topology.network: got .*broken\.json"):
        read_network(str(path))


@pytest.mark.parametrize(
    "cfg,match",
    [
        (
            TopologyConfig(preset="zoo", network="Abilene", zoo=NetworkConfig(n_clouds=12)),
            "topology.zoo.n_clouds: got 12, expected at most the 11 connected nodes",
        ),
        (
            TopologyConfig(preset="zoo", network="Abilene", zoo=NetworkConfig(clouds=["Mars"])),
            "topology.zoo.clouds: got 'Mars'",
        ),
        (
            TopologyConfig(
                preset="zoo", network="Abilene", zoo=NetworkConfig(edge_devices=["tpu-v5"])
            ),
            "topology.zoo.edge_devices: got 'tpu-v5'",
        ),
        (TopologyConfig(preset="zoo", network=None), "topology.network: got None"),
    ],
)
def test_config_errors_name_the_key(cfg, match, catalog):
    with pytest.raises(InputError, match=match):
        build_graph_from(cfg, catalog)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"preset": "paper", "network": "Abilene"}, "topology.network: got 'Abilene'"),
        (
            {"preset": "zoo", "network": "Abilene", "zoo": NetworkConfig(edge_share=0)},
            "topology.zoo.edge_share: got 0",
        ),
        (
            {"preset": "zoo", "network": "Abilene", "zoo": NetworkConfig(edge_share=1.5)},
            "topology.zoo.edge_share: got 1.5",
        ),
        (
            {"preset": "zoo", "network": "Abilene", "zoo": NetworkConfig(route_factor=0.5)},
            "topology.zoo.route_factor: got 0.5",
        ),
        (
            {"preset": "zoo", "network": "Abilene", "zoo": NetworkConfig(cloud_count=10**6)},
            "topology.zoo.cloud_count: got 1000000",
        ),
        (
            {"preset": "zoo", "network": "Abilene", "zoo": NetworkConfig(link_bandwidth_mbps=0)},
            "topology.zoo.link_bandwidth_mbps: got 0",
        ),
    ],
)
def test_topology_config_checks(kwargs, match):
    with pytest.raises(InputError, match=match):
        TopologyConfig(**kwargs)
