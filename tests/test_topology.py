"""Topologies (perllm_opt/system/topology.py, presets.py) and deployments (deployment.py): presets,
hand-computed paths, file round trips and the errors for broken graphs."""

from __future__ import annotations

import copy
import itertools
import json
import re

import networkx as nx
import numpy as np
import pytest
from support import HAND_GRAPH

from perllm_opt.config import DeploymentConfig, InstanceConfig, TopologyConfig, WorkloadConfig
from perllm_opt.errors import InputError
from perllm_opt.instance.build import build_instance
from perllm_opt.system.deployment import resolve_deployment
from perllm_opt.system.presets import PRESETS, large_graph, paper_graph
from perllm_opt.system.topology import build_graph, load_graph, topology_from_graph

# -- presets ---------------------------------------------------------------------------------


def test_paper_preset(catalog):
    topo = topology_from_graph(paper_graph(), catalog)
    assert topo.n_zones == 3
    edges = [s for s, c in zip(topo.servers, topo.server_is_cloud, strict=True) if not c]
    clouds = [s for s, c in zip(topo.servers, topo.server_is_cloud, strict=True) if c]
    assert len(edges) == 3 and len(clouds) == 1
    assert {topo.server_device[topo.servers.index(e)] for e in edges} == {"cpu-xeon-4214r"}
    assert topo.server_device[topo.servers.index("cloud")] == "a100-80gb"
    assert np.all(topo.server_can_sleep == ~topo.server_is_cloud)
    assert topo.path_reachable.all()
    # Hand-computed paths: own edge over the 3 ms access link (0.3 uJ/bit); another edge
    # over the zone uplink (4 ms) and metro (1 ms), 0.3 + 0.1 uJ/bit; the cloud over the
    # uplink and the WAN (20 ms, 1.7 uJ/bit).
    for z, zone in enumerate(topo.zones):
        for j, srv in enumerate(topo.servers):
            if srv == "cloud":
                lat, e = 0.024, 2.0e-6
            elif srv[-1] == zone[-1]:
                lat, e = 0.003, 0.3e-6
            else:
                lat, e = 0.005, 0.4e-6
            assert topo.path_latency_s[z, j] == pytest.approx(lat), (zone, srv)
            assert topo.path_energy_j_per_bit[z, j] == pytest.approx(e), (zone, srv)
    # Every zone's cloud path takes the WAN link (the shared bottleneck), 2 hops.
    index = {frozenset(uv): k for k, uv in enumerate(topo.links)}
    wan = index[frozenset(("metro", "cloud"))]
    for z in range(3):
        assert topo.path_links[topo.path_id(z, topo.servers.index("cloud"))] == (
            index[frozenset((f"zone{z}", "metro"))],
            wan,
        )
    assert topo.link_fluctuates.tolist().count(True) == 1 and topo.link_fluctuates[wan]


def test_long_chain_and_ties_route_like_dijkstra(catalog):
    """A zone behind a chain of 3,000 switches reaches the cloud along the chain (the path
    search keeps predecessors, so memory grows with the chain, not its square: a 350,000-switch
    chain took 871 MB instead of exhausting the machine); and on a graph with tied routes the
    path is the one networkx's single-source Dijkstra picks."""
    g = nx.Graph()
    g.add_node("z", kind="user")
    chain = [f"s{i}" for i in range(3000)]
    for a, b in zip(["z", *chain], [*chain, "c"], strict=True):
        g.add_node(b, kind="switch")
        g.add_edge(a, b, latency_ms=0.1, bandwidth_mbps=1000.0)
    g.add_node("c", kind="cloud", device="a100-80gb")
    topo = topology_from_graph(g, catalog)
    links = topo.path_links[topo.path_id(0, 0)]
    assert len(links) == 3001
    assert [tuple(sorted(topo.links[k])) for k in links[:2]] == [("s0", "z"), ("s0", "s1")]
    assert topo.path_latency_s[0, 0] == pytest.approx(3001 * 1e-4)
    # Ties: a square z-a-c / z-b-c of equal links, and a second zone.
    t = nx.Graph()
    t.add_node("z", kind="user")
    t.add_node("y", kind="user")
    for n in ("a", "b"):
        t.add_node(n, kind="switch")
        t.add_edge("z", n, latency_ms=1.0, bandwidth_mbps=100.0)
        t.add_edge("y", n, latency_ms=1.0, bandwidth_mbps=100.0)
        t.add_edge(n, "c", latency_ms=1.0, bandwidth_mbps=100.0)
    t.add_node("c", kind="cloud", device="a100-80gb")
    topo = topology_from_graph(t, catalog)
    for zi, zone in enumerate(topo.zones):
        sub = t.subgraph([n for n in t.nodes if n == zone or n not in topo.zones])
        _, paths = nx.single_source_dijkstra(
            sub, zone, weight=lambda u, v, d: float(d["latency_ms"]) + 1e-9
        )
        want = tuple(
            topo.links.index(e) if e in topo.links else topo.links.index(e[::-1])
            for e in itertools.pairwise(paths["c"])
        )
        assert topo.path_links[topo.path_id(zi, 0)] == want


