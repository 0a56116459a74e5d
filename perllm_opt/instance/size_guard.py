"""How big a run will be, estimated from its config before anything large is allocated, and
the memory budget it must fit in.

The estimate counts every size the config multiplies memory by (requests, options, epochs
or rounds, bins per scheduler, sleep blocks per sleeping server, dynamics intervals per link
or server) and prices each with a per-item cost measured on this project's runs, rounded
up (the measurements: docs/design_notes.md and docs/experiments.md). A refusal names the key
behind the largest term. The budget (``memory_budget_gb``) defaults to half of the
machine's physical memory, or, in a SLURM job, to the job's memory.

"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from perllm_opt.config import InstanceConfig
from perllm_opt.errors import InputError
from perllm_opt.instance.options import Template
from perllm_opt.workload.traces import resolve_trace_path

#: Resident memory of a run before its instance (Python, numpy, Pyomo, HiGHS imported).
BASE_BYTES = 200 * 2**20
#: Per option: the option table, its expected-value copy, evaluation and scheduler state.
OPTION_BYTES = 3 * 2**10
#: Per option, in addition, when the MILP optimum is solved (Pyomo model and HiGHS copy).
OPTIMUM_OPTION_BYTES = 6 * 2**10
#: Per decision epoch or round: the epoch plans and dispatch bookkeeping.
ROUND_BYTES = 192
#: Per bin of the per-bin series and scheduler: its series, outcomes and regret rows.
BIN_BYTES = 288
#: Per sleep block and server that may sleep: the on/off windows.
SLEEP_BLOCK_BYTES = 96
#: Per dynamics interval and link or server: the realised bandwidth and speed factors.
INTERVAL_BYTES = 32

#: The config key behind each term of the estimate (the options' key is the caller's).
TERM_KEYS = {
    "rounds": "system.epoch_s",
    "bins": "system.bin_s",
    "sleep_blocks": "system.sleep_block_s",
    "intervals": "dynamics.interval_s",
}


@dataclass(frozen=True)
class SizeEstimate:
    """Expected size of a run (means, not bounds: Poisson counts vary by a few sqrt(n)).
    ``terms`` holds the bytes of each term (``options``, ``rounds``, ``bins``,
    ``sleep_blocks``, ``intervals``), the base excluded."""

    requests: int
    options: int
    rounds: int
    intervals: int
    bytes: int
    bins: int = 0
    sleep_blocks: int = 0
    terms: tuple[tuple[str, int], ...] = ()

    def driver(self) -> str:
        """The term with the most bytes (``options`` when there are no terms)."""
        return max(self.terms, key=lambda t: t[1])[0] if self.terms else "options"

    def describe(self) -> str:
        """One phrase: ``about 7,500,000 requests, 128,000,000 options, 300 epochs/rounds,
        393.2 GB``, and the driving term when it is not the options."""
        text = (
            f"about {self.requests:,} requests, {self.options:,} options, "
            f"{self.rounds:,} epochs/rounds, {_gb(self.bytes)} GB"
        )
        driver = self.driver()
        if driver != "options":
            count = {"rounds": self.rounds, "bins": self.bins}.get(driver)
            count = self.sleep_blocks if driver == "sleep_blocks" else count
            count = self.intervals if driver == "intervals" else count
            share = dict(self.terms)[driver] / 1e9
            label = "epochs/rounds" if driver == "rounds" else driver.replace("_", " ")
            text += f", {share:.1f} GB of it for {count:,} {label}"
        return text


def machine_memory_bytes() -> int | None:
    """Physical memory of this machine (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def available_memory_bytes() -> int | None:
    """Memory the kernel says is available now (``MemAvailable`` of ``/proc/meminfo``);
    None where it does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
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


def _gb(n_bytes: float) -> str:
    """``n_bytes`` in GB as a user would write it: one decimal, or three significant digits
    below 0.1 GB (a budget of 0.01 GB is not shown as 0.0)."""
    gb = n_bytes / 1e9
    return f"{gb:.1f}" if gb >= 0.1 else f"{gb:.3g}"


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
    bins: float = 0,
    sleep_blocks: float = 0,
    n_sleep_servers: int = 0,
    optimum_options: float | None = None,
) -> SizeEstimate:
    """Price a run of ``requests`` requests (see the module docstring for the costs);
    ``bins`` is the number of bins of the per-bin series (rounds mode: the rounds),
    ``sleep_blocks`` the number of sleep blocks (continuous mode), ``optimum_options`` the
    most options the optimum's solver holds at once (default: every option)."""
    clip = 2**62  # counts beyond any machine stay finite integers

    def finite(x: float) -> float:
        return float(min(x, clip)) if math.isfinite(x) else float(clip)

    options = finite(requests * options_per_request)
    in_solver = options if optimum_options is None else min(options, finite(optimum_options))
    terms = {
        "options": options * OPTION_BYTES + (in_solver * OPTIMUM_OPTION_BYTES if optimal else 0),
        "rounds": finite(rounds) * ROUND_BYTES,
        "bins": finite(bins) * BIN_BYTES * max(n_schedulers, 1),
        "sleep_blocks": finite(sleep_blocks) * SLEEP_BLOCK_BYTES * n_sleep_servers,
        "intervals": finite(intervals) * INTERVAL_BYTES * n_links_servers,
    }
    total = BASE_BYTES + sum(terms.values())
    return SizeEstimate(
        requests=int(finite(requests)),
        options=int(options),
        rounds=int(finite(rounds)),
        intervals=int(finite(intervals)),
        bytes=int(finite(total)),
        bins=int(finite(bins)),
        sleep_blocks=int(finite(sleep_blocks)),
        terms=tuple((k, int(finite(v))) for k, v in terms.items()),
    )


def check_size(
    estimate: SizeEstimate,
    memory_budget_gb: float | None,
    keys: str,
    term_keys: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`InputError` when ``estimate`` exceeds the budget, naming the key behind
    its largest term: ``keys`` for the options, else :data:`TERM_KEYS` (updated by
    ``term_keys``, e.g. ``system.round_s`` for the rounds of rounds mode)."""
    budget = budget_bytes(memory_budget_gb)
    driver = estimate.driver()
    names = {**TERM_KEYS, **(term_keys or {})}
    culprit = keys if driver == "options" else names[driver]
    free = available_memory_bytes()
    if estimate.bytes <= budget and free is not None and estimate.bytes > free:
        # Within the budget but not within what the machine has free now (other jobs).
        logging.getLogger("perllm_opt").warning(
            "%s: %s, more than the %.1f GB this machine has available now: the run may "
            "fail for lack of memory",
            culprit,
            estimate.describe(),
            free / 1e9,
        )
    if estimate.bytes > budget:
        raise InputError(
            culprit,
            estimate.describe(),
            f"a run that fits memory_budget_gb={_gb(budget)} (lower these, or raise "
            "memory_budget_gb if the machine has the memory)",
        )


def instance_size(
    config: InstanceConfig,
    templates: Sequence[Template],
    n_links_servers: int,
    round_s: float,
    n_sleep_servers: int = 0,
    n_schedulers: int = 1,
) -> SizeEstimate:
    """The expected size of ``config``'s instance, from its templates: requests
    (rate x horizon; a trace gives at most its rows), options (each request is offered its
    template's candidates, averaged over zones and weighted by the service mix), epochs or
    rounds, bins of the per-bin series (rounds mode: the rounds), sleep blocks and dynamics
    intervals."""
    w = config.workload
    requests = float(w.rate_rps) * float(config.horizon_s)
    if w.kind == "trace" and w.trace_path:
        path = resolve_trace_path(str(w.trace_path))
        if path.is_file():
            with path.open("rb") as fh:
                rows = sum(1 for _ in fh)
            requests = rows if w.trace_native_rate else min(requests, rows)
    n_services = len(config.services)
    mix = np.asarray([s.mix for s in config.services], dtype=float)
    per_service = np.zeros(n_services)
    for t in templates:
        per_service[t.service] += len(t.server)
    n_zones = max(len(templates) // max(n_services, 1), 1)
    options_per_request = float(per_service @ mix / mix.sum()) / n_zones
    horizon = float(config.horizon_s)
    rounds = math.ceil(horizon / round_s)
    continuous = config.system.mode == "continuous"
    return estimate_size(
        requests,
        options_per_request,
        rounds=rounds,
        intervals=math.ceil(horizon / float(config.dynamics.interval_s)),
        n_links_servers=n_links_servers,
        n_schedulers=n_schedulers,
        bins=math.ceil(horizon / float(config.system.bin_s)) if continuous else rounds,
        sleep_blocks=math.ceil(horizon / float(config.system.sleep_block_s)) if continuous else 0,
        n_sleep_servers=n_sleep_servers,
    )


def size_keys(config: InstanceConfig, options_keys: str) -> tuple[str, dict[str, str]]:
    """The keys a refusal of the size guard names: ``options_keys`` for the options (led by
    ``system.rate_levels_mbps`` when its levels multiply them tenfold or more), and the
    round length for the rounds of rounds mode."""
    if len(config.system.rate_levels_mbps) >= 10:
        options_keys = f"system.rate_levels_mbps, {options_keys}"
    rounds = config.system.mode == "rounds"
    key = "system.round_s" if rounds else "system.epoch_s"
    return options_keys, {"rounds": key, "bins": "system.round_s" if rounds else "system.bin_s"}
