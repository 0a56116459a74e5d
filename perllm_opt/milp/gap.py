"""OR-Library generalised assignment problem (GAP) instances, solved through the same
assignment layer: jobs are items, (agent, job) pairs are options, agents are resources.

Format (Beasley's OR-Library, ``gap1.txt`` ... ``gap12.txt``, ``gapa.txt`` ...): the number
of instances; then per instance ``m n``, the cost matrix ``c[i][j]`` (m rows of n), the
resource matrix ``a[i][j]``, and the capacities ``b[i]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perllm_opt.errors import InputError
from perllm_opt.milp.data import AssignmentData


@dataclass(frozen=True, eq=False)
class GapInstance:
    """One GAP instance: ``agents`` x ``jobs`` cost and resource matrices, capacities."""

    agents: int
    jobs: int
    cost: np.ndarray
    resource: np.ndarray
    capacity: np.ndarray


def read_orlib_gap(path: str | Path) -> list[GapInstance]:
    """Parse an OR-Library GAP file.

    Raises
    ------
    InputError
        For a missing file, non-integer tokens, too few or too many numbers for the declared
        sizes, and negative resources or capacities.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("GAP file", str(p), "an existing OR-Library GAP file")
    tokens = p.read_text("utf-8").split()
    try:
        values = [int(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not t.lstrip("-").isdigit())
        raise InputError(f"{p.name}", bad, "whole numbers only") from None
    pos = 0

    def take(k: int, what: str) -> list[int]:
        nonlocal pos
        if pos + k > len(values):
            raise InputError(
                f"{p.name}",
                f"{len(values)} numbers",
                f"{pos + k} numbers at least (while reading {what})",
            )
        out = values[pos : pos + k]
        pos += k
        return out

    (count,) = take(1, "the number of instances")
    if count < 1:
        raise InputError(f"{p.name} instance count", count, "at least 1")
    out = []
    for k in range(count):
        m, n = take(2, f"instance {k + 1} sizes")
        if m < 1 or n < 1:
            raise InputError(f"{p.name} instance {k + 1} sizes", (m, n), "positive m and n")
        cost = np.asarray(take(m * n, f"instance {k + 1} costs"), dtype=float).reshape(m, n)
        res = np.asarray(take(m * n, f"instance {k + 1} resources"), dtype=float).reshape(m, n)
        cap = np.asarray(take(m, f"instance {k + 1} capacities"), dtype=float)
        if np.any(res < 0):
            raise InputError(f"{p.name} instance {k + 1} resources", int(res.min()), "numbers >= 0")
        if np.any(cap < 0):
            raise InputError(
                f"{p.name} instance {k + 1} capacities", int(cap.min()), "numbers >= 0"
            )
        out.append(GapInstance(agents=m, jobs=n, cost=cost, resource=res, capacity=cap))
    if pos != len(values):
        raise InputError(
            f"{p.name}",
            f"{len(values) - pos} numbers left over",
            "exactly the numbers the declared sizes need",
        )
    return out


def gap_data(inst: GapInstance, sense: str) -> AssignmentData:
    """Every job to exactly one agent within the agents' capacities; ``sense`` min or max."""
    m, n = inst.agents, inst.jobs
    agent = np.repeat(np.arange(m), n)
    job = np.tile(np.arange(n), m)
    return AssignmentData(
        n_items=n,
        option_item=job,
        option_cost=inst.cost.ravel(),
        capacity=inst.capacity,
        usage_option=np.arange(m * n),
        usage_resource=agent,
        usage_amount=inst.resource.ravel(),
        drop_cost=None,
        sense=sense,
    )