def test_large_preset(catalog):
    topo = topology_from_graph(large_graph(), catalog)
    edge = ~topo.server_is_cloud
    assert topo.n_zones >= 5
    assert edge.sum() >= 20
    assert topo.server_is_cloud.sum() >= 2
    assert len({d for d, e in zip(topo.server_device, edge, strict=True) if e}) >= 3
    assert topo.path_reachable.all()
    # Each zone has edges of its own, nearer than any other zone's.
    for z in range(topo.n_zones):
        lat = topo.path_latency_s[z][edge]
        assert (lat == lat.min()).sum() >= 4
        assert lat.min() == pytest.approx(0.0035)  # 3 ms access + 0.5 ms LAN
    assert sorted(topo.path_latency_s[0][~edge].tolist()) == pytest.approx([0.024, 0.039])


def test_path_sentinel_matrix(catalog):
    topo = topology_from_graph(paper_graph(), catalog)
    for pid, links in enumerate(topo.path_links):
        row = topo.path_link_matrix[pid]
        assert tuple(row[: len(links)].tolist()) == links
        assert np.all(row[len(links) :] == topo.n_links)


@pytest.mark.parametrize("make", [paper_graph, large_graph])
@pytest.mark.parametrize("suffix", [".graphml", ".json"])
def test_load_graph_round_trips_presets(tmp_path, catalog, make, suffix):
    g = make()
    path = tmp_path / f"g{suffix}"
    if suffix == ".graphml":
        nx.write_graphml(g, path)
    else:
        path.write_text(json.dumps(nx.node_link_data(g, edges="links")), "utf-8")
    g2 = load_graph(path)
    assert set(g2.nodes) == set(g.nodes)
    assert {frozenset(e) for e in g2.edges} == {frozenset(e) for e in g.edges}
    for n, attrs in g.nodes(data=True):
        assert g2.nodes[n] == attrs
    for u, v, attrs in g.edges(data=True):
        assert g2.edges[u, v] == attrs
    t1, t2 = topology_from_graph(g, catalog), topology_from_graph(g2, catalog)
    assert t1.servers == t2.servers and t1.zones == t2.zones and t1.links == t2.links
    np.testing.assert_array_equal(t1.path_latency_s, t2.path_latency_s)
    np.testing.assert_array_equal(t1.path_energy_j_per_bit, t2.path_energy_j_per_bit)
    np.testing.assert_array_equal(t1.server_can_sleep, t2.server_can_sleep)
    np.testing.assert_array_equal(t1.server_count, t2.server_count)
    assert t1.path_links == t2.path_links


def test_node_link_json_with_edges_key(tmp_path, catalog):
    data = copy.deepcopy(HAND_GRAPH)
    data["edges"] = data.pop("links")
    p = tmp_path / "g.json"
    p.write_text(json.dumps(data), "utf-8")
    assert set(load_graph(p).nodes) == {"z", "e", "s", "c"}


def test_build_graph_choices(tmp_path):
    assert set(PRESETS) >= {"paper", "large"}
    with pytest.raises(InputError, match=r"topology\.preset"):
        build_graph("huge", None)
    with pytest.raises(InputError, match="exactly one"):
        build_graph("paper", str(tmp_path / "x.json"))
    with pytest.raises(InputError, match="exactly one"):
        build_graph(None, None)


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("g.txt", "x", "graphml or .json"),
        ("g.json", "{not json", "valid JSON"),
        ("g.json", "[1, 2]", "nodes"),
        ("g.json", '{"nodes": []}', "links"),
        ("g.graphml", "<graphml><oops", "GraphML"),
    ],
)
def test_unreadable_graph_files(tmp_path, name, text, match):
    p = tmp_path / name
    p.write_text(text, "utf-8")
    with pytest.raises(InputError, match=match) as err:
        load_graph(p)
    assert err.value.field == "topology.path"


