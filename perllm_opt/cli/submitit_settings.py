"""Hydra's submitit launchers in perllm-opt: the plugin they need, and checks of their
settings before a sweep submits anything.

The plugin, ``hydra-submitit-launcher``, is an optional extra (``pip install -e ".[slurm]"``).
It registers ``hydra/launcher=submitit_slurm`` and ``submitit_local``; the project's
``conf/hydra/launcher/slurm.yaml`` and ``slurm_local.yaml`` start from them (their fields and
types) with values sized for one perllm-opt run and the launchers of
:mod:`perllm_opt.cli.submitit_launcher`. (Files named like the plugin's configs would be
merged with them by Hydra's deprecated automatic schema matching, with a warning.)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from perllm_opt.errors import InputError

#: The plugin's module, and the extra that installs it.
PLUGIN_MODULE = "hydra_plugins.hydra_submitit_launcher"
EXTRA = "slurm"
#: The launcher options that need the plugin: the project's and the plugin's own.
OPTIONS = ("slurm", "slurm_local", "submitit_slurm", "submitit_local")
#: Settings that must be whole numbers >= 1 when set (null, where the plugin's schema allows
#: it: the cluster's default).
AT_LEAST_ONE = {
    "timeout_min": "whole minutes >= 1 per run (sbatch --time)",
    "cpus_per_task": "an integer >= 1 (sbatch --cpus-per-task), or null",
    "mem_gb": "an integer >= 1 (GB per run, sbatch --mem), or null",
    "array_parallelism": "an integer >= 1: runs at once (sbatch --array=...%N)",
}
#: Settings that must be 1: more would start the same run twice, into one directory.
EXACTLY_ONE = ("nodes", "tasks_per_node")


def plugin_installed() -> bool:
    """Whether ``hydra-submitit-launcher`` can be imported."""
    try:
        return importlib.util.find_spec(PLUGIN_MODULE) is not None
    except ImportError:  # its namespace package (hydra_plugins) is absent
        return False


def requested_launcher(args: Sequence[str]) -> str | None:
    """The launcher option a command line chooses (``hydra/launcher=NAME``), if any."""
    chosen = None
    for text in args:
        key, sep, value = text.partition("=")
        if sep and key.lstrip("+~") == "hydra/launcher":
            chosen = value
    return chosen


def check_plugin_for(args: Sequence[str]) -> None:
    """Raise :class:`InputError` when ``args`` choose a submitit launcher whose plugin is
    not installed, naming the extra that installs it (Hydra would say only that the config
    is not found)."""
    chosen = requested_launcher(args)
    if chosen in OPTIONS and not plugin_installed():
        raise InputError(
            "hydra/launcher",
            chosen,
            f"a launcher whose plugin is installed: {chosen} needs hydra-submitit-launcher, "
            f"installed by pip install -e '.[{EXTRA}]' (or pip install 'perllm-opt[{EXTRA}]')",
        )


def uses_submitit(config: DictConfig) -> bool:
    """Whether the sweep ``config`` runs through a submitit launcher (the project's or the
    plugin's own classes)."""
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
    return "perllm_opt_submitit" in target or "hydra_submitit_launcher" in target


def check_launcher_settings(config: DictConfig) -> None:
    """Check a sweep's submitit settings (``hydra.launcher``) before any job is submitted.

    Minutes, CPUs, GB and the array's parallelism are whole numbers >= 1 (or null where the
    cluster has a default), and each run is one task on one node. Does nothing for other
    launchers.

    Raises
    ------
    InputError
        Naming the key (``hydra.launcher.<field>``), the value and what was expected.
    """
    if not uses_submitit(config):
        return
    launcher = config.hydra.launcher
    for key, expected in AT_LEAST_ONE.items():
        # None only where the plugin's schema allows it (cpus_per_task, mem_gb).
        value = launcher.get(key)
        whole = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        if value is not None and not whole:
            raise InputError(f"hydra.launcher.{key}", value, expected)
    for key in EXACTLY_ONE:
        value = launcher.get(key, 1)
        if value != 1:
            raise InputError(
                f"hydra.launcher.{key}",
                value,
                "1: a perllm-opt run is one process (for more cores per run, raise "
                "solver.workers, which hydra.launcher.cpus_per_task follows)",
            )
