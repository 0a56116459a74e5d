"""How big a run will be, estimated from its config before anything large is allocated, and
the memory budget it must fit in.

The estimate counts the requests (rate x horizon, or the trace's rows), the options (each
request is offered its (zone, service) template's candidates), the decision epochs or rounds
and the dynamics intervals, and prices them with per-item costs measured on this project's
runs (2-core machine, issue 11): a run's resident memory grew by about 2.7 KB per option with
three schedulers (235 MB at 25,534 options, 724 MB at 203,858), and by about 4.9 KB per
option with the MILP optimum as well (359 MB and 607 MB at 25,534 and about 76,000 options).
The defaults below round those up. The budget (``memory_budget_gb``) defaults to half of the
machine's physical memory, or, in a SLURM job, to the job's memory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from perllm_opt.errors import InputError

#: Resident memory of a run before its instance (Python, numpy, Pyomo, HiGHS imported).
BASE_BYTES = 200 * 2**20
#: Per option: the option table, its expected-value copy, evaluation and scheduler state.
OPTION_BYTES = 3 * 2**10
#: Per option, in addition, when the MILP optimum is solved (Pyomo model and HiGHS copy).
OPTIMUM_OPTION_BYTES = 6 * 2**10
#: Per decision epoch or round and scheduler: the per-round series and views.
ROUND_BYTES = 64
#: Per dynamics interval and link or server: the realised bandwidth and speed factors.
INTERVAL_BYTES = 32


@dataclass(frozen=True)
class SizeEstimate:
    """Expected size of a run (means, not bounds: Poisson counts vary by a few sqrt(n))."""

    requests: int
    options: int
    rounds: int
    intervals: int
    bytes: int

    def describe(self) -> str:
        """One phrase: ``about 7,500,000 requests, 128,000,000 options, 393.2 GB``."""
        return (
            f"about {self.requests:,} requests, {self.options:,} options, "
            f"{self.rounds:,} epochs/rounds, {self.bytes / 1e9:.1f} GB"
        )


def machine_memory_bytes() -> int | None:
    """Physical memory of this machine (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def slurm_memory_bytes(environ: Mapping[str, str] | None = None) -> int | None:
    """Memory of the SLURM job this process runs in: ``SLURM_MEM_PER_NODE`` (``--mem``, MiB),
    else ``SLURM_MEM_PER_CPU`` (``--mem-per-cpu``, MiB) times ``SLURM_CPUS_PER_TASK``
    (default 1); None outside a job given either."""
    env = os.environ if environ is None else environ
    try:
        if env.get("SLURM_MEM_PER_NODE"):
            return int(env["SLURM_MEM_PER_NODE"]) * 2**20
        if env.get("SLURM_MEM_PER_CPU"):
            cpus = int(env.get("SLURM_CPUS_PER_TASK") or 1)
            return int(env["SLURM_MEM_PER_CPU"]) * cpus * 2**20
    except ValueError:
        return None
    return None


def budget_bytes(memory_budget_gb: float | None, environ: Mapping[str, str] | None = None) -> float:
    """``memory_budget_gb`` in bytes; by default, in a SLURM job, the job's memory (which
    SLURM enforces: hydra.launcher.mem_gb), else half the physical memory (16 GB if
    unknown)."""
    if memory_budget_gb is not None:
        return float(memory_budget_gb) * 1e9
    allocated = slurm_memory_bytes(environ)
    if allocated:
        return float(allocated)
    total = machine_memory_bytes()
    return 0.5 * total if total else 16e9


def estimate_size(
    requests: float,
    options_per_request: float,
    rounds: float,
    intervals: float,
    n_links_servers: int,
    n_schedulers: int = 1,
    optimal: bool = False,
) -> SizeEstimate:
    """Price a run of ``requests`` requests (see the module docstring for the costs)."""
    options = requests * options_per_request
    per_option = OPTION_BYTES + (OPTIMUM_OPTION_BYTES if optimal else 0)
    total = (
        BASE_BYTES
        + options * per_option
        + rounds * ROUND_BYTES * max(n_schedulers, 1)
        + intervals * INTERVAL_BYTES * n_links_servers
    )
    clip = 2**62  # counts beyond any machine stay finite integers
    return SizeEstimate(
        requests=int(min(requests, clip)),
        options=int(min(options, clip)),
        rounds=int(min(rounds, clip)),
        intervals=int(min(intervals, clip)),
        bytes=int(min(total, clip)) if math.isfinite(total) else clip,
    )


def check_size(estimate: SizeEstimate, memory_budget_gb: float | None, keys: str) -> None:
    """Raise :class:`InputError` naming ``keys`` when ``estimate`` exceeds the budget."""
    budget = budget_bytes(memory_budget_gb)
    if estimate.bytes > budget:
        raise InputError(
            keys,
            estimate.describe(),
            f"a run that fits memory_budget_gb={budget / 1e9:.1f} (lower these, or raise "
            "memory_budget_gb if the machine has the memory)",
        )
