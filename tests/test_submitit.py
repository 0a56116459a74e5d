"""SLURM sweeps through Hydra's submitit launcher: hydra/launcher=slurm_local runs a real
sweep on this machine (submitit's local executor, no cluster), resumes it and collects it;
a lost job is a failed run; hydra/launcher=slurm writes its settings into the sbatch script
and reports a refused submission in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from perllm_opt.cli import submitit_settings
from perllm_opt.cli.collect import main as collect_main
from perllm_opt.errors import InputError
from perllm_opt.instance.size_guard import budget_bytes, slurm_memory_bytes

FAST = ["horizon_s=30", "optimal=false", "schedulers=[cs_ucb,random]", "progress=false"]
SUBMIT = b"submitit.core._submit"


def sweep_cmd(sweep_dir: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "perllm_opt.cli.main",
        "-m",
        *FAST,
        *args,
        f"hydra.sweep.dir={sweep_dir}",
    ]


def sweep(sweep_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        sweep_cmd(sweep_dir, *args),
        capture_output=True,
        text=True,
        cwd=sweep_dir.parent,
        timeout=300,
        env=env,
    )


def run_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent for p in sweep_dir.rglob("metrics.json"))


def stamps(sweep_dir: Path) -> dict[Path, int]:
    return {r: (r / "metrics.json").stat().st_mtime_ns for r in run_dirs(sweep_dir)}


def descendants(root: int) -> dict[int, bytes]:
    """Live processes below ``root``: pid -> command line (from /proc)."""
    parent, cmdline = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue
            pid = int(stat.parent.name)
            parent[pid] = int(fields[1])
            cmdline[pid] = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
    below, grew = set(), True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if (ppid == root or ppid in below) and pid not in below:
                below.add(pid)
                grew = True
    return {pid: cmdline[pid] for pid in below}


def wait_for(condition, timeout_s: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_two_run_sweep_resumes_and_collects(tmp_path):
    d = tmp_path / "sweep"
    first = sweep(d, "seed=0,1", "hydra/launcher=slurm_local")
    assert first.returncode == 0, first.stderr[-3000:]
    runs = run_dirs(d)
    assert [r.name.rsplit(",", 1)[-1] for r in runs] == ["seed=0", "seed=1"]
    launcher = yaml.safe_load((d / "multirun.yaml").read_text())["hydra"]["launcher"]
    assert launcher["_target_"] == "hydra_plugins.perllm_opt_submitit.launchers.LocalLauncher"
    assert (launcher["timeout_min"], launcher["mem_gb"]) == (60, 4)
    assert list(d.glob(".submitit/*/*_result.pkl")), "the runs did not go through submitit"
    assert "2 complete, 0 failed" in first.stderr
    before = stamps(d)

    submitted = sorted(d.glob(".submitit/*/*_submitted.pkl"))
    assert len(submitted) == 2
    again = sweep(d, "seed=0,1", "hydra/launcher=slurm_local")
    assert again.returncode == 0, again.stderr[-3000:]
    assert stamps(d) == before
    # Complete runs are not submitted again: no job queues for them.
    assert sorted(d.glob(".submitit/*/*_submitted.pkl")) == submitted
    assert (again.stdout + again.stderr).count("complete, not submitted") == 2
    assert "2 complete from before" in again.stderr
    assert "2 complete (2 kept from before, not redone), 0 failed" in again.stderr

    assert collect_main([str(d)]) == 0
    table = pd.read_csv(d / "results.csv")
    assert len(table) == 4  # 2 runs x 2 schedulers
    assert sorted(table["seed"].unique()) == [0, 1]
    assert set(table["scheduler"]) == {"cs_ucb", "random"}
    assert not list(d.rglob("*.tmp"))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_lost_job_is_a_failed_run_and_resume_redoes_only_it(tmp_path):
    d = tmp_path / "sweep"
    # One short run and one long one: the long one's job is killed once the short one has
    # finished, as SLURM kills a job at its time limit (two equal runs could both finish
    # before the kill on a fast machine).
    args = ["horizon_s=30,3600", "hydra/launcher=slurm_local"]
    proc = subprocess.Popen(
        sweep_cmd(d, *args),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert wait_for(
            lambda: (
                len(run_dirs(d)) == 1
                and len(list(d.glob("*/.hydra"))) == 2
                and sum(SUBMIT in c for c in descendants(proc.pid).values()) == 1
            )
        )
        (victim,) = (p for p, c in descendants(proc.pid).items() if SUBMIT in c)
        os.kill(victim, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # The other run finished; the lost one is listed as failed, and the exit code says so.
    assert proc.returncode == 1, stderr[-3000:]
    assert len(run_dirs(d)) == 1
    (error,) = d.glob("*/error.txt")
    assert "ended without a result" in error.read_text().splitlines()[-1]
    assert "1 complete, 1 failed" in stderr
    assert f"failed: {error.parent}: perllm-opt: error: submitit job" in stderr
    kept = stamps(d)

    submitted = len(list(d.glob(".submitit/*/*_submitted.pkl")))
    again = sweep(d, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(run_dirs(d)) == 2
    assert len(list(d.glob(".submitit/*/*_submitted.pkl"))) == submitted + 1
    assert {r: s for r, s in stamps(d).items() if r in kept} == kept
    assert "2 complete (1 kept from before, not redone), 0 failed" in again.stderr
    assert not error.exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_killed_sweep_leaves_no_local_job_behind(tmp_path):
    d = tmp_path / "sweep"
    proc = subprocess.Popen(
        sweep_cmd(d, "seed=0,1", "horizon_s=300", "hydra/launcher=slurm_local"),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: len(list(d.glob("*/.hydra"))) == 2)
        jobs = descendants(proc.pid)
        assert sum(SUBMIT in c for c in jobs.values()) == 2, jobs
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # submitit's controllers outlive the sweep; the runs under them end within seconds.
        assert wait_for(lambda: not set(jobs) & set(descendants(1)), timeout_s=15), [
            c for p, c in descendants(1).items() if p in jobs
        ]
        assert not run_dirs(d)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("hydra.launcher.timeout_min=0", "hydra.launcher.timeout_min: got 0, expected whole"),
        ("hydra.launcher.mem_gb=-4", "hydra.launcher.mem_gb: got -4, expected an integer >= 1"),
        ("hydra.launcher.tasks_per_node=2", "hydra.launcher.tasks_per_node: got 2, expected 1"),
        ("hydra.launcher.partiton=cpu", "hydra.launcher.partiton"),
        ("hydra.launcher.mem_gb=lots", "hydra.launcher.mem_gb"),
    ],
)
def test_bad_launcher_setting_is_one_message_before_any_job(tmp_path, override, message):
    d = tmp_path / "sweep"
    proc = sweep(d, "seed=0,1", "hydra/launcher=slurm", override)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (d / ".submitit").exists()


def fake_slurm(bin_dir: Path, record: Path) -> None:
    """An ``srun`` and an ``sbatch`` that keeps the script it is given and refuses it as
    SLURM refuses an unknown partition."""
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        f'#!/bin/sh\ncp "$1" {record}\n'
        'echo "sbatch: error: invalid partition specified: $PART" >&2\nexit 1\n'
    )
    for tool in ("srun", "sbatch"):
        (bin_dir / tool).chmod(0o755)


def test_slurm_settings_reach_sbatch_and_a_refusal_is_one_line(tmp_path):
    record = tmp_path / "submitted.sh"
    fake_slurm(tmp_path / "bin", record)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "PART": "cpu"}
    d = tmp_path / "sweep"
    proc = sweep(
        d,
        "seed=0,1,2",
        "solver.workers=2",
        "hydra/launcher=slurm",
        "hydra.launcher.partition=cpu",
        "hydra.launcher.account=proj",
        "hydra.launcher.timeout_min=120",
        "hydra.launcher.mem_gb=8",
        "hydra.launcher.array_parallelism=2",
        env=env,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("perllm-opt: error: sbatch refused the sweep's jobs: ")
    assert "invalid partition specified: cpu" in last
    assert "hydra.launcher.partition=cpu" in last
    script = record.read_text().splitlines()
    for line in [
        "#SBATCH --partition=cpu",
        "#SBATCH --account=proj",
        "#SBATCH --time=120",
        "#SBATCH --cpus-per-task=2",  # follows solver.workers
        "#SBATCH --mem=8GB",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --array=0-2%2",
    ]:
        assert line in script, line
    assert not run_dirs(d)


def stand_in_slurm(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine whose sbatch, srun and sacct are tests/fake_slurm.py."""
    bin_dir, state = tmp_path / "bin", tmp_path / "slurm-state"
    bin_dir.mkdir()
    state.mkdir()
    fake = Path(__file__).with_name("fake_slurm.py")
    for tool in ("sbatch", "srun", "sacct"):
        (bin_dir / tool).write_text(f'#!/bin/sh\nexec {sys.executable} {fake} {tool} "$@"\n')
        (bin_dir / tool).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_SLURM_DIR": str(state)}


