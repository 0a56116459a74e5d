"""A stand-in for SLURM's ``sbatch``, ``srun`` and ``sacct`` on one machine, for
tests/test_submitit.py: enough of each for submitit's SLURM executor to submit an array job,
run its tasks and read their states.

    python fake_slurm.py sbatch SCRIPT      # runs every array task now, prints the job id
    python fake_slurm.py srun --output X --error Y COMMAND...
    python fake_slurm.py sacct -o JobID,State,NodeList --parsable2 -j JOB_ID [-j ...]

``sbatch`` runs the script once per task of its ``#SBATCH --array=0-N%P`` line, all at once
and in the background, with the variables SLURM sets in a job (``SLURM_MEM_PER_NODE`` from
``--mem``, ``SLURM_CPUS_PER_TASK`` from ``--cpus-per-task``), and records each task's state
(PENDING, RUNNING, COMPLETED or FAILED) in ``$FAKE_SLURM_DIR``, where ``sacct`` reads it; the
task numbered ``$FAKE_SLURM_LOSE`` is not run and is recorded as TIMEOUT, as SLURM records a
job it ended at its time limit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def sbatch(script: Path, state_dir: Path) -> int:
    """Record the array's tasks as PENDING, start them in the background (submitit moves
    each task's pickle into place only once sbatch has printed the job id) and print it."""
    text = script.read_text()
    array = re.search(r"^#SBATCH --array=0-(\d+)", text, flags=re.MULTILINE)
    job_id = str(1000 + len(list(state_dir.glob("*.script"))))
    (state_dir / f"{job_id}.script").write_text(text)
    for name in task_names(job_id, int(array[1]) if array else None):
        (state_dir / name).write_text("PENDING")
    subprocess.Popen(
        [sys.executable, __file__, "run-array", job_id, array[1] if array else "-"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(f"Submitted batch job {job_id}")
    return 0


def task_names(job_id: str, last: int | None) -> list[str]:
    """sacct's names of a job's tasks: ``ID_0``... for an array, ``ID`` for a single job."""
    return [job_id] if last is None else [f"{job_id}_{t}" for t in range(last + 1)]


def run_array(job_id: str, last: int | None, state_dir: Path) -> int:
    """Run every task of job ``job_id`` (an array when ``last`` is not None) at once, with
    SLURM's job variables."""
    script = state_dir / f"{job_id}.script"
    flags = dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)$", script.read_text(), re.MULTILINE))
    mem_gb = flags.get("mem", "1GB").removesuffix("GB")
    lose = os.environ.get("FAKE_SLURM_LOSE")
    tasks = {}
    for task, name in enumerate(task_names(job_id, last)):
        if str(task) == lose:
            (state_dir / name).write_text("TIMEOUT")
            continue
        array = (
            {} if last is None else {"SLURM_ARRAY_JOB_ID": job_id, "SLURM_ARRAY_TASK_ID": str(task)}
        )
        env = {
            **os.environ,
            **array,
            "SLURM_JOB_ID": job_id if last is None else f"{job_id}{task:03d}",
            "SLURM_NTASKS": "1",
            "SLURM_JOB_NUM_NODES": "1",
            "SLURM_NODEID": "0",
            "SLURM_PROCID": "0",
            "SLURM_LOCALID": "0",
            "SLURM_JOB_NODELIST": "localhost",
            "SLURM_MEM_PER_NODE": str(int(mem_gb) * 1024),
            "SLURM_CPUS_PER_TASK": flags.get("cpus-per-task", "1"),
        }
        (state_dir / name).write_text("RUNNING")
        tasks[name] = subprocess.Popen(["bash", str(script)], env=env)
    for name, proc in tasks.items():
        (state_dir / name).write_text("COMPLETED" if proc.wait() == 0 else "FAILED")
    return 0


def srun(args: list[str]) -> int:
    """Run the command with its output and error files named as SLURM names them."""
    files = {}
    while args[0].startswith("--"):
        flag = args.pop(0)
        if flag in ("--output", "--error"):
            files[flag] = args.pop(0)
    env = os.environ
    names = {
        "%A": env.get("SLURM_ARRAY_JOB_ID", ""),
        "%a": env.get("SLURM_ARRAY_TASK_ID", ""),
        "%j": env["SLURM_JOB_ID"],
        "%t": "0",
    }
    paths = {}
    for flag, pattern in files.items():
        for key, value in names.items():
            pattern = pattern.replace(key, value)
        paths[flag] = Path(pattern)
        paths[flag].parent.mkdir(parents=True, exist_ok=True)
    with paths["--output"].open("a") as out, paths["--error"].open("a") as err:
        return subprocess.call(args, stdout=out, stderr=err)


def sacct(args: list[str], state_dir: Path) -> int:
    """The recorded states of the jobs asked for (``-j``), as ``--parsable2`` prints them."""
    wanted = {v for i, flag in enumerate(args[:-1]) if flag == "-j" for v in args[i + 1].split(",")}
    print("JobID|State|NodeList")
    for path in sorted(state_dir.iterdir()):
        if path.suffix != ".script" and path.name.split("_")[0] in wanted:
            print(f"{path.name}|{path.read_text()}|localhost")
    return 0


def main(argv: list[str]) -> int:
    tool, args = argv[0], argv[1:]
    state_dir = Path(os.environ["FAKE_SLURM_DIR"])
    if tool == "sbatch":
        return sbatch(Path(args[-1]), state_dir)
    if tool == "srun":
        return srun(args)
    if tool == "sacct":
        return sacct(args, state_dir)
    if tool == "run-array":
        return run_array(args[0], None if args[1] == "-" else int(args[1]), state_dir)
    raise SystemExit(f"fake_slurm: unknown tool {tool!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
