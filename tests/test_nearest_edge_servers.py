"""Candidate edge servers per zone (``topology.nearest_edge_servers``): each zone keeps its
k nearest edge servers by path latency and every cloud server; options follow."""

from __future__ import annotations

import numpy as np
import pytest

from perllm_opt.config import InstanceConfig, TopologyConfig, WorkloadConfig
from perllm_opt.instance.build import build_instance
from perllm_opt.system.build import build_graph_from
from perllm_opt.system.sites import SitesConfig
from perllm_opt.system.topology import nearest_edge_servers, topology_from_graph


@pytest.fixture(scope="module")
def eua(catalog):
    cfg = TopologyConfig(preset="eua", eua=SitesConfig(sites=40))
    return topology_from_graph(build_graph_from(cfg, catalog), catalog)


@pytest.mark.parametrize("k", [1, 3, 8])
def test_each_zone_keeps_its_k_nearest_edge_servers_and_the_cloud(eua, k):
    limited = nearest_edge_servers(eua, k)
    edge = ~eua.server_is_cloud
    for z in range(eua.n_zones):
        before = np.flatnonzero(eua.path_reachable[z] & edge)
        after = np.flatnonzero(limited.path_reachable[z] & edge)
        assert len(after) == min(k, len(before))
        # No dropped edge server is nearer than a kept one.
        dropped = np.setdiff1d(before, after)
        if len(dropped):
            assert eua.path_latency_s[z, after].max() <= eua.path_latency_s[z, dropped].min()
        cloud = eua.server_is_cloud
        assert np.array_equal(limited.path_reachable[z, cloud], eua.path_reachable[z, cloud])
    # Nothing becomes reachable that was not.
    assert not np.any(limited.path_reachable & ~eua.path_reachable)


def test_k_at_least_the_edge_servers_changes_nothing(eua):
    n_edge = int((~eua.server_is_cloud).sum())
    assert np.array_equal(nearest_edge_servers(eua, n_edge).path_reachable, eua.path_reachable)


def test_options_use_only_the_candidates_and_shrink():
    def instance(k):
        return build_instance(
            InstanceConfig(
                horizon_s=20,
                workload=WorkloadConfig(rate_rps=2.0),
                topology=TopologyConfig(
                    preset="eua", eua=SitesConfig(sites=40), nearest_edge_servers=k
                ),
            )
        )

    full, limited = instance(None), instance(4)
    assert full.n_requests == limited.n_requests
    assert len(limited.options) < len(full.options)
    reach = limited.topology.path_reachable
    zones = limited.requests.zone[limited.options.request]
    assert np.all(reach[zones, limited.options.server])
    per_request = np.bincount(limited.options.request, minlength=limited.n_requests)
    assert per_request.min() > 0  # the cloud stays a candidate for every request
