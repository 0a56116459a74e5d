"""A sweep's worker ends soon after the sweep that started it is gone, instead of finishing
its run alone (read from ``/proc``, so on Linux)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

#: Environment variable: the pid of the process that started a sweep (set by ``main``).
SWEEP_PID_ENV = "PERLLM_SWEEP_PID"


# The sweep process's identity (boot id, pid, start time): a run whose sweep has ended exits,
# even if it began after the sweep was killed (its parent then is already init).
SWEEP_ID_ENV = "PERLLM_SWEEP_ID"


#: Set by submitit in its jobs: ``local`` or ``slurm``.
SUBMITIT_EXECUTOR_ENV = "SUBMITIT_EXECUTOR"


_WATCHDOG = "perllm-opt: exit with the sweep"


def parent_pid(pid: int) -> int | None:
    """The parent of process ``pid`` (from ``/proc``); None if it is gone or there is no
    ``/proc``."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def process_identity(pid: int) -> str | None:
    """``"<boot id> <pid> <start time>"`` of process ``pid``, which no later process on this
    machine shares (a pid is reused, a start time on one boot is not); None if it is gone, a
    zombie, or there is no ``/proc``."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] == "Z" or len(fields) < 20:
        return None
    return f"{boot} {pid} {fields[19]}"


def sweep_is_gone(identity: str | None) -> bool:
    """Whether the sweep process named by ``identity`` (:func:`process_identity`, taken in
    the sweep) has ended: only on the machine it ran on, where ``/proc`` can tell; a run on
    another machine (a Ray cluster's node) never concludes it has."""
    if not identity or len(identity.split()) != 3:
        return False
    boot, pid, _ = identity.split()
    try:
        here = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return False
    return here == boot and pid.isdigit() and process_identity(int(pid)) != identity


def descends_from(ancestor: int, pid: int | None = None) -> bool | None:
    """Whether process ``ancestor`` is a parent, grandparent, ... of ``pid`` (default: this
    process); None where ``/proc`` cannot tell."""
    current: int | None = os.getpid() if pid is None else pid
    if parent_pid(current) is None:
        return None
    for _ in range(64):  # a process tree deeper than this does not start a sweep's run
        current = parent_pid(current)
        if current == ancestor:
            return True
        if current is None or current <= 1:
            return False
    return False


def exit_with_parent(interval_s: float = 1.0) -> None:
    """In a sweep's worker process (joblib, submitit's local executor), end this process
    soon after the process that started it is gone (killed, say), instead of finishing the
    run alone. One watchdog thread per process; does nothing in the sweep's own process, nor
    in a SLURM job (SLURM ends its jobs itself, on ``scancel`` or the time limit).

    submitit's local executor starts each run under a controller process of its own that
    outlives the sweep: there the run ends once the sweep's process (``PERLLM_SWEEP_PID``)
    is no longer among its ancestors (read from ``/proc``, so on Linux).
    """
    started_by = os.environ.get(SWEEP_PID_ENV)
    executor = os.environ.get(SUBMITIT_EXECUTOR_ENV)
    if started_by is None or started_by == str(os.getpid()) or executor == "slurm":
        return
    if any(t.name == _WATCHDOG for t in threading.enumerate()):
        return
    parent = os.getppid()
    sweep = int(started_by) if executor == "local" and started_by.isdigit() else None
    identity = os.environ.get(SWEEP_ID_ENV)

    def watch() -> None:
        while True:
            if (
                os.getppid() != parent
                or sweep_is_gone(identity)  # also when it ended before this run began
                or (sweep is not None and descends_from(sweep) is False)
            ):
                os._exit(1)
            time.sleep(interval_s)

    threading.Thread(target=watch, name=_WATCHDOG, daemon=True).start()
