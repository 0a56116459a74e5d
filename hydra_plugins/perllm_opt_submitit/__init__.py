"""perllm-opt's Hydra launchers for SLURM (``hydra/launcher=slurm``, ``slurm_local``).

Hydra instantiates launchers only from the ``hydra_plugins`` package, so the classes live
here; their behaviour is :mod:`perllm_opt.cli.submitit_launcher`'s.
"""
