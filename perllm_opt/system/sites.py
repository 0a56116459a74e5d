"""Edge-cloud systems on real sites: the EUA dataset's base stations and users in Melbourne.

``topology=eua`` puts edge servers at EUA sites (Lai et al., "Optimal Edge User Allocation
in Edge Computing with Variable Sized Vector Bin Packing", ICSOC 2018: 125 Optus sites and
816 users in Melbourne's CBD), groups the users into one zone per site by the nearest site,
joins the sites by metro fibre to their nearest neighbours, and reaches a cloud region at a
configurable distance. Modelling choices and sources: docs/model.md, "Systems on real
networks and sites".
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import networkx as nx
import numpy as np

from perllm_opt.errors import InputError, require, require_positive
from perllm_opt.system.attach import (
    AttachConfig,
    add_cloud,
    add_edge_server,
    add_router,
    add_zone,
    greedy_median,
)
from perllm_opt.system.geo import INTERNET_ROUTE_FACTOR, fibre_latency_ms, great_circle_km
from perllm_opt.system.presets import WAN

SITES_FILE = "site-optus-melbCBD.csv"
USERS_FILE = "users-melbcbd-generated.csv"
#: Great-circle distance from Melbourne's CBD (37.8136 S, 144.9631 E) to Sydney's (33.8688 S,
#: 151.2093 E), where the nearest large cloud regions of most providers are, km.
SYDNEY_KM = 713.4


@dataclass
class SitesConfig(AttachConfig):
    """``topology.eua``: the system on the EUA sites.

    Attributes
    ----------
    data_dir : str or None
        A folder holding ``site-optus-melbCBD.csv`` and ``users-melbcbd-generated.csv``
        (the EUA layout); ``None``: the copy packaged with perllm-opt.
    sites : int
        How many sites get an edge server, placed where they cut the users' distance to
        their nearest server most (greedy p-median; all 125: every site).
    neighbours : int
        Each site's metro links go to its this many nearest sites (plus the links of a
        minimum spanning tree, so that the metro is connected).
    cloud_distance_km, cloud_route_factor : float
        The cloud region's great-circle distance from the gateway site (the site nearest
        the sites' centre) and how much longer the Internet path is.
    access_latency_ms, access_energy_uj_per_bit : float
        5G user-plane latency (ITU-R M.2410: 4 ms for eMBB) and the LTE radio's marginal
        uplink energy (Huang et al., MobiSys 2012: 438 mW/Mbps).
    """

    data_dir: str | None = None
    sites: int = 10
    neighbours: int = 3
    cloud_distance_km: float = SYDNEY_KM
    cloud_route_factor: float = INTERNET_ROUTE_FACTOR
    access_latency_ms: float = 4.0
    access_energy_uj_per_bit: float = 0.44

    def check(self, key: str = "topology.eua") -> None:
        """Raise :class:`InputError` naming ``key.<field>`` for a value that makes no sense."""
        super().check(key)
        for name, least in (("sites", 1), ("neighbours", 1)):
            value = getattr(self, name)
            require(
                isinstance(value, int) and not isinstance(value, bool) and value >= least,
                f"{key}.{name}",
                value,
                f"an integer >= {least}",
            )
        require_positive(self.cloud_distance_km, f"{key}.cloud_distance_km")
        require(
            self.cloud_distance_km <= 20_040,
            f"{key}.cloud_distance_km",
            self.cloud_distance_km,
            "a distance on the Earth (at most 20,040 km, half its circumference)",
        )
        require(
            isinstance(self.cloud_route_factor, int | float) and 1 <= self.cloud_route_factor < 100,
            f"{key}.cloud_route_factor",
            self.cloud_route_factor,
            "a number >= 1",
        )


@dataclass(frozen=True, eq=False)
class EuaData:
    """EUA sites (id and position) and user positions, as read."""

    source: str
    site_ids: tuple[str, ...]
    site_lon_lat_deg: np.ndarray
    user_lon_lat_deg: np.ndarray


def eua_dir(data_dir: str | None) -> Path:
    """The folder of the EUA files: ``data_dir``, else the packaged copy."""
    if data_dir is None:
        return Path(str(resources.files("perllm_opt.data").joinpath("sites").joinpath("eua")))
    base = Path(data_dir)
    require(base.is_dir(), "topology.eua.data_dir", str(base), "an existing folder")
    return base


def _rows(
    path: Path, columns: tuple[str, ...]
) -> tuple[list[str], list[tuple[int, list[float], list[str]]]]:
    """The header (lower case) and, per data row, (line, the columns' numbers, the row);
    InputError naming the file and line."""
    if not path.is_file():
        raise InputError("topology.eua.data_dir", str(path.parent), f"a folder with {path.name}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip().lower() for h in next(reader, [])]
            missing = [c for c in columns if c.lower() not in header]
            if missing:
                raise InputError(f"{path.name} line 1", header, f"columns {list(columns)}")
            idx = [header.index(c.lower()) for c in columns]
            out = []
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                where = f"{path.name} line {reader.line_num}"
                require(len(row) == len(header), where, row, f"{len(header)} fields")
                values = []
                for c, i in zip(columns, idx, strict=True):
                    try:
                        x = float(row[i])
                    except ValueError:
                        x = math.nan
                    require(math.isfinite(x), f"{where} {c}", row[i], "a number")
                    values.append(x)
                out.append((reader.line_num, values, row))
    except UnicodeDecodeError as exc:
        raise InputError(str(path), "not UTF-8", f"a UTF-8 CSV file ({exc.reason})") from None
    require(bool(out), str(path), "no data rows", "at least one row")
    return header, out


def _check_positions(lon_lat: np.ndarray, lines: list[int], file: str) -> None:
    bad = (np.abs(lon_lat[:, 0]) > 180) | (np.abs(lon_lat[:, 1]) > 90)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{file} line {lines[k]}", lon_lat[k].tolist(), "a latitude and longitude in degrees"
        )


def read_eua(data_dir: str | None = None) -> EuaData:
    """Read the EUA sites and users (columns SITE_ID, LATITUDE, LONGITUDE; Latitude,
    Longitude), with every bad row named by file and line."""
    base = eua_dir(data_dir)
    header, site_rows = _rows(base / SITES_FILE, ("LATITUDE", "LONGITUDE"))
    require("site_id" in header, f"{SITES_FILE} line 1", header, "a SITE_ID column")
    id_col = header.index("site_id")
    ids = [row[id_col].strip() for _, _, row in site_rows]
    for (line, _, _), sid in zip(site_rows, ids, strict=True):
        require(bool(sid), f"{SITES_FILE} line {line} SITE_ID", sid, "a site id")
    dup = sorted({s for s in ids if ids.count(s) > 1})
    require(not dup, f"{SITES_FILE} SITE_ID", dup, "distinct site ids")
    sites = np.asarray([[lon, lat] for _, (lat, lon), _ in site_rows])
    _check_positions(sites, [ln for ln, _, _ in site_rows], SITES_FILE)
    _, user_rows = _rows(base / USERS_FILE, ("Latitude", "Longitude"))
    users = np.asarray([[lon, lat] for _, (lat, lon), _ in user_rows])
    _check_positions(users, [ln for ln, _, _ in user_rows], USERS_FILE)
    return EuaData(str(base), tuple(ids), sites, users)


def _distances_km(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Great-circle distances between every point of ``a`` and every point of ``b``."""
    return great_circle_km(a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1])


