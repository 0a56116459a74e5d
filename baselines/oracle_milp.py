"""``oracle_milp``: the known-means oracle, one MILP per decision epoch on expected values.

It knows the laws of the instance (true speed factors, each type's output-length law, the
slowdown's stationary law, the mean bandwidth: :class:`perllm_opt.knowledge.OracleInfo`) but
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

Both stages use the generic assignment data: a *null option* per request (decline) makes
every request take exactly one option, stage 1 costs ``1 - P(on time)`` per option (1 for
declining), and stage 2 keeps stage 1's expected misses as a capacity row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.errors import require_positive
from perllm_opt.expected_options import expected_block
from perllm_opt.milp.data import AssignmentData
from perllm_opt.milp.perllm import GB
from perllm_opt.milp.solve import solve_assignment
from perllm_opt.schedulers.base import DECLINE, Scheduler
from perllm_opt.view import RoundView


@dataclass
class OracleMILP(Scheduler):
    """Known-means oracle (module docstring).

    Parameters
    ----------
    time_limit_s : float
        HiGHS time limit per stage and epoch.
    """

    name: str = "oracle_milp"
    time_limit_s: float = 10.0
    uses_oracle: ClassVar[bool] = True

    def __post_init__(self) -> None:
        require_positive(self.time_limit_s, "scheduler.oracle_milp.time_limit_s")

    def setup(self) -> None:
        assert self.oracle is not None
        self.solver = SolverConfig(time_limit_s=self.time_limit_s, mip_rel_gap=1e-9)
        self.plan: list[int] = []

    def _candidates(self, view: RoundView):
        """Per request: (candidates, P(on time), weighted expected energy cost)."""
        info, orc = self.info, self.oracle
        w_tran, w_infer, w_idle = info.weights
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
                np.asarray(orc.speed_factor),
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
        info, orc = self.info, self.oracle
        n = len(view)
        self.plan = [DECLINE] * n
        cands = self._candidates(view)
        if n == 0 or not any(len(c[0]) for c in cands):
            return
        n_s = info.n_servers
        bw = np.asarray(orc.expected_bandwidth_mbps)
        rate_left = np.maximum(bw - np.asarray(view.rate_used_mbps), 0.0)
        # Resources: compute of j (j), KV of j (n_s + j), link e (2 n_s + e), then the
        # stage-2 row of expected misses (last).
        cap = np.concatenate(
            [
                np.maximum(1.0 - np.asarray(view.compute_used), 0.0),
                np.maximum(
                    np.asarray(info.server_kv_budget_bytes) - np.asarray(view.kv_used_bytes), 0.0
                )
                / GB,
                rate_left[:-1],
            ]
        )
        item, cand_of, p_of, cost_of, u_opt, u_res, u_amt, srv_of = [], [], [], [], [], [], [], []
        for k, (cand, p, cost) in enumerate(cands):
            t = info.templates[int(view.template[k])]
            for c, pc, ec in zip(cand.tolist(), p.tolist(), cost.tolist(), strict=True):
                o = len(item)
                item.append(k)
                cand_of.append(c)
                p_of.append(pc)
                cost_of.append(ec)
                j = int(t.server[c])
                srv_of.append(j)
                u_opt += [o, o]
                u_res += [j, n_s + j]
                u_amt += [float(t.phi[c]), float(view.kv_bytes[k]) / GB]
                for e in np.asarray(info.path_link_matrix)[t.path_id[c]].tolist():
                    if e < info.n_links:
                        u_opt.append(o)
                        u_res.append(2 * n_s + e)
                        u_amt.append(float(t.rate_mbps[c]))
            item.append(k)  # the null option: decline
            cand_of.append(DECLINE)
            p_of.append(0.0)
            cost_of.append(0.0)
            srv_of.append(-1)
        item_a = np.asarray(item, dtype=np.int64)
        p_a = np.asarray(p_of)
        # Waking a sleeping server (rounds: one round; continuous: one sleep block).
        _, _, w_idle = info.weights
        asleep = np.asarray(info.server_can_sleep) & (np.asarray(view.compute_used) <= 0.0)
        gate_srv = np.flatnonzero(asleep)
        gate_of = {int(j): g for g, j in enumerate(gate_srv.tolist())}
        og_opt = [o for o, j in enumerate(srv_of) if j in gate_of]
        og_gate = [gate_of[srv_of[o]] for o in og_opt]
        gate_cost = w_idle * np.asarray(info.server_idle_power_w)[gate_srv] * info.wake_s

        base_opt = np.asarray(u_opt, dtype=np.int64)
        base_res = np.asarray(u_res, dtype=np.int64)
        base_amt = np.asarray(u_amt, dtype=float)

        def data(option_cost, gate_c, miss_cap):
            caps, uo, ur, ua = cap, base_opt, base_res, base_amt
            if miss_cap is not None:
                caps = np.append(cap, miss_cap)
                uo = np.concatenate([uo, np.arange(len(item))])
                ur = np.concatenate([ur, np.full(len(item), len(cap), dtype=np.int64)])
                ua = np.concatenate([ua, 1.0 - p_a])
            return AssignmentData(
                n_items=n,
                option_item=item_a,
                option_cost=np.asarray(option_cost, dtype=float),
                capacity=caps,
                usage_option=uo,
                usage_resource=ur,
                usage_amount=ua,
                drop_cost=None,
                gate_cost=np.asarray(gate_c, dtype=float),
                option_gate_option=np.asarray(og_opt, dtype=np.int64),
                option_gate_gate=np.asarray(og_gate, dtype=np.int64),
            )

        stage1 = solve_assignment(data(1.0 - p_a, np.zeros(len(gate_srv)), None), self.solver)
        if not stage1.has_solution:
            return
        misses = float(stage1.objective)
        tol = 1e-7 * max(1.0, abs(misses))
        stage2 = solve_assignment(data(cost_of, gate_cost, misses + tol), self.solver)
        chosen = stage2.x if stage2.has_solution else stage1.x
        for o in np.flatnonzero(chosen > 0.5).tolist():
            self.plan[int(item_a[o])] = int(cand_of[o])

    def select(self, view: RoundView, k: int) -> int:
        return self.plan[k] if k < len(self.plan) else DECLINE
