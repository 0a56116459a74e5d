"""Keep a local Ray, started by Hydra's Ray launcher, on the loopback interface.

Ray 2.x replaces a loopback node address (``_node_ip_address=127.0.0.1``) with the machine's
address and then binds its GCS server, raylet, object manager, workers and agents to every
interface, so a local sweep is reachable from the network (docs/experiments.md). Ray keeps
every server on loopback only in its single-node mode, which it selects when
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` is false (its default on macOS and Windows;
``ray/_private/services.py:get_node_ip_address``). A local Ray needs no other node, so the
sweep's process sets that variable before Ray is imported, unless Ray is told to join a
cluster (``hydra.launcher.ray.init.address`` or ``RAY_ADDRESS``) or the user set the
variable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

from omegaconf import DictConfig, OmegaConf

from perllm_opt.milp.parallel import RAY_CLUSTER_ENV, single_node_mode


def starts_local_ray(config: DictConfig, environ: MutableMapping[str, str]) -> bool:
    """Whether the sweep ``config`` uses Hydra's Ray launcher with no cluster address, so
    that the launcher starts a Ray of its own on this machine."""
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
    if "RayLauncher" not in target:
        return False
    address = OmegaConf.select(config, "hydra.launcher.ray.init.address", default=None)
    return not address and not environ.get("RAY_ADDRESS")


def keep_local_ray_on_loopback(
    config: DictConfig, environ: MutableMapping[str, str] | None = None
) -> bool:
    """Put a local Ray into its single-node mode (every server on loopback) before the Ray
    launcher imports and starts it. Returns True if it set the variable.

    Does nothing with another launcher, with a cluster address, or when the user set
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` themselves. Raises RuntimeError if Ray is already
    imported, since Ray reads the variable once, at import.
    """
    environ = os.environ if environ is None else environ
    if not starts_local_ray(config, environ) or RAY_CLUSTER_ENV in environ:
        return False
    if "ray" in sys.modules:
        raise RuntimeError(
            "ray was imported before the sweep started: a local Ray would listen on every "
            f"interface; set {RAY_CLUSTER_ENV}=0 before starting, or give a cluster address"
        )
    return single_node_mode(environ)