def test_missing_graph_file(tmp_path):
    with pytest.raises(InputError, match=r"topology\.path"):
        load_graph(tmp_path / "none.graphml")


# -- topology errors ---------------------------------------------------------------------------


def _hand_graph(mutate=None) -> nx.Graph:
    data = copy.deepcopy(HAND_GRAPH)
    if mutate:
        mutate(data)
    return nx.node_link_graph(data, edges="links")


def _node(data, name):
    return next(n for n in data["nodes"] if n["id"] == name)


def _link(data, u, v):
    return next(ln for ln in data["links"] if {ln["source"], ln["target"]} == {u, v})


@pytest.fixture(scope="module")
def hand_catalog(hand_files):
    from perllm_opt.system.catalog import load_catalog

    return load_catalog(hand_files["models"], hand_files["devices"])


def test_hand_graph_is_valid(hand_catalog):
    topo = topology_from_graph(_hand_graph(), hand_catalog)
    assert topo.servers == ("e", "c") and topo.zones == ("z",)


def test_zone_without_path_to_a_server(hand_catalog):
    def isolate(d):
        d["nodes"].append({"id": "lonely", "kind": "user"})
        d["nodes"].append({"id": "sw2", "kind": "switch"})
        d["links"].append(
            {"source": "lonely", "target": "sw2", "bandwidth_mbps": 10, "latency_ms": 1}
        )

    with pytest.raises(InputError, match="lonely") as err:
        topology_from_graph(_hand_graph(isolate), hand_catalog)
    assert "no path" in str(err.value)


def test_zone_reaching_servers_only_through_another_zone(hand_catalog):
    """Requests never route through another zone's access point."""

    def behind(d):
        d["nodes"].append({"id": "z2", "kind": "user"})
        d["links"].append({"source": "z2", "target": "z", "bandwidth_mbps": 10, "latency_ms": 1})

    with pytest.raises(InputError, match="z2"):
        topology_from_graph(_hand_graph(behind), hand_catalog)


def test_server_without_device(hand_catalog):
    def drop(d):
        del _node(d, "e")["device"]

    with pytest.raises(InputError, match=r"server 'e'\.device") as err:
        topology_from_graph(_hand_graph(drop), hand_catalog)
    assert "edgebox" in str(err.value)  # lists the known profiles


def test_server_with_unknown_device(hand_catalog):
    def unknown(d):
        _node(d, "c")["device"] = "tpu-v9"

    with pytest.raises(InputError, match=r"server 'c'\.device") as err:
        topology_from_graph(_hand_graph(unknown), hand_catalog)
    assert "tpu-v9" in str(err.value)


@pytest.mark.parametrize("attr", ["bandwidth_mbps", "latency_ms"])
def test_link_without_bandwidth_or_latency(hand_catalog, attr):
    def drop(d):
        del _link(d, "s", "c")[attr]

    with pytest.raises(InputError, match=attr) as err:
        topology_from_graph(_hand_graph(drop), hand_catalog)
    assert "'s'" in str(err.value) and "'c'" in str(err.value)


@pytest.mark.parametrize(
    ("attr", "value"),
    [("bandwidth_mbps", 0), ("bandwidth_mbps", -5), ("latency_ms", -1), ("energy_uj_per_bit", -1)],
)
def test_bad_link_values(hand_catalog, attr, value):
    def bad(d):
        _link(d, "z", "e")[attr] = value

    with pytest.raises(InputError, match=attr) as err:
        topology_from_graph(_hand_graph(bad), hand_catalog)
    assert "'z'" in str(err.value) and "'e'" in str(err.value)


def test_non_numeric_bandwidth(hand_catalog):
    def bad(d):
        _link(d, "z", "e")["bandwidth_mbps"] = "fast"

    with pytest.raises(InputError, match="bandwidth_mbps"):
        topology_from_graph(_hand_graph(bad), hand_catalog)


