"""``oracle_milp``: the known-means oracle, one MILP per decision epoch on expected values.

It knows the laws of the instance (true speed factors and when they drift, each type's
output-length law, the slowdown's stationary law, the mean bandwidth:
:class:`perllm_opt.simulation.knowledge.OracleInfo`) but
no realisation: not a request's output length, nor the slowdown or bandwidth it will meet.
At each round (rounds mode) or decision epoch (continuous mode) it solves, through the
``milp/`` layer, the assignment of the epoch's requests that (1) maximises the expected
number on time and (2) among those, minimises the expected weighted energy, under the exact
compute and KV capacities left and the expected bandwidth left, then plays that plan.

Rounds share no capacity in rounds mode, and the stationary law does not depend on the
past, so under i.i.d. or stationary dynamics this is the best policy that does not see the
future: nothing beats it in expectation. (Under Markov dynamics a policy could also condition
on the previous round's observed state; this oracle uses the stationary law only.) In
continuous mode it plans each epoch against the live reservations without looking ahead: a
strong reference, not a bound.

The two-stage epoch MILP is :func:`perllm_opt.schedulers.epoch_plan.plan_epoch`, shared with
CS-UCB's exact combinatorial oracle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.errors import require, require_positive
from perllm_opt.instance.expected_options import expected_block
from perllm_opt.schedulers.base import DECLINE, Scheduler
from perllm_opt.schedulers.epoch_plan import PLAN_GUARD_S, PLAN_WORK, plan_epoch
from perllm_opt.simulation.view import RoundView


@dataclass
class OracleMILP(Scheduler):
    """Known-means oracle (module docstring).

    Parameters
    ----------
    work : int
        Search per stage and epoch in HiGHS interrupt checks x columns**2: the budget, the
        same on every machine (:data:`perllm_opt.schedulers.epoch_plan.PLAN_WORK`).
    time_limit_s : float
        HiGHS time limit per stage and epoch: a guard against a hang only; a plan that meets
        it is logged, as its result then depends on the machine.
    """

    name: str = "oracle_milp"
    work: int = PLAN_WORK
    time_limit_s: float = PLAN_GUARD_S
    uses_oracle: ClassVar[bool] = True

    def __post_init__(self) -> None:
        require_positive(self.time_limit_s, "scheduler.oracle_milp.time_limit_s")
        require(
            isinstance(self.work, int) and not isinstance(self.work, bool) and self.work >= 1,
            "scheduler.oracle_milp.work",
            self.work,
            "an integer >= 1",
        )

    def setup(self) -> None:
        assert self.oracle is not None
        self.solver = SolverConfig(time_limit_s=self.time_limit_s, mip_rel_gap=1e-9)
        self.plan: list[int] = []

    def _candidates(self, view: RoundView):
        """Per request: (candidates, P(on time), weighted expected energy cost)."""
        info, orc = self.info, self.oracle
        w_tran, w_infer, w_idle = info.weights
        # The conditions the epoch's requests meet: a round's start (rounds mode) or the
        # dispatch (continuous mode); the speed factors in force then (drift is a known law).
        speed = np.asarray(orc.epoch_speed_factor(info, view))
        out = []
        for k in range(len(view)):
            t = info.templates[int(view.template[k])]
            if len(t) == 0:
                out.append((np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)))
                continue
            cand = np.arange(len(t))
            p, e_tran, e_inf, run = expected_block(
                t,
                cand,
                np.full(len(t), float(view.prompt_tokens[k])),
                np.full(len(t), float(view.up_bits[k])),
                np.full(len(t), float(view.deadline_s[k] - view.wait_s[k])),
                speed,
                orc.output_laws[t.service],
                orc.slowdown_max,
                info.time_cap_s,
                info.bytes_per_token,
            )
            idle = np.asarray(info.server_idle_power_w)[t.server]
            cost = w_tran * e_tran + w_infer * e_inf - w_idle * idle * t.phi * run
            keep = p > 0.0
            out.append((cand[keep], p[keep], cost[keep]))
        return out

    def begin_round(self, view: RoundView) -> None:
        assert self.oracle is not None
        self.plan = plan_epoch(
            self.info,
            view,
            self._candidates(view),
            np.asarray(self.oracle.expected_bandwidth_mbps),
            self.solver,
            work=self.work,
        )

    def select(self, view: RoundView, k: int) -> int:
        return self.plan[k] if k < len(self.plan) else DECLINE