def sites_graph(cfg: SitesConfig) -> nx.Graph:
    """The edge-cloud system on ``cfg.sites`` EUA sites, as a topology graph.

    Raises
    ------
    InputError
        For a bad knob of ``topology.eua``, more sites than the data holds, and the
        errors of :func:`read_eua`.
    """
    cfg.check("topology.eua")
    data = read_eua(cfg.data_dir)
    n_all = len(data.site_ids)
    require(
        cfg.sites <= n_all,
        "topology.eua.sites",
        cfg.sites,
        f"at most the {n_all} sites of {Path(data.source) / SITES_FILE}",
    )
    to_sites = _distances_km(data.user_lon_lat_deg, data.site_lon_lat_deg)
    chosen = greedy_median(to_sites, np.ones(len(to_sites)), cfg.sites)
    pos = data.site_lon_lat_deg[chosen]
    dist = _distances_km(pos, pos)
    users_at = np.bincount(
        np.argmin(_distances_km(data.user_lon_lat_deg, pos), axis=1), minlength=len(chosen)
    )
    labels = [data.site_ids[k] for k in chosen]
    where = "topology.eua sites"

    g = nx.Graph(name=f"eua-{cfg.sites}")
    for i, label in enumerate(labels):
        router = f"site-{label}"
        add_router(g, router, where)
        if users_at[i] > 0:
            add_zone(g, router, label, cfg, where, float(users_at[i]))
        add_edge_server(g, router, label, cfg.edge_devices[i % len(cfg.edge_devices)], where)
    metro = nx.Graph()
    metro.add_nodes_from(range(len(chosen)))
    for i in range(len(chosen)):
        order = [j for j in np.argsort(dist[i], kind="stable").tolist() if j != i]
        metro.add_edges_from((i, j) for j in order[: cfg.neighbours])
    full = nx.Graph()
    full.add_weighted_edges_from(
        (i, j, dist[i, j]) for i in range(len(chosen)) for j in range(i + 1, len(chosen))
    )
    metro.add_edges_from(nx.minimum_spanning_edges(full, data=False))
    for i, j in sorted(tuple(sorted(e)) for e in metro.edges):
        g.add_edge(
            f"site-{labels[i]}",
            f"site-{labels[j]}",
            bandwidth_mbps=cfg.link_bandwidth_mbps,
            latency_ms=cfg.link_latency_ms(float(dist[i, j])),
            energy_uj_per_bit=cfg.link_energy_uj_per_bit,
            fluctuates=False,
        )
    site_centre = pos.mean(axis=0)
    gateway = int(np.argmin(_distances_km(site_centre[None, :], pos)[0]))
    add_cloud(
        g,
        f"site-{labels[gateway]}",
        "region",
        cfg,
        where,
        latency_ms=fibre_latency_ms(
            cfg.cloud_distance_km, cfg.fibre_us_per_km, cfg.cloud_route_factor, cfg.hop_latency_ms
        ),
        energy_uj_per_bit=WAN["energy_uj_per_bit"],
    )
    return g
