"""Model deployment: which server hosts which model, and the memory left for KV caches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from perllm_opt.config import DeploymentConfig
from perllm_opt.errors import InputError
from perllm_opt.system.catalog import Catalog
from perllm_opt.system.topology import Topology


@dataclass(frozen=True, eq=False)
class Deployment:
    """Hosting matrix and memory figures, servers x models.

    Attributes
    ----------
    models : tuple of str
        Model names; column order of the matrices.
    hosts : ndarray of bool, shape (n_servers, n_models)
        Model deployed on the server.
    can_host : ndarray of bool, shape (n_servers, n_models)
        The device has a profile for the model and its weights fit the server's memory
        (the candidates of placement mode).
    weight_bytes : ndarray, shape (n_servers, n_models)
        Weight memory the model would take on the server.
    memory_bytes : ndarray, shape (n_servers,)
        Server memory (devices pooled).
    """

    models: tuple[str, ...]
    hosts: np.ndarray
    can_host: np.ndarray
    weight_bytes: np.ndarray
    memory_bytes: np.ndarray

    @property
    def kv_budget_bytes(self) -> np.ndarray:
        """Memory left for KV caches per server after the deployed weights."""
        return self.memory_bytes - (self.weight_bytes * self.hosts).sum(axis=1)

    def model_index(self, name: str) -> int:
        return self.models.index(name)


def resolve_deployment(
    topology: Topology,
    catalog: Catalog,
    config: DeploymentConfig,
    needed_models: Iterable[str],
) -> Deployment:
    """Resolve the deployment config against the topology and validate it.

    Raises
    ------
    InputError
        For an unknown model or server name, a model the device has no profile for, weights
        over a server's memory, or a needed model (one a service type uses) deployed nowhere.
    """
    needed = list(dict.fromkeys(needed_models))
    for m in needed:
        if m not in catalog.models:
            raise InputError("services[*].model", m, f"one of the models {sorted(catalog.models)}")
    models = tuple(dict.fromkeys([*needed, *catalog.models]))
    n_s, n_m = topology.n_servers, len(models)
    weight, can, memory = _weights(topology, catalog, models)

    unknown = [s for s in config.servers if s not in topology.servers]
    if unknown:
        raise InputError(
            "deployment.servers", unknown[0], f"a server of the topology {list(topology.servers)}"
        )
    hosts = np.zeros((n_s, n_m), dtype=bool)
    for j in range(n_s):
        _host_server(j, topology, catalog, config, models, weight, memory, hosts)
    for m in needed:
        k = models.index(m)
        if not hosts[:, k].any():
            raise InputError(
                "deployment",
                f"model {m!r} deployed nowhere",
                "every model a service type uses deployed on at least one server",
            )
    return Deployment(
        models=models, hosts=hosts, can_host=can, weight_bytes=weight, memory_bytes=memory
    )


def _weights(
    topology: Topology, catalog: Catalog, models: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weight bytes of each (server, model) (0: the device has no profile for it), whether
    they fit the server's memory, and each server's memory (bytes)."""
    n_s, n_m = topology.n_servers, len(models)
    weight = np.zeros((n_s, n_m))
    can = np.zeros((n_s, n_m), dtype=bool)
    memory = np.zeros(n_s)
    for j, dev in enumerate(topology.server_device):
        prof = catalog.devices[dev]
        memory[j] = prof.memory_gb * 1e9 * topology.server_count[j]
        for k, m in enumerate(models):
            if m in prof.models and prof.precision in catalog.models[m].weights_gb:
                weight[j, k] = catalog.weight_gb(dev, m) * 1e9
                can[j, k] = weight[j, k] <= memory[j]
    return weight, can, memory


def _host_server(
    j: int,
    topology: Topology,
    catalog: Catalog,
    config: DeploymentConfig,
    models: tuple[str, ...],
    weight: np.ndarray,
    memory: np.ndarray,
    hosts: np.ndarray,
) -> None:
    """Mark in ``hosts[j]`` the models server ``j`` hosts: its graph's ``models`` attribute,
    else its entry of ``deployment.servers``, else the cloud's or the edge's list."""
    server = topology.servers[j]
    attr = topology.server_models_attr[j]
    if attr is not None:
        chosen, where = list(attr), f"server {server!r}.models (graph)"
    elif server in config.servers:
        chosen, where = list(config.servers[server]), f"deployment.servers.{server}"
    elif topology.server_is_cloud[j]:
        chosen, where = list(config.cloud), "deployment.cloud"
    else:
        chosen, where = list(config.edge), "deployment.edge"
    dev = topology.server_device[j]
    for m in chosen:
        if m not in models:
            raise InputError(where, m, f"one of the models {sorted(catalog.models)}")
        k = models.index(m)
        if weight[j, k] == 0:
            raise InputError(
                where,
                m,
                f"a model device {dev!r} (server {server!r}) has a "
                f"profile for: {sorted(catalog.devices[dev].models)}",
            )
        if config.skip_unfit and (weight[j] * hosts[j]).sum() + weight[j, k] > memory[j]:
            continue  # mixed devices: take the listed models while they fit
        hosts[j, k] = True
    used = float((weight[j] * hosts[j]).sum())
    if used > memory[j]:
        raise InputError(
            where,
            chosen,
            f"models whose weights ({used / 1e9:.1f} GB) fit "
            f"server {server!r}'s memory ({memory[j] / 1e9:.1f} GB), or "
            "deployment.skip_unfit=true",
        )
