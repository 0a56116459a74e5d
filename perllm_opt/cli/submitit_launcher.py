"""Hydra's submitit launcher, submitting only the runs still to do, waiting for every job of
a sweep and recording a lost one.

A resumed sweep submits no job for a run already complete (the check a run makes itself,
``perllm_opt.cli.run_dir.is_complete``, made here before submitting), so nothing queues on the
cluster for it.

The plugin's launchers (hydra-submitit-launcher 1.2) collect the jobs' results in order and
stop at the first job that ended without one: a SLURM time limit, an out-of-memory kill, a
``scancel``, a killed local process. The sweep then ends with the plugin's traceback while
the later jobs go on unwatched, and the sweep's summary never comes. This launcher waits for
every job instead; a job lost that way becomes a failed run, like a run that fails: its run
directory gets ``error.txt`` (submitit's message, then one line naming the job, its state and
its log), the sweep's summary lists it, the sweep exits with code 1, and running the same
sweep again redoes it (and only what is missing). A submission that sbatch refuses (an
unknown partition or account, say), or a machine without sbatch, ends the sweep with one
line and exit code 2 before any run. Everything else is the plugin's.

Hydra instantiates launchers only from its ``hydra_plugins`` package: the classes that
``conf/hydra/launcher/slurm.yaml`` and ``slurm_local.yaml`` name are in
``hydra_plugins/perllm_opt_submitit/launchers.py``. Needs the ``slurm`` extra.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher
from omegaconf import OmegaConf, open_dict, read_write

from perllm_opt.cli.callbacks import JOB_STAMP
from perllm_opt.cli.files import DONE_FILE, ERROR_FILE

log = logging.getLogger(__name__)

#: The settings a refused submission's message repeats (the usual causes).
SUBMISSION_KEYS = ("partition", "account", "qos", "timeout_min", "cpus_per_task", "mem_gb")


class WaitingSubmititLauncher(BaseSubmititLauncher):
    """The plugin's launcher, but :meth:`launch` waits for every job, turns a job that ended
    without a result into a failed run and a refused submission into a one-line error (see
    the module docstring). Subclasses set ``_EXECUTOR`` (``"slurm"`` or ``"local"``)."""

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Submit one job per run still to do (an array job on SLURM), wait for them all and
        return every run's result in order.

        A run whose directory already holds its results (resuming a sweep; the check of
        ``perllm_opt.cli.run_dir.is_complete``) is not submitted: no job queues for it. A lost
        job's result is a completed job returning NaN (a failed trial to Optuna's sweeper),
        and its run directory holds ``error.txt``.
        """
        assert self.config is not None
        numbers = [initial_job_idx + i for i in range(len(job_overrides))]
        runs = [list(o) for o in job_overrides]
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        results: list[JobReturn | None] = [None] * len(runs)
        resuming = any(sweep_dir.rglob(DONE_FILE))  # a new sweep composes nothing here
        for i, (num, overrides) in enumerate(zip(numbers, runs, strict=True)):
            if resuming and self.complete(overrides, num):
                results[i] = JobReturn(overrides=overrides, status=JobStatus.COMPLETED)
                # Counted as a run of this sweep (SweepMonitor), as Hydra's job would be.
                stamp = self.output_dir(self.sweep_config(overrides, num)) / JOB_STAMP
                if stamp.is_file():
                    os.utime(stamp)
                log.info(f"\t#{num} : complete, not submitted")
            else:
                log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))}")
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            jobs = self._submit(
                [runs[i] for i in todo],
                ["hydra.sweep.dir"] * len(todo),
                [numbers[i] for i in todo],
                [f"job_id_for_{numbers[i]}" for i in todo],
                [Singleton.get_state()] * len(todo),
            )
            for i, job in zip(todo, jobs, strict=True):
                results[i] = self._result(job, runs[i], numbers[i])
        return [r for r in results if r is not None]

    def complete(self, overrides: list[str], num: int) -> bool:
        """Whether the run with ``overrides`` is complete, as its job would find it (a
        tuning trial never is: trials are always scored)."""
        from perllm_opt.cli.run_dir import is_complete

        config = self.sweep_config(overrides, num)
        if OmegaConf.select(config, "tuning.seeds"):
            return False
        task = copy.deepcopy(config)
        with read_write(task), open_dict(task):
            del task["hydra"]  # as Hydra's run_job gives the task its config
        return is_complete(self.output_dir(config), OmegaConf.to_yaml(task))

    def _executor(self) -> Any:
        """submitit's executor with the launcher's parameters, mapped as the plugin maps
        them (the shared ones by name, the others prefixed with the executor's name)."""
        import submitit

        init = {"submitit_folder", "max_num_timeout"}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=self.params["submitit_folder"],
            **{
                f"{self._EXECUTOR}_{k}": v
                for k, v in self.params.items()
                if k in init and k != "submitit_folder"
            },
        )
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                k if k in shared else f"{self._EXECUTOR}_{k}": v
                for k, v in self.params.items()
                if k not in init
            }
        )
        return executor

    def _submit(self, *arguments: list[Any]) -> list[Any]:
        """Submit the jobs; a refused submission ends the sweep with one line and exit
        code 2, before any run."""
        from submitit.core.utils import FailedJobError

        no_slurm = (
            "this machine has no SLURM client (submit from the cluster's login node, or try "
            "the sweep here with hydra/launcher=slurm_local)"
        )
        try:
            executor = self._executor()
        except RuntimeError as exc:  # submitit's SLURM executor looks for srun first
            message = f"hydra/launcher: {str(exc).strip()}: {no_slurm}"
        else:
            try:
                return executor.map_array(self, *arguments)
            except FileNotFoundError as exc:  # no sbatch
                message = f"hydra/launcher: {exc.filename or 'sbatch'} not found: {no_slurm}"
            except FailedJobError as exc:  # sbatch exited non-zero; its stderr says why
                lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
                settings = ", ".join(
                    f"hydra.launcher.{k}={self.params[k]}"
                    for k in SUBMISSION_KEYS
                    if self.params.get(k) is not None
                )
                message = (
                    "sbatch refused the sweep's jobs: "
                    f"{lines[-1] if lines else type(exc).__name__} (with {settings})"
                )
        print(f"perllm-opt: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    def _result(self, job: Any, overrides: list[str], num: int) -> JobReturn:
        """The job's result, waiting for it; a lost job recorded in its run directory."""
        from submitit.core.utils import UncompletedJobError

        try:
            return job.results()[0]
        except UncompletedJobError as exc:  # and FailedJobError, its subclass
            run_dir = self.output_dir(self.sweep_config(overrides, num, str(job.job_id)))
            line = (
                f"perllm-opt: error: submitit job {job.job_id} ended without a result "
                f"(state: {job.state}); its log: {job.paths.stderr}"
            )
            log.error("run lost (%s): %s", run_dir, line)
            if not (run_dir / DONE_FILE).exists():
                from perllm_opt.cli.files import write_atomic

                write_atomic(run_dir / ERROR_FILE, f"{str(exc).strip()}\n{line}\n")
            return JobReturn(
                overrides=overrides, status=JobStatus.COMPLETED, _return_value=float("nan")
            )

    def sweep_config(self, overrides: list[str], num: int, job_id: str | None = None) -> Any:
        """The config of the run with ``overrides``, composed as its job composes it."""
        assert self.config is not None and self.hydra_context is not None
        config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(config.hydra.job) as job:
            job.num = num
            job.id = job_id or f"job_id_for_{num}"
        return config

    @staticmethod
    def output_dir(config: Any) -> Path:
        """A run's directory: ``hydra.sweep.dir`` / ``hydra.sweep.subdir``."""
        return Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)
