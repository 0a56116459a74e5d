"""CS-UCB: the constraint-satisfaction upper-confidence-bound scheduler of PerLLM.

Yang et al., "PerLLM: Personalized Inference Scheduling with Edge-Cloud Collaboration for
Diverse LLM Services", arXiv:2405.14636 (2024), describe CS-UCB as a combinatorial
multi-armed bandit with a constraint-satisfaction mechanism, a penalty weight ``theta`` on
constraint violation and a regret bound ``Reg(T) <= sqrt(2 M N log L) + theta P(t)``. Only
the abstract is public, so the details below are ours (docs/model.md, "CS-UCB as built"); we
do not claim the paper's bound for them.

**Arms** are (service type, server, share level, rate level). For each arm the scheduler
learns the distribution of ``log rho``, where ``rho`` is the realised dispatch-to-completion
time over the profile's estimate ``d`` (it absorbs the unknown device speed, background load
and output length), and the rate ``v`` at which the environment refuses the arm. Priors:
``log rho ~ (0, prior_sigma^2)`` (trust the profile) and ``v = 0``, each worth
``prior_weight`` observations.

**Index** (once per round: feedback only arrives at round ends): optimistic
``mu_lo = mean(log rho) - r`` and ``v_lo = max(0, mean(v) - r)`` with the UCB radius
``r = sqrt(exploration * ln N / n)`` (Auer et al., Machine Learning 47, 2002).

**Constraint satisfaction**: for request ``i`` with time budget ``b = min(dD - wait, tau)``,
the optimistic probability of meeting it on arm ``a`` is
``p = Phi((ln(b / d) - mu_lo) / sigma)``. An arm is *feasible* when ``p >= confidence``
and its resources are free: compute share and memory exactly, link rate against a
conservative bandwidth (last observed minus ``bandwidth_margin`` times the typical
round-to-round change).

**Combinatorial choice** (the super-arm of a round, as in CUCB, Chen et al., ICML 2013,
with a greedy oracle): the round's requests are taken most-constrained first (fewest feasible
arms, then least time budget), each given the feasible arm of least cost

    exp(mu_lo) * e / e_scale + theta * (1 - p (1 - v_lo)) + price_weight * sum_r x_r psi(u_r + x_r)

that still fits what the plan has reserved. Here ``e`` is the profile's weighted marginal
energy (plus waking a sleeping server), ``x_r`` the fraction of resource ``r`` (the server's
compute, each path link's conservative bandwidth) the arm takes, ``u_r`` the fraction already
planned, and ``psi(u) = (exp(beta u) - 1) / (exp(beta) - 1)`` an exponential price that is
negligible while a resource is idle and dominates as it fills (online primal-dual packing,
Buchbinder & Naor, Found. Trends Theor. Comput. Sci. 3, 2009). Most-constrained-first leaves
the flexible requests (those an edge can serve) for last, so shared WAN capacity goes first to
requests only the cloud can serve; the price keeps each request to the least resources that
likely meet its deadline. Cost: O(arms) per request.
The plan is then played in arrival order; after a refusal, each further request is checked
against the live reservations and re-chosen if its planned arm no longer fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from perllm_opt.errors import require, require_non_negative, require_positive
from perllm_opt.schedulers.base import DECLINE, Scheduler
from perllm_opt.schedulers.estimates import candidate_models, typical_energy_j
from perllm_opt.view import Feedback, RoundView, fits, free_mask

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF, tanh approximation (absolute error below 2e-4)."""
    return 0.5 * (1.0 + np.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z**3)))


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
        Conservative bandwidth = last observed - margin x RMS round-to-round change.
    price_weight : float
        Weight of the resource price in the cost.
    price_steepness : float
        beta of the exponential price ``psi``.
    """

    name: str = "cs_ucb"
    exploration: float = 0.5
    theta: float = 1.0
    confidence: float = 0.5
    prior_sigma: float = 0.5
    prior_weight: float = 1.0
    bandwidth_margin: float = 1.0
    price_weight: float = 1.0
    price_steepness: float = 5.0

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
        require_positive(self.price_steepness, "scheduler.cs_ucb.price_steepness")

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
        self.bw_sq_change = np.zeros(self.info.n_links + 1)
        self.bw_changes = 0
        self.plan: list[int] = []
        self.replan = False

    def indices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Optimistic mean and spread of ``log rho`` and refusal rate, (services, slices)."""
        n0 = self.prior_weight
        n_t = self.time_n + n0
        n_a = self.attempts + n0
        log_n = np.log(self.attempts.sum(axis=1, keepdims=True) + 1.0)
        mean = self.log_sum / n_t
        # Second moment pooled with the prior's pseudo-observations (mean 0, sd prior_sigma).
        var = (n0 * self.prior_sigma**2 + self.log_sq_sum) / n_t - mean**2
        mu_lo = mean - np.sqrt(self.exploration * log_n / n_t)
        v_lo = np.maximum(0.0, self.refusals / n_a - np.sqrt(self.exploration * log_n / n_a))
        return mu_lo, np.sqrt(np.maximum(var, 1e-6)), v_lo

    def price(self, used_fraction: np.ndarray, take_fraction: np.ndarray) -> np.ndarray:
        """Resource price ``x * psi(u + x)`` of taking fraction ``x`` at utilisation ``u``."""
        b = self.price_steepness
        u = np.minimum(used_fraction + take_fraction, 1.0)
        return take_fraction * np.expm1(b * u) / math.expm1(b)

    def resource_cost(
        self, t, idx: np.ndarray, compute: np.ndarray, rate: np.ndarray, capacity: np.ndarray
    ) -> np.ndarray:
        """Price of candidates ``idx`` of template ``t``: compute share plus every path link."""
        srv = t.server[idx]
        cost = self.price(compute[srv], t.phi[idx])
        links = self.info.path_link_matrix[t.path_id[idx]]
        cap = capacity[links]
        with np.errstate(divide="ignore", invalid="ignore"):
            take = np.where(np.isfinite(cap), t.rate_mbps[idx][:, None] / cap, 0.0)
            used = np.where(np.isfinite(cap), rate[links] / cap, 0.0)
        cost += self.price(used, np.nan_to_num(take, nan=0.0, posinf=1.0)).sum(axis=1)
        return self.price_weight * cost

    # -- the round's plan ----------------------------------------------------------------
    def _conservative_bandwidth(self, view: RoundView) -> np.ndarray:
        bw = np.asarray(view.bandwidth_estimate_mbps, dtype=float)
        if self.last_bw is not None and not np.array_equal(bw, self.last_bw):
            finite = np.isfinite(bw)
            change = np.zeros_like(bw)
            change[finite] = bw[finite] - self.last_bw[finite]
            self.bw_sq_change += change**2
            self.bw_changes += 1
        self.last_bw = bw.copy()
        if self.bw_changes == 0:
            return bw
        rms = np.sqrt(self.bw_sq_change / self.bw_changes)
        return np.maximum(bw - self.bandwidth_margin * rms, 0.0)

    def _fractions(
        self, t, idx: np.ndarray, kv_bytes: float, capacity: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Resource ids and the fraction of each that candidates ``idx`` take.

        Resources are numbered: compute of server j is j, KV memory of j is n_servers + j,
        link e is 2 n_servers + e (the sentinel link takes nothing).
        """
        info = self.info
        n_s = info.n_servers
        srv = t.server[idx]
        links = info.path_link_matrix[t.path_id[idx]]
        cap = capacity[links]
        finite = np.isfinite(cap)
        with np.errstate(divide="ignore", invalid="ignore"):
            link_x = np.where(finite, t.rate_mbps[idx][:, None] / np.where(finite, cap, 1.0), 0.0)
        res = np.column_stack([srv, n_s + srv, 2 * n_s + links])
        x = np.column_stack([t.phi[idx], kv_bytes / info.server_kv_budget_bytes[srv], link_x])
        return res, x

    def begin_round(self, view: RoundView) -> None:
        info = self.info
        n_s = info.n_servers
        mu_lo, sigma, v_lo = self.indices()
        bw = self._conservative_bandwidth(view)
        n = len(view)
        budget = np.minimum(view.deadline_s - view.wait_s, info.round_s)
        path_res = np.min((bw - view.rate_used_mbps)[info.path_link_matrix], axis=1)
        n_res = 2 * n_s + info.n_links + 1
        finite_bw = np.isfinite(bw)
        capacity_left = np.concatenate(
            [
                1.0 - np.asarray(view.compute_used),
                1.0 - np.asarray(view.kv_used_bytes) / info.server_kv_budget_bytes,
                1.0
                - np.where(
                    finite_bw,
                    np.asarray(view.rate_used_mbps)
                    / np.where(finite_bw, np.maximum(bw, 1e-12), 1.0),
                    0.0,
                ),
            ]
        )
        # Pass 1: candidates, and the demand each resource would see if every request took
        # its lightest feasible arm.
        cands = []
        demand = np.zeros(n_res)
        n_feasible = np.zeros(n)
        for k in range(n):
            key = int(view.template[k])
            t = info.templates[key]
            if len(t) == 0 or budget[k] <= 0:
                cands.append(None)
                continue
            cm = self.models[key]
            up, prompt = float(view.up_bits[k]), float(view.prompt_tokens[k])
            arms = t.server_slice
            s = t.service
            d = cm.dispatch_time_s(up, prompt)
            z = (np.log(budget[k] / d) - mu_lo[s, arms]) / sigma[s, arms]
            ok = (z >= self.z_min) & fits(view.compute_used[t.server], t.phi, 1.0)
            ok &= fits(0.0, t.rate_mbps, path_res[t.path_id])
            ok &= fits(
                view.kv_used_bytes[t.server],
                view.kv_bytes[k],
                info.server_kv_budget_bytes[t.server],
            )
            idx = np.flatnonzero(ok)
            if len(idx) == 0:
                cands.append(None)
                continue
            res, x = self._fractions(t, idx, float(view.kv_bytes[k]), bw)
            lightest = int(np.argmin(x.sum(axis=1)))
            np.add.at(demand, res[lightest], x[lightest])
            p = normal_cdf(z[idx])
            energy = cm.energy_j(up, prompt)[idx]
            cost = np.exp(mu_lo[s, arms[idx]]) * energy / self.energy_scale[s] + self.theta * (
                1.0 - p * (1.0 - v_lo[s, arms[idx]])
            )
            cands.append((t, idx, res, x, cost, cm.wake_j[idx] / self.energy_scale[s]))
            n_feasible[k] = len(idx)
        # Congestion prices: demand relative to what is left, zero while a resource suffices.
        with np.errstate(divide="ignore", invalid="ignore"):
            pressure = demand / np.maximum(capacity_left, 1e-12)
        price = np.where(pressure > 1.0, pressure, pressure**self.price_steepness)
        price[-1] = 0.0
        # Pass 2: cheapest footprints first (most requests served), each at least cost.
        footprint = np.full(n, math.inf)
        for k, c in enumerate(cands):
            if c is not None:
                footprint[k] = float(np.min((c[3] * price[c[2]]).sum(axis=1)))
        order = np.lexsort((budget, n_feasible, footprint))
        used = np.zeros(n_res)
        plan = [DECLINE] * n
        for k in order:
            c = cands[k]
            if c is None:
                continue
            t, idx, res, x, cost, wake = c
            fit = np.all(used[res] + x <= capacity_left[res] * (1 + 1e-9) + 1e-9, axis=1)
            if not fit.any():
                continue
            srv = t.server[idx]
            total = (
                cost
                + wake * ((view.compute_used[srv] + used[srv]) == 0.0)
                + self.price_weight * (x * price[res]).sum(axis=1)
            )
            best = int(np.argmin(np.where(fit, total, math.inf)))
            plan[k] = int(idx[best])
            np.add.at(used, res[best], x[best])
        self.plan = plan
        self.replan = False

    def select(self, view: RoundView, k: int) -> int:
        c = self.plan[k]
        key = int(view.template[k])
        t = self.info.templates[key]
        if c != DECLINE and self.replan and not free_mask(self.info, view, k, t)[c]:
            c = DECLINE
        if c == DECLINE and self.replan:
            c = self._fallback(view, k)
        if c != DECLINE:
            cm = self.models[key]
            self.pending[int(view.request_id[k])] = float(
                cm.dispatch_time_s(float(view.up_bits[k]), float(view.prompt_tokens[k]))[c]
            )
        else:
            self.pending.pop(int(view.request_id[k]), None)
        return c

    def _fallback(self, view: RoundView, k: int) -> int:
        """Re-choose one request against the live reservations (after a refusal)."""
        key = int(view.template[k])
        t = self.info.templates[key]
        if len(t) == 0:
            return DECLINE
        mu_lo, sigma, v_lo = self.indices()
        cm = self.models[key]
        up, prompt = float(view.up_bits[k]), float(view.prompt_tokens[k])
        arms, s = t.server_slice, t.service
        d = cm.dispatch_time_s(up, prompt)
        budget = min(float(view.deadline_s[k] - view.wait_s[k]), self.info.round_s)
        if budget <= 0:
            return DECLINE
        z = (np.log(budget / d) - mu_lo[s, arms]) / sigma[s, arms]
        ok = (z >= self.z_min) & free_mask(self.info, view, k, t)
        if not ok.any():
            return DECLINE
        energy = cm.energy_j(up, prompt) + cm.wake_j * (view.compute_used[t.server] == 0.0)
        cost = (
            np.exp(mu_lo[s, arms]) * energy / self.energy_scale[s]
            + self.theta * (1.0 - normal_cdf(z) * (1.0 - v_lo[s, arms]))
            + self.resource_cost(
                t,
                np.arange(len(t)),
                np.asarray(view.compute_used),
                np.asarray(view.rate_used_mbps),
                np.asarray(view.bandwidth_estimate_mbps),
            )
        )
        return int(np.argmin(np.where(ok, cost, math.inf)))

    # -- learning ------------------------------------------------------------------------
    def update(self, feedback: Feedback) -> None:
        svc, arm = feedback.service, feedback.server_slice
        np.add.at(self.attempts, (svc, arm), 1.0)
        np.add.at(self.refusals, (svc, arm), feedback.refused.astype(float))
        d_est = np.asarray([self.pending.pop(int(i), math.nan) for i in feedback.request_id])
        if feedback.refused.any():
            self.replan = True
        timed = ~feedback.refused & np.isfinite(d_est)
        if timed.any():
            log_ratio = np.log(
                np.maximum(feedback.service_s[timed], 1e-9) / np.maximum(d_est[timed], 1e-9)
            )
            idx = (svc[timed], arm[timed])
            np.add.at(self.time_n, idx, 1.0)
            np.add.at(self.log_sum, idx, log_ratio)
            np.add.at(self.log_sq_sum, idx, log_ratio**2)