@pytest.mark.parametrize(
    ("node", "attr", "value", "match"),
    [
        ("s", "kind", "router", "kind"),
        ("e", "count", 0, "count"),
        ("e", "count", 1.5, "count"),
        ("e", "can_sleep", "maybe", "can_sleep"),
    ],
)
def test_bad_node_attributes(hand_catalog, node, attr, value, match):
    def bad(d):
        _node(d, node)[attr] = value

    with pytest.raises(InputError, match=match) as err:
        topology_from_graph(_hand_graph(bad), hand_catalog)
    assert repr(node) in str(err.value)


def test_no_zone_or_no_server(hand_catalog):
    def no_zone(d):
        _node(d, "z")["kind"] = "switch"

    with pytest.raises(InputError, match="user"):
        topology_from_graph(_hand_graph(no_zone), hand_catalog)

    def no_server(d):
        _node(d, "e")["kind"] = "switch"
        _node(d, "c")["kind"] = "switch"

    with pytest.raises(InputError, match="server"):
        topology_from_graph(_hand_graph(no_server), hand_catalog)


def test_default_can_sleep_by_kind(hand_catalog):
    def defaults(d):
        del _node(d, "e")["can_sleep"]
        del _node(d, "c")["can_sleep"]

    topo = topology_from_graph(_hand_graph(defaults), hand_catalog)
    assert topo.server_can_sleep.tolist() == [True, False]


# -- deployment --------------------------------------------------------------------------------


def test_paper_deployment_memory(catalog):
    topo = topology_from_graph(paper_graph(), catalog)
    dep = resolve_deployment(
        topo, catalog, DeploymentConfig(), ["llama2-7b", "llama2-13b", "llama-33b"]
    )
    cloud = topo.servers.index("cloud")
    edge0 = topo.servers.index("edge0")
    # The cloud pools 2 x 80 GB and holds the three fp16 models: 13.48 + 26 + 65 GB.
    assert dep.memory_bytes[cloud] == pytest.approx(160e9)
    assert dep.kv_budget_bytes[cloud] == pytest.approx(160e9 - 104.48e9)
    # An edge (128 GB) holds llama2-7b in q4_0 (3.82 GB).
    assert dep.kv_budget_bytes[edge0] == pytest.approx(128e9 - 3.82e9)
    assert dep.hosts[edge0].sum() == 1 and dep.hosts[cloud].sum() == 3


def test_model_deployed_nowhere(catalog):
    topo = topology_from_graph(paper_graph(), catalog)
    cfg = DeploymentConfig(edge=["llama2-7b"], cloud=["llama2-7b", "llama2-13b"])
    with pytest.raises(InputError, match="llama-33b") as err:
        resolve_deployment(topo, catalog, cfg, ["llama2-7b", "llama-33b"])
    assert "deployed nowhere" in str(err.value)


def test_model_deployed_nowhere_through_build_instance():
    cfg = InstanceConfig(
        horizon_s=60.0,
        workload=WorkloadConfig(rate_rps=0.5),
        deployment=DeploymentConfig(edge=["llama2-7b"], cloud=["llama2-7b"]),
    )
    with pytest.raises(InputError, match="llama2-13b"):
        build_instance(cfg)


def test_weights_exceed_memory(catalog):
    # An RTX 4090 (24 GB) cannot hold 3.82 + 7.24 + 18.3 GB of q4_0 weights.
    topo = topology_from_graph(large_graph(), catalog)
    cfg = DeploymentConfig(edge=["llama2-7b", "llama2-13b", "llama-33b"])
    with pytest.raises(InputError) as err:
        resolve_deployment(topo, catalog, cfg, ["llama2-7b"])
    msg = str(err.value)
    assert "29.4 GB" in msg and "24.0 GB" in msg
    first_4090 = next(
        s for s, d in zip(topo.servers, topo.server_device, strict=True) if d == "rtx-4090"
    )
    assert repr(first_4090) in msg


def test_single_a100_cannot_hold_all_cloud_models(catalog):
    g = paper_graph()
    g.nodes["cloud"]["count"] = 1
    topo = topology_from_graph(g, catalog)
    with pytest.raises(InputError, match="'cloud'") as err:
        resolve_deployment(topo, catalog, DeploymentConfig(), ["llama2-7b"])
    assert "104.5 GB" in str(err.value) and "80.0 GB" in str(err.value)


