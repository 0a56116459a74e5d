"""Registers the typed config schema with Hydra and locates the ``conf/`` tree."""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_store import ConfigStore

from perllm_opt.config import AppConfig


def register_configs() -> None:
    """Store ``AppConfig`` as ``base_config`` (first in ``conf/config.yaml``'s defaults), so
    every group file is merged into, and checked against, the typed schema."""
    ConfigStore.instance().store(name="base_config", node=AppConfig)


def config_dir() -> str:
    """Absolute path of the config tree: the installed copy, else the repository's."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError("perllm-opt config tree (conf/config.yaml) not found")
