"""Systems on the EUA sites (perllm_opt/system/sites.py, ``topology=eua``): connected systems
of several sizes, users grouped by their nearest site, latency from distance, and errors that
name the key, the file and the line."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from perllm_opt.config import TopologyConfig
from perllm_opt.errors import InputError
from perllm_opt.system.build import build_graph_from
from perllm_opt.system.geo import great_circle_km
from perllm_opt.system.presets import LAN
from perllm_opt.system.sites import SITES_FILE, USERS_FILE, SitesConfig, read_eua, sites_graph
from perllm_opt.system.topology import topology_from_graph

EUA = Path(__file__).resolve().parent.parent / "perllm_opt" / "data" / "sites" / "eua"


def _csv(name: str) -> list[dict[str, str]]:
    with (EUA / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _system(catalog, **knobs):
    cfg = TopologyConfig(preset="eua", eua=SitesConfig(**knobs))
    graph = build_graph_from(cfg, catalog)
    return graph, topology_from_graph(graph, catalog)


def test_data_is_the_eua_dataset():
    data = read_eua()
    assert len(data.site_ids) == 125 and len(data.user_lon_lat_deg) == 816
    first = _csv(SITES_FILE)[0]
    assert data.site_ids[0] == first["SITE_ID"]
    assert data.site_lon_lat_deg[0].tolist() == [
        float(first["LONGITUDE"]),
        float(first["LATITUDE"]),
    ]
    # Melbourne's CBD: a few km across.
    span = great_circle_km(*data.site_lon_lat_deg.min(axis=0), *data.site_lon_lat_deg.max(axis=0))
    assert 1 < float(span) < 10


@pytest.mark.parametrize("sites", [3, 10, 125])
def test_sites_give_connected_systems(sites, catalog):
    graph, topo = _system(catalog, sites=sites)
    assert nx.is_connected(graph)
    assert int((~topo.server_is_cloud).sum()) == sites and int(topo.server_is_cloud.sum()) == 1
    assert topo.path_reachable.all()  # every zone reaches every server
    assert 1 <= topo.n_zones <= sites
    # Every user is in a zone: the zones' weights are user counts summing to 816.
    assert topo.zone_weight is not None and topo.zone_weight.sum() == 816
    assert np.all(topo.zone_weight >= 1) and np.all(topo.zone_weight == np.round(topo.zone_weight))
    # Each site's metro links reach at least its 3 nearest sites (fewer if there are fewer).
    routers = [n for n, d in graph.nodes(data=True) if d["kind"] == "switch"]
    metro = graph.subgraph(routers)
    assert nx.is_connected(metro)
    assert min(d for _, d in metro.degree()) >= min(3, sites - 1)


def test_users_are_grouped_by_their_nearest_site(catalog):
    _, topo = _system(catalog, sites=10)
    sites = {s["SITE_ID"]: (float(s["LONGITUDE"]), float(s["LATITUDE"])) for s in _csv(SITES_FILE)}
    chosen = [s.removeprefix("edge-") for s in topo.servers if s.startswith("edge-")]
    pos = np.asarray([sites[s] for s in chosen])
    users = np.asarray([(float(u["Longitude"]), float(u["Latitude"])) for u in _csv(USERS_FILE)])
    d = great_circle_km(users[:, None, 0], users[:, None, 1], pos[None, :, 0], pos[None, :, 1])
    counts = np.bincount(np.argmin(d, axis=1), minlength=len(chosen))
    by_zone = {
        z.removeprefix("zone-"): w for z, w in zip(topo.zones, topo.zone_weight, strict=True)
    }
    assert {s: by_zone.get(s, 0) for s in chosen} == {
        s: int(c) for s, c in zip(chosen, counts, strict=True)
    }


def test_sites_cut_the_users_distance():
    """Greedy p-median: the first site is the one nearest to all users in sum; the sites of a
    smaller system are the first of a larger one's."""
    data = read_eua()
    u, s = data.user_lon_lat_deg, data.site_lon_lat_deg
    d = great_circle_km(u[:, None, 0], u[:, None, 1], s[None, :, 0], s[None, :, 1])
    best = data.site_ids[int(np.argmin(d.sum(axis=0)))]
    one = [n for n in sites_graph(SitesConfig(sites=1)) if str(n).startswith("edge-")]
    assert one == [f"edge-{best}"]
    small = [n for n in sites_graph(SitesConfig(sites=5)) if str(n).startswith("edge-")]
    large = [n for n in sites_graph(SitesConfig(sites=20)) if str(n).startswith("edge-")]
    assert large[:5] == small


