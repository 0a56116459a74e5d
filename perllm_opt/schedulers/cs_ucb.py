"""CS-UCB: the constraint-satisfaction upper-confidence-bound scheduler of PerLLM (Yang et
al., arXiv:2405.14636, 2024), as built here (docs/model.md, "CS-UCB as built").

Per arm (service type, server, share level, rate level) it learns the distribution of
``log rho``, the realised time over the profile's estimate, and the refusal rate; at each
decision epoch it plans the epoch's requests on optimistic indices (UCB), feasible only
where the deadline is likely met and the resources are free, and plays the plan in arrival
order, re-choosing a request whose planned arm no longer fits after a refusal. The
statistics are pooled per server, forgotten over ``memory_s`` and updated with censored
times in rounds mode; links are planned at an AR(1) forecast of their bandwidth. The plan
is one of three combinatorial oracles (``plan_mode``): ``fast``
(:mod:`perllm_opt.schedulers.fast_plan`), ``milp``
(:mod:`perllm_opt.schedulers.epoch_plan`) or ``greedy`` (priced, most constrained first).

"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from perllm_opt.config import SolverConfig
from perllm_opt.errors import require, require_non_negative, require_positive
from perllm_opt.schedulers.base import DECLINE, Scheduler
from perllm_opt.schedulers.epoch_plan import PLAN_GUARD_S, plan_epoch
from perllm_opt.schedulers.estimates import candidate_models, typical_energy_j
from perllm_opt.schedulers.fast_plan import plan_epoch_fast
from perllm_opt.simulation.view import Feedback, RoundView, SystemInfo, fits, free_mask

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF, tanh approximation (absolute error below 2e-4)."""
    return 0.5 * (1.0 + np.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z**3)))