def test_deployment_name_errors(catalog):
    topo = topology_from_graph(paper_graph(), catalog)
    with pytest.raises(InputError, match=r"deployment\.servers"):
        resolve_deployment(topo, catalog, DeploymentConfig(servers={"edge9": ["llama2-7b"]}), [])
    with pytest.raises(InputError, match=r"deployment\.edge"):
        resolve_deployment(topo, catalog, DeploymentConfig(edge=["gpt-5"]), [])
    with pytest.raises(InputError, match=r"services\[\*\]\.model"):
        resolve_deployment(topo, catalog, DeploymentConfig(), ["gpt-5"])


def test_per_server_and_graph_deployment_win(catalog):
    g = paper_graph()
    g.nodes["edge2"]["models"] = "llama2-13b"
    topo = topology_from_graph(g, catalog)
    cfg = DeploymentConfig(servers={"edge1": ["llama-33b"], "edge2": ["llama-33b"]})
    dep = resolve_deployment(topo, catalog, cfg, ["llama2-7b"])
    hosted = {
        s: {m for m, h in zip(dep.models, dep.hosts[j], strict=True) if h}
        for j, s in enumerate(topo.servers)
    }
    assert hosted["edge0"] == {"llama2-7b"}
    assert hosted["edge1"] == {"llama-33b"}
    assert hosted["edge2"] == {"llama2-13b"}  # the graph attribute wins


def test_wan_bandwidth_override_only_touches_cloud_links():
    inst = build_instance(
        InstanceConfig(
            horizon_s=30.0,
            workload=WorkloadConfig(rate_rps=0.2),
            topology=TopologyConfig(preset="paper", wan_bandwidth_mbps=42.0),
        )
    )
    topo = inst.topology
    for (u, v), bw in zip(topo.links, topo.link_bandwidth_mbps, strict=True):
        assert bw == (42.0 if "cloud" in (u, v) else bw)
        if "cloud" not in (u, v):
            assert bw in (300.0, 1000.0)
    assert 42.0 in topo.link_bandwidth_mbps


# -- zone weights (user nodes' ``weight``) -------------------------------------------------------


def _two_zones(w1, w2):
    g = paper_graph()
    g.nodes["zone0"]["weight"] = w1
    g.nodes["zone1"]["weight"] = w2
    g.nodes["zone2"]["weight"] = 0.0
    return g


def test_zone_weights_from_the_graph_drive_the_requests(tmp_path, catalog):
    """Weights on user nodes survive a file round trip and set each zone's share of requests
    (a zone of weight 0 gets none); the config's workload.zone_weights win over them."""
    path = tmp_path / "weighted.json"
    path.write_text(json.dumps(nx.node_link_data(_two_zones(3.0, 1.0), edges="links")))
    topo = topology_from_graph(load_graph(path), catalog)
    assert topo.zone_weight.tolist() == [3.0, 1.0, 0.0]
    config = InstanceConfig(
        horizon_s=600.0,
        topology=TopologyConfig(preset=None, path=str(path)),
        workload=WorkloadConfig(rate_rps=5.0),
    )
    zone = build_instance(config, catalog=catalog).requests.zone
    counts = np.bincount(zone, minlength=3)
    assert counts[2] == 0 and 2.5 < counts[0] / counts[1] < 3.5
    config.workload = WorkloadConfig(rate_rps=5.0, zone_weights=[0.0, 0.0, 1.0])
    assert set(build_instance(config, catalog=catalog).requests.zone.tolist()) == {2}


@pytest.mark.parametrize(
    "mutate,match",
    [
        (
            lambda g: g.nodes["zone2"].pop("weight"),
            "zone 'zone2'.weight: got None, expected a weight on every user node or on none",
        ),
        (lambda g: g.nodes["zone1"].update(weight=-1.0), "zone 'zone1'.weight: got -1.0"),
        (lambda g: g.nodes["zone1"].update(weight="many"), "zone 'zone1'.weight: got 'many'"),
        (lambda g: g.nodes["edge0"].update(weight=1.0), "node 'edge0'.weight: got 1.0"),
        (
            lambda g: g.nodes["zone0"].update(weight=0.0) or g.nodes["zone1"].update(weight=0.0),
            "topology zones' weight: got",
        ),
    ],
)
def test_bad_zone_weights(mutate, match, catalog):
    g = _two_zones(3.0, 1.0)
    mutate(g)
    with pytest.raises(InputError, match=re.escape(match)):
        topology_from_graph(g, catalog)
