"""The graph a topology config names: a preset, a user file, a system built on a real
network (``topology=zoo``) or on the EUA sites (``topology=eua``). Above topology.py,
networks.py and sites.py, so none of them imports another to dispatch."""

from __future__ import annotations

from typing import Any

import networkx as nx

from perllm_opt.system.catalog import Catalog
from perllm_opt.system.networks import network_graph
from perllm_opt.system.sites import sites_graph
from perllm_opt.system.topology import build_graph


def build_graph_from(config: Any, catalog: Catalog | None = None) -> nx.Graph:
    """The graph of a ``TopologyConfig``: a preset, a file, or a system built on a real
    network (``preset: zoo``) or on the EUA sites (``preset: eua``), whose device names are
    checked against ``catalog`` naming the config key."""
    if config.preset == "zoo":
        if catalog is not None:
            config.zoo.check_devices("topology.zoo", set(catalog.devices))
        return network_graph(config.network, config.zoo)
    if config.preset == "eua":
        if catalog is not None:
            config.eua.check_devices("topology.eua", set(catalog.devices))
        return sites_graph(config.eua)
    return build_graph(config.preset, config.path)