def censored_moments(
    c: np.ndarray, mean: np.ndarray, sd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First and second moments of ``X ~ N(mean, sd^2)`` given ``X > c`` (the censored
    observation's contribution to the statistics; module docstring).

    Returns
    -------
    (ndarray, ndarray)
        ``E[X | X > c]`` (at least ``c``) and ``E[X^2 | X > c]``.
    """
    c, mean, sd = (np.asarray(x, dtype=float) for x in (c, mean, sd))
    a = (c - mean) / sd
    pdf = np.exp(-0.5 * a**2) / math.sqrt(2.0 * math.pi)
    tail = 0.5 * np.asarray([math.erfc(v / math.sqrt(2.0)) for v in np.ravel(a)]).reshape(a.shape)
    # Far in the tail the ratio tends to a (Mills' ratio); guard the division there.
    deep = tail <= 1e-12
    lam = np.where(deep, a + 1.0 / np.maximum(a, 1.0), pdf / np.maximum(tail, 1e-300))
    first = np.maximum(mean + sd * lam, c)
    var = np.maximum(sd**2 * (1.0 + a * lam - lam**2), 0.0)
    return first, var + first**2


@dataclass
class CSUCB(Scheduler):
    """Constraint-satisfaction UCB with a combinatorial per-round plan (module docstring).

    Parameters
    ----------
    exploration : float
        UCB radius coefficient alpha; 0 exploits the empirical means only.
    theta : float
        Penalty weight of the expected constraint violation in the cost.
    confidence : float
        Least optimistic probability of meeting the deadline for an arm to be feasible.
    prior_sigma : float
        Prior standard deviation of ``log rho``.
    prior_weight : float
        Pseudo-observations of the priors per arm.
    bandwidth_margin : float
        Conservative bandwidth = AR(1) prediction - margin x its standard error.
    bandwidth_cap : bool
        Never plan a link above its last observed bandwidth (then every chosen arm is free
        per the view). Off by default: under i.i.d. dynamics the forecast (the mean) beats
        the last observation (docs/design_notes.md).
    price_weight : float
        Weight of the resource price in the cost.
    price_steepness : float
        beta of the exponential price ``psi``.
    pool : bool
        Share a server's evidence across its arms (prior mean = the server's pooled mean).
    memory_s : float
        Time constant of forgetting (``inf``: keep everything).
    plan_mode : str
        The combinatorial oracle: ``fast`` (LP rounding and repair,
        :func:`perllm_opt.schedulers.fast_plan.plan_fast`), ``greedy`` (priced,
        most-constrained first; O(arms) per request) or ``milp`` (the exact two-stage epoch
        MILP on the optimistic estimates, :func:`perllm_opt.schedulers.epoch_plan.plan_epoch`).
    plan_slack : float
        ``fast`` and ``milp``: expected on-time requests per epoch the energy stage may give
        up.
    learn : bool
        Update on feedback. ``False`` (with ``exploration=0``) is the ``cs_ucb_static``
        ablation: the profile priors and the plan only, every decision independent of the
        outcomes seen.

    The tuned defaults come from the tuning protocol (docs/experiments.md, "Tuning";
    their history: docs/design_notes.md).
    """

    name: str = "cs_ucb"
    exploration: float = 0.947
    theta: float = 1.0
    confidence: float = 0.767
    prior_sigma: float = 0.5
    prior_weight: float = 9.88
    bandwidth_margin: float = 0.0
    price_weight: float = 5.89
    price_steepness: float = 5.0
    pool: bool = True
    memory_s: float = 3480.0
    learn: bool = True
    plan_mode: str = "fast"
    plan_slack: float = 0.000562
    bandwidth_cap: bool = False

    def __post_init__(self) -> None:
        require_non_negative(self.exploration, "scheduler.cs_ucb.exploration")
        require_non_negative(self.theta, "scheduler.cs_ucb.theta")
        require(
            0 < self.confidence < 1,
            "scheduler.cs_ucb.confidence",
            self.confidence,
            "a probability in (0, 1)",
        )
        require_positive(self.prior_sigma, "scheduler.cs_ucb.prior_sigma")
        require_positive(self.prior_weight, "scheduler.cs_ucb.prior_weight")
        require_non_negative(self.bandwidth_margin, "scheduler.cs_ucb.bandwidth_margin")
        require_non_negative(self.price_weight, "scheduler.cs_ucb.price_weight")
        require_non_negative(self.plan_slack, "scheduler.cs_ucb.plan_slack")
        require_positive(self.price_steepness, "scheduler.cs_ucb.price_steepness")
        require(
            self.plan_mode in ("fast", "greedy", "milp"),
            "scheduler.cs_ucb.plan_mode",
            self.plan_mode,
            "'fast', 'greedy' or 'milp'",
        )
        require(
            isinstance(self.memory_s, int | float) and self.memory_s > 0,
            "scheduler.cs_ucb.memory_s",
            self.memory_s,
            "a number of seconds > 0 (inf: no forgetting)",
        )

    # -- state ---------------------------------------------------------------------------
    def setup(self) -> None:
        shape = (self.info.n_services, self.info.n_slices)
        self.attempts = np.zeros(shape)
        self.refusals = np.zeros(shape)
        self.time_n = np.zeros(shape)
        self.log_sum = np.zeros(shape)
        self.log_sq_sum = np.zeros(shape)
        self.models = candidate_models(self.info)
        self.energy_scale = typical_energy_j(self.info, self.models)
        self.z_min = NormalDist().inv_cdf(self.confidence)
        self.pending: dict[int, float] = {}
        self.last_bw: np.ndarray | None = None
        self.bw_n = 0
        self.bw_lag_n = 0
        self.bw_sum = np.zeros(self.info.n_links + 1)
        self.bw_sq = np.zeros(self.info.n_links + 1)
        self.bw_lag = np.zeros(self.info.n_links + 1)
        self.plan: list[int] = []
        self.replan = False
        self.slice_server = np.asarray(self.info.slices.server, dtype=np.int64)
        self._solver = SolverConfig(time_limit_s=PLAN_GUARD_S, mip_rel_gap=1e-6)
        self.last_now: float | None = None

    def prior_mean(self) -> np.ndarray:
        """Prior mean of each arm's ``log rho``, (1, slices): its server's pooled mean shrunk
        to 0 with ``prior_weight`` pseudo-observations (``pool``), else 0."""
        if not self.pool:
            return np.zeros((1, self.info.n_slices))
        n_s = self.info.n_servers
        srv_n = np.bincount(self.slice_server, weights=self.time_n.sum(axis=0), minlength=n_s)
        srv_sum = np.bincount(self.slice_server, weights=self.log_sum.sum(axis=0), minlength=n_s)
        return (srv_sum / (srv_n + self.prior_weight))[self.slice_server][None, :]

    def estimates(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of ``log rho`` per arm, (services, slices), without
        the exploration bonus."""
        n0 = self.prior_weight
        m0 = self.prior_mean()
        n_t = self.time_n + n0
        mean = (self.log_sum + n0 * m0) / n_t
        # Second moment pooled with the prior's pseudo-observations (mean m0, sd prior_sigma).
        var = (n0 * (self.prior_sigma**2 + m0**2) + self.log_sq_sum) / n_t - mean**2
        return mean, np.sqrt(np.maximum(var, 1e-6))

    def indices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Optimistic mean and spread of ``log rho`` and refusal rate, (services, slices)."""
        n0 = self.prior_weight
        n_t = self.time_n + n0
        n_a = self.attempts + n0
        log_n = np.log(self.attempts.sum(axis=1, keepdims=True) + 1.0)
        mean, sd = self.estimates()
        mu_lo = mean - np.sqrt(self.exploration * log_n / n_t)
        v_lo = np.maximum(0.0, self.refusals / n_a - np.sqrt(self.exploration * log_n / n_a))
        return mu_lo, sd, v_lo

    def _forget(self, now_s: float) -> None:
        """Decay every statistic by ``exp(-dt / memory_s)`` since the last decision."""
        if self.last_now is not None and math.isfinite(self.memory_s) and now_s > self.last_now:
            g = math.exp(-(now_s - self.last_now) / self.memory_s)
            for a in (self.attempts, self.refusals, self.time_n, self.log_sum, self.log_sq_sum):
                a *= g
        self.last_now = now_s

    def _conservative_bandwidth(self, view: RoundView) -> np.ndarray:
        """A lower-confidence estimate of each link's bandwidth in this round: an AR(1)
        prediction from the bandwidths observed so far minus ``bandwidth_margin`` x its
        standard error (module docstring, "Bandwidth")."""
        bw = np.asarray(view.bandwidth_estimate_mbps, dtype=float)
        finite = np.isfinite(bw)
        x = np.where(finite, bw, 0.0)
        if self.last_bw is None or not np.array_equal(bw, self.last_bw):
            if self.last_bw is not None:
                self.bw_lag += x * np.where(finite, self.last_bw, 0.0)
                self.bw_lag_n += 1
            self.bw_n += 1
            self.bw_sum += x
            self.bw_sq += x**2
            self.last_bw = bw.copy()
        if self.bw_lag_n < 2:
            return bw
        mean = self.bw_sum / self.bw_n
        var = np.maximum(self.bw_sq / self.bw_n - mean**2, 0.0)
        cov = self.bw_lag / self.bw_lag_n - mean**2
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.where(var > 1e-12, np.clip(cov / var, 0.0, 1.0), 1.0)
        pred = mean + rho * (x - mean)
        sd = np.sqrt(var * (1.0 - rho**2))
        plan = np.maximum(pred - self.bandwidth_margin * sd, 0.0)
        if self.bandwidth_cap:
            # Never above what was last observed: what the view calls free stays an upper
            # bound on what the plan takes.
            plan = np.minimum(plan, x)
        return np.where(finite, plan, bw)

    def _template_resources(self, key: int, bw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Resource ids (K, R) and fractions taken (K, R) of a template's candidates, with a
        zero placeholder in the memory column (it depends on the request).

        Resources are numbered: compute of server j is j, KV memory of j is n_servers + j,
        link e is 2 n_servers + e (the sentinel link, unlimited, takes nothing).
        """
        info = self.info
        n_s = info.n_servers
        t = info.templates[key]
        links = info.path_link_matrix[t.path_id]
        cap = bw[links]
        finite = np.isfinite(cap)
        link_x = np.zeros(links.shape)
        link_x[finite] = np.broadcast_to(t.rate_mbps[:, None], links.shape)[finite] / np.maximum(
            cap[finite], 1e-12
        )
        res = np.column_stack([t.server, n_s + t.server, 2 * n_s + links])
        x = np.column_stack([t.phi, np.zeros(len(t)), link_x])
        return res, x

    # -- the round's plan ----------------------------------------------------------------
    def begin_round(self, view: RoundView) -> None:
        """Plan the epoch: each request's arm (or none), by the configured plan."""
        info = self.info
        n = len(view)
        self._forget(float(view.now_s))
        mu_lo, sigma, v_lo = self.indices()
        bw = self._conservative_bandwidth(view)
        self.plan_bandwidth_mbps = bw
        ep = _epoch(info, view, bw, (mu_lo, sigma, v_lo))

        # Pass 1, vectorised per template: feasibility, cost, and the demand each resource
        # would see if every request took its lightest feasible arm.
        keys = np.asarray(view.template)
        order = np.argsort(keys, kind="stable")
        bounds = np.flatnonzero(np.diff(keys[order])) + 1
        demand = np.zeros(2 * info.n_servers + info.n_links + 1)
        groups = []
        self._where = np.zeros((n, 2), dtype=np.int64)
        for gi, members in enumerate(np.split(order, bounds) if n else []):
            key = int(keys[members[0]])
            self._where[members, 0] = gi
            self._where[members, 1] = np.arange(len(members))
            groups.append(self._group(ep, key, members, demand))
        footprint, n_feasible = self._price(groups, demand, ep.capacity_left, n)
        self._groups = groups
        if self.plan_mode == "milp":
            self.plan = plan_epoch(
                info, view, self._milp_candidates(n), bw, self._solver, self.plan_slack
            )
        elif self.plan_mode == "fast":
            self.plan = plan_epoch_fast(
                info, view, self._milp_candidates(n, reduce=True), bw, self.plan_slack, reduced=True
            )
        else:
            self.plan = self._greedy_plan(ep, groups, footprint, n_feasible)
        self.replan = False

    def _group(self, ep: _Epoch, key: int, members: np.ndarray, demand: np.ndarray) -> dict | None:
        """One template's requests of the epoch: which arms are feasible, their cost and
        price footprint inputs; adds to ``demand`` what their lightest feasible arms use."""
        info, view = self.info, ep.view
        n_s = info.n_servers
        t = info.templates[key]
        if len(t) == 0:
            return None
        mu_lo, sigma, v_lo = ep.indices
        cm = self.models[key]
        s, arms, srv = t.service, t.server_slice, t.server
        up = np.asarray(view.up_bits)[members][:, None]
        prompt = np.asarray(view.prompt_tokens)[members][:, None].astype(float)
        b = ep.budget[members][:, None]
        d = up * cm.time_per_up_bit + prompt * cm.time_per_prompt_token + cm.time_const_s
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (np.log(np.maximum(b, 0.0) / d) - mu_lo[s, arms]) / sigma[s, arms]
        static_ok = fits(ep.compute_used[srv], t.phi, 1.0) & fits(
            0.0, t.rate_mbps, ep.path_res[t.path_id]
        )
        kv_g = ep.kv_bytes[members][:, None]
        ok = (
            (z >= self.z_min)
            & static_ok
            & fits(ep.kv_used[srv], kv_g, info.server_kv_budget_bytes[srv])
        )
        res, x = self._template_resources(key, ep.bw)
        x_kv = kv_g / info.server_kv_budget_bytes[srv]
        weight = x.sum(axis=1)[None, :] + x_kv
        has = ok.any(axis=1)
        light = np.argmin(np.where(ok, weight, np.inf), axis=1)[has]
        np.add.at(demand, res[light], x[light])
        np.add.at(demand, n_s + srv[light], x_kv[has, light])
        energy = up * cm.energy_per_up_bit + prompt * cm.energy_per_prompt_token + cm.energy_const_j
        p = normal_cdf(np.where(np.isfinite(z), z, -10.0))
        cost = np.exp(mu_lo[s, arms]) * energy / self.energy_scale[s] + self.theta * (
            1.0 - p * (1.0 - v_lo[s, arms])
        )
        return {
            "members": members,
            "t": t,
            "ok": ok,
            "p": p * (1.0 - v_lo[s, arms]),
            "energy_j": np.exp(mu_lo[s, arms]) * energy,
            "cost": cost,
            "d": d,
            "res": res,
            "x": x,
            "x_kv": x_kv,
            "res_l": res.tolist(),
            "x_l": x.tolist(),
            "srv_l": srv.tolist(),
            "wake": cm.wake_j / self.energy_scale[s],
        }

    def _price(
        self, groups: list, demand: np.ndarray, capacity_left: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Congestion prices (demand over what is left, negligible while a resource
        suffices) into each group's ``total``; each request's cheapest feasible footprint
        and its number of feasible arms."""
        n_s = self.info.n_servers
        with np.errstate(divide="ignore", invalid="ignore"):
            pressure = demand / np.maximum(capacity_left, 1e-12)
        price = np.where(pressure > 1.0, pressure, pressure**self.price_steepness)
        price[-1] = 0.0
        footprint = np.full(n, math.inf)
        n_feasible = np.zeros(n)
        for g in groups:
            if g is None:
                continue
            srv = g["t"].server
            fp = (g["x"] * price[g["res"]]).sum(axis=1)[None, :] + g["x_kv"] * price[n_s + srv]
            g["total"] = g["cost"] + self.price_weight * fp
            footprint[g["members"]] = np.where(g["ok"], fp, np.inf).min(axis=1)
            n_feasible[g["members"]] = g["ok"].sum(axis=1)
        return footprint, n_feasible

    def _greedy_plan(
        self, ep: _Epoch, groups: list, footprint: np.ndarray, n_feasible: np.ndarray
    ) -> list[int]:
        """Pass 2 of the greedy plan: cheapest footprints first (most requests served),
        each at least cost among the arms that still fit."""
        n = len(footprint)
        plan = [DECLINE] * n
        used = [0.0] * len(ep.capacity_left)
        cap = (ep.capacity_left * (1.0 + 1e-9) + 1e-9).tolist()
        busy = ep.compute_used > 0.0
        where = self._where.tolist()
        for k in np.lexsort((ep.budget, n_feasible, footprint)).tolist():
            if not n_feasible[k]:
                break  # the rest have no feasible arm (sorted last)
            gi, r = where[k]
            g = groups[gi]
            total = g["total"][r] + g["wake"] * ~busy[g["t"].server]
            res_l, x_l, kv_frac = g["res_l"], g["x_l"], g["x_kv"][r]
            ranked = np.argsort(np.where(g["ok"][r], total, np.inf))
            for c in ranked[: int(n_feasible[k])].tolist():
                rs, xs = res_l[c], x_l[c]
                kv_c = float(kv_frac[c])
                if used[rs[1]] + kv_c > cap[rs[1]]:
                    continue
                if all(used[a] + b <= cap[a] for a, b in zip(rs, xs, strict=True)):
                    for a, b in zip(rs, xs, strict=True):
                        used[a] += b
                    used[rs[1]] += kv_c
                    busy[g["srv_l"][c]] = True
                    plan[k] = c
                    break
        return plan

    def _plan_free(self, view: RoundView, k: int, t) -> np.ndarray:
        """:func:`free_mask` with every path link's planning bandwidth minus what is in use."""
        left = self.plan_bandwidth_mbps - np.asarray(view.rate_used_mbps)
        residual = np.min(left[self.info.path_link_matrix], axis=1)
        return free_mask(self.info, view, k, t, residual)

    def _milp_candidates(
        self, n: int, reduce: bool = False
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per request: its feasible arms, their optimistic P(on time) x (1 - refusal rate)
        and optimistic weighted energy (J), for the epoch plan; with ``reduce``, only the
        arms no other feasible arm dominates (:func:`undominated`, for all the requests of
        a template at once)."""
        empty = (np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
        keep = [None if g is None else g["ok"] for g in self._groups]
        if reduce:
            keep = [None if g is None else _undominated_rows(g) for g in self._groups]
        out = []
        for k in range(n):
            gi, r = self._where[k]
            g = self._groups[gi]
            if g is None:
                out.append(empty)
                continue
            cand = np.flatnonzero(keep[gi][r])
            out.append((cand, g["p"][r, cand], g["energy_j"][r, cand]))
        return out

    def select(self, view: RoundView, k: int) -> int:
        c = self.plan[k]
        if self.replan:
            gi, r = self._where[k]
            g = self._groups[gi]
            if g is None:
                return DECLINE
            free = self._plan_free(view, k, g["t"]) & g["ok"][r]
            if c == DECLINE or not free[c]:
                # After a refusal: re-choose against the live reservations.
                srv = g["t"].server
                total = g["total"][r] + g["wake"] * (view.compute_used[srv] == 0.0)
                c = int(np.argmin(np.where(free, total, np.inf))) if free.any() else DECLINE
        if c != DECLINE:
            gi, r = self._where[k]
            self.pending[int(view.request_id[k])] = float(self._groups[gi]["d"][r, c])
        return c

    # -- learning ------------------------------------------------------------------------
    def update(self, feedback: Feedback) -> None:
        d_est = np.asarray([self.pending.pop(int(i), math.nan) for i in feedback.request_id])
        if not self.learn:
            return  # cs_ucb_static: decisions never depend on outcomes
        svc, arm = feedback.service, feedback.server_slice
        np.add.at(self.attempts, (svc, arm), 1.0)
        np.add.at(self.refusals, (svc, arm), feedback.refused.astype(float))
        if feedback.refused.any():
            self.replan = True
        timed = ~feedback.refused & np.isfinite(d_est)
        if timed.any():
            log_ratio = np.log(
                np.maximum(feedback.service_s[timed], 1e-9) / np.maximum(d_est[timed], 1e-9)
            )
            s_t, a_t = svc[timed], arm[timed]
            first, second = log_ratio, log_ratio**2
            cens = np.asarray(feedback.censored)[timed]
            if cens.any():
                mean, sd = self.estimates()
                first, second = first.copy(), second.copy()
                first[cens], second[cens] = censored_moments(
                    log_ratio[cens], mean[s_t[cens], a_t[cens]], sd[s_t[cens], a_t[cens]]
                )
            idx = (s_t, a_t)
            np.add.at(self.time_n, idx, 1.0)
            np.add.at(self.log_sum, idx, first)
            np.add.at(self.log_sq_sum, idx, second)


@dataclass(frozen=True, eq=False)
class _Epoch:
    """What one epoch's plan reads: the view, the planning bandwidth, each request's time
    budget and KV bytes, what is in use, what is left of every resource (compute, KV
    memory, links), each path's residual bandwidth, and the learnt indices."""

    view: RoundView
    bw: np.ndarray
    budget: np.ndarray
    kv_bytes: np.ndarray
    compute_used: np.ndarray
    kv_used: np.ndarray
    capacity_left: np.ndarray
    path_res: np.ndarray
    indices: tuple[np.ndarray, np.ndarray, np.ndarray]


def _epoch(
    info: SystemInfo,
    view: RoundView,
    bw: np.ndarray,
    indices: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> _Epoch:
    """The :class:`_Epoch` of ``view`` at planning bandwidth ``bw``."""
    budget = np.minimum(view.deadline_s - view.wait_s, info.time_cap_s)
    kv_bytes = np.asarray(view.kv_bytes, dtype=float)
    compute_used = np.asarray(view.compute_used, dtype=float)
    kv_used = np.asarray(view.kv_used_bytes, dtype=float)
    finite_bw = np.isfinite(bw)
    rate_frac = np.zeros_like(bw)
    rate_frac[finite_bw] = np.asarray(view.rate_used_mbps)[finite_bw] / np.maximum(
        bw[finite_bw], 1e-12
    )
    capacity_left = np.concatenate(
        [1.0 - compute_used, 1.0 - kv_used / info.server_kv_budget_bytes, 1.0 - rate_frac]
    )
    path_res = np.min((bw - view.rate_used_mbps)[info.path_link_matrix], axis=1)
    return _Epoch(
        view, bw, budget, kv_bytes, compute_used, kv_used, capacity_left, path_res, indices
    )


def _undominated_rows(g: dict) -> np.ndarray:
    """Per request of a template group, (members, K), the feasible arms no other feasible arm
    dominates: :func:`perllm_opt.schedulers.epoch_plan.undominated` on each request's
    feasible arms, for all of them at once (same server and path, no more share or rate,
    at least as likely, no dearer, better in one of these or earlier)."""
    t, ok, p, cost = g["t"], g["ok"], g["p"], g["energy_j"]
    k = len(t)
    same = (t.server[:, None] == t.server[None, :]) & (t.path_id[:, None] == t.path_id[None, :])
    le = same & (t.phi[:, None] <= t.phi[None, :]) & (t.rate_mbps[:, None] <= t.rate_mbps[None, :])
    lt = (t.phi[:, None] < t.phi[None, :]) | (t.rate_mbps[:, None] < t.rate_mbps[None, :])
    lt = lt | (np.arange(k)[:, None] < np.arange(k)[None, :])
    pa, pb = p[:, :, None], p[:, None, :]
    ca, cb = cost[:, :, None], cost[:, None, :]
    dom = le[None] & (pa >= pb) & (ca <= cb) & (lt[None] | (pa > pb) | (ca < cb)) & ok[:, :, None]
    return ok & ~dom.any(axis=1)
