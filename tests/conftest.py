"""Shared fixtures: small instances of the default model and the hand-made instance."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import (
    build_hand_instance,
    small_config,
    write_hand_files,
)

from perllm_opt.instance.build import build_instance
from perllm_opt.system.catalog import load_catalog

settings.register_profile(
    "perllm",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("perllm")


@pytest.fixture(scope="session")
def catalog():
    """The packaged, cited model and device catalogue."""
    return load_catalog()


@pytest.fixture(scope="session")
def small_instance():
    """Default model (paper preset, three service types), 120 s at 1 request/s, seed 0."""
    return build_instance(small_config(seed=0))


@pytest.fixture(scope="session")
def hand_files(tmp_path_factory):
    """Paths of the hand-made topology, catalogue and trace (see support.py)."""
    return write_hand_files(tmp_path_factory.mktemp("hand"))


@pytest.fixture(scope="session")
def hand_instance(hand_files):
    """The hand-made instance: 4 requests, 3 rounds of 30 s, deadline 35 s, weights
    (2, 1, 0.5), drop penalty 1000."""
    return build_hand_instance(hand_files)