def test_latency_grows_with_distance(catalog):
    graph, topo = _system(catalog, sites=20)
    data = read_eua()
    where = {f"site-{sid}": data.site_lon_lat_deg[k] for k, sid in enumerate(data.site_ids)}
    for u, v, d in graph.edges(data=True):
        if u in where and v in where:  # a metro link: hop + 1.3 x fibre over the distance
            km = float(great_circle_km(*where[u], *where[v]))
            assert d["latency_ms"] == pytest.approx(0.04 + 1.3 * km * 4.9e-3)
    gc, lat = [], []
    for z, zone in enumerate(topo.zones):
        a = where[f"site-{zone.removeprefix('zone-')}"]
        for j, server in enumerate(topo.servers):
            if topo.server_is_cloud[j]:
                continue
            km = float(great_circle_km(*a, *where[f"site-{server.removeprefix('edge-')}"]))
            floor_ms = 4.0 + LAN["latency_ms"] + 1.3 * km * 4.9e-3
            assert topo.path_latency_s[z, j] * 1e3 >= floor_ms - 1e-9
            gc.append(km)
            lat.append(topo.path_latency_s[z, j])
    rank = np.corrcoef(np.argsort(np.argsort(gc)), np.argsort(np.argsort(lat)))[0, 1]
    assert rank > 0.7, rank


def test_cloud_latency_follows_its_distance(catalog):
    _, near = _system(catalog, cloud_distance_km=100.0)
    _, far = _system(catalog)  # Sydney, 713.4 km
    cloud = near.servers.index("cloud-region")
    extra_ms = (713.4 - 100.0) * 2.1 * 4.9e-3
    np.testing.assert_allclose(
        (far.path_latency_s[:, cloud] - near.path_latency_s[:, cloud]) * 1e3, extra_ms
    )
    # Melbourne to Sydney: about 7 ms one way over the Internet (2.1 x the great circle).
    assert 6e-3 < far.path_latency_s[:, cloud].min() - 4e-3 < 9e-3


@pytest.mark.parametrize(
    "knobs,match",
    [
        ({"sites": 126}, r"topology.eua.sites: got 126, expected at most the 125 sites of"),
        ({"sites": 0}, "topology.eua.sites: got 0"),
        ({"neighbours": 0}, "topology.eua.neighbours: got 0"),
        ({"cloud_distance_km": -1.0}, "topology.eua.cloud_distance_km: got -1.0"),
        ({"cloud_distance_km": 30_000.0}, "topology.eua.cloud_distance_km: got 30000.0"),
        ({"edge_devices": []}, r"topology.eua.edge_devices: got \[\]"),
        ({"data_dir": "/nonexistent/eua"}, "topology.eua.data_dir: got '/nonexistent/eua'"),
    ],
)
def test_bad_knobs_name_the_key(knobs, match, catalog):
    with pytest.raises(InputError, match=match):
        build_graph_from(TopologyConfig(preset="eua", eua=SitesConfig(**knobs)), catalog)


def _copy(tmp_path: Path) -> Path:
    for name in (SITES_FILE, USERS_FILE):
        shutil.copy(EUA / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, line: int, old: str, new: str) -> None:
    lines = path.read_text("utf-8").splitlines(keepends=True)
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_text("".join(lines), "utf-8")


@pytest.mark.parametrize(
    "file,line,old,new,match",
    [
        (SITES_FILE, 3, "-37.81524", "north", f"{SITES_FILE} line 3 LATITUDE: got 'north'"),
        (SITES_FILE, 4, "144.9712", "444.9712", f"{SITES_FILE} line 4: got"),
        (SITES_FILE, 1, "LATITUDE", "LAT", f"{SITES_FILE} line 1: got"),
        (SITES_FILE, 3, "10003027", "10003026", f"{SITES_FILE} SITE_ID: got \\['10003026'\\]"),
        (USERS_FILE, 5, ",", ";", f"{USERS_FILE} line 5: got"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, file, line, old, new, match):
    base = _copy(tmp_path)
    _edit(base / file, line, old, new)
    with pytest.raises(InputError, match=match):
        read_eua(str(base))


def test_missing_file_is_named(tmp_path):
    base = _copy(tmp_path)
    (base / USERS_FILE).unlink()
    with pytest.raises(
        InputError, match=f"topology.eua.data_dir: got .*a folder with {USERS_FILE}"
    ):
        read_eua(str(base))


def test_own_copy_by_data_dir(tmp_path, catalog):
    base = _copy(tmp_path)
    _, topo = _system(catalog, sites=4, data_dir=str(base))
    _, packaged = _system(catalog, sites=4)
    assert topo.servers == packaged.servers
    np.testing.assert_allclose(topo.path_latency_s, packaged.path_latency_s)
