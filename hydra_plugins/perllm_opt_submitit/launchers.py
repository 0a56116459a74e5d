"""The launchers of ``conf/hydra/launcher/slurm.yaml`` and ``slurm_local.yaml``.

Hydra imports every module of ``hydra_plugins`` at start-up: without the ``slurm`` extra
(hydra-submitit-launcher) this module defines nothing, and choosing either launcher fails
with a message naming the extra (:func:`perllm_opt.cli.submitit_settings.check_plugin_for`).
"""

from __future__ import annotations

from perllm_opt.cli.submitit_settings import plugin_installed

if plugin_installed():
    from perllm_opt.cli.submitit_launcher import WaitingSubmititLauncher

    class SlurmLauncher(WaitingSubmititLauncher):
        """``hydra/launcher=slurm``: one sbatch array job per sweep, one task per run."""

        _EXECUTOR = "slurm"

    class LocalLauncher(WaitingSubmititLauncher):
        """``hydra/launcher=slurm_local``: submitit's local executor, one process per run."""

        _EXECUTOR = "local"
