"""Registers the typed config schema with Hydra and locates the ``conf/`` tree."""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

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


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """Compose ``conf/config.yaml`` with command-line style ``overrides`` (no run directory),
    as the main command would: for tests, notebooks and the paper pipeline."""
    from hydra import compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("config", overrides=list(overrides or []))