def test_slurm_sweep_with_a_job_lost_at_its_time_limit_then_resumed(tmp_path):
    """hydra/launcher=slurm end to end against a stand-in SLURM: an array job, one task per
    run, results read back; a task SLURM ends at its time limit is a failed run; the same
    command again submits that run only."""
    env = stand_in_slurm(tmp_path)
    d = tmp_path / "sweep"
    args = ["seed=0,1", "hydra/launcher=slurm", "hydra.launcher.partition=cpu"]
    lost = sweep(d, *args, env={**env, "FAKE_SLURM_LOSE": "1"})
    assert lost.returncode == 1, lost.stderr[-3000:]
    assert [r.name.rsplit(",", 1)[-1] for r in run_dirs(d)] == ["seed=0"]
    (error,) = d.glob("*/error.txt")
    assert error.parent.name.endswith("seed=1")
    assert "(state: TIMEOUT)" in error.read_text().splitlines()[-1]
    assert "1 complete, 1 failed" in lost.stderr

    again = sweep(d, *args, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(run_dirs(d)) == 2
    assert "2 complete (1 kept from before, not redone), 0 failed" in again.stderr
    scripts = sorted(Path(env["FAKE_SLURM_DIR"]).glob("*.script"))
    assert len(scripts) == 2
    assert "#SBATCH --array" not in scripts[1].read_text()  # one run left: a single job
    assert collect_main([str(d)]) == 0


def test_size_guard_in_a_slurm_job_uses_the_jobs_memory(tmp_path):
    env = stand_in_slurm(tmp_path)
    d = tmp_path / "sweep"
    # 2.6 GB by the guard's estimate: within half of this machine's memory, not within 1 GB.
    big = ["horizon_s=9000", "schedulers=[random]", "hydra.launcher.mem_gb=1"]
    proc = sweep(d, *big, "hydra/launcher=slurm", env=env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    (error,) = d.glob("*/error.txt")
    assert "2.6 GB', expected a run that fits memory_budget_gb=1.1" in error.read_text()


def test_no_slurm_client_is_one_line(tmp_path):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    proc = sweep(tmp_path / "sweep", "seed=0,1", "hydra/launcher=slurm", env=env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "this machine has no SLURM client" in proc.stderr
    assert "hydra/launcher=slurm_local" in proc.stderr


def test_missing_plugin_names_the_extra(monkeypatch, capsys):
    from perllm_opt.cli import main as cli

    monkeypatch.setattr(submitit_settings, "plugin_installed", lambda: False)
    monkeypatch.setenv(cli.SWEEP_PID_ENV, "0")  # main() sets these; restored after the test
    monkeypatch.setenv(cli.SWEEP_ID_ENV, "")
    for option in submitit_settings.OPTIONS:
        with pytest.raises(InputError, match=r"pip install -e '\.\[slurm\]'"):
            submitit_settings.check_plugin_for(["-m", "seed=0,1", f"hydra/launcher={option}"])
    submitit_settings.check_plugin_for(["hydra/launcher=local"])
    monkeypatch.setattr(sys, "argv", ["perllm-opt", "-m", "hydra/launcher=slurm"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("perllm-opt: error: hydra/launcher: got 'slurm', expected")
    assert "hydra-submitit-launcher" in err


def test_budget_in_a_slurm_job_is_its_memory():
    assert slurm_memory_bytes({}) is None
    assert slurm_memory_bytes({"SLURM_MEM_PER_NODE": "4096"}) == 4 * 2**30
    per_cpu = {"SLURM_MEM_PER_CPU": "1000", "SLURM_CPUS_PER_TASK": "3"}
    assert slurm_memory_bytes(per_cpu) == 3000 * 2**20
    assert slurm_memory_bytes({"SLURM_MEM_PER_NODE": "lots"}) is None
    assert budget_bytes(None, {"SLURM_MEM_PER_NODE": "4096"}) == 4 * 2**30
    assert budget_bytes(2.5, {"SLURM_MEM_PER_NODE": "4096"}) == 2.5e9
    assert budget_bytes(None, {}) == budget_bytes(None, {"SLURM_JOB_ID": "7"})
