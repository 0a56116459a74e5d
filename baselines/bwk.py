"""``bwk``: a primal-dual bandits-with-knapsacks scheduler.

Badanidiyuru, Kleinberg & Slivkins, "Bandits with knapsacks", FOCS 2013 (PrimalDualBwK:
multiplicative-weights prices on the resources, optimistic rewards, pessimistic-for-the-
learner i.e. lower-bound costs); Agrawal & Devanur, "Bandits with concave rewards and convex
knapsacks", EC 2014 (UCB on reward, LCB on consumption).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from baselines._bandit import ArmBandit
from perllm_opt.errors import require
from perllm_opt.schedulers.base import DECLINE
from perllm_opt.simulation.view import Feedback, RoundView


@dataclass
class BwK(ArmBandit):
    """Primal-dual BwK over (service, server, share, rate) arms.

    What it knows: what the informed bandits know (:class:`~baselines._bandit.ArmBandit`:
    profile times, which resources look free, the admission rule) plus each resource's
    capacity and the share, KV bytes and link rate an arm reserves (all public). What it
    learns, per arm: the mean reward (as the other bandits) and the mean of
    ``log(service_s / profile_time_s)``, which sets how long an arm holds its resources.

    Resources are each server's compute share and KV memory and each link's bandwidth. An
    arm's consumption of a resource is the fraction of its capacity it reserves, times how
    long it holds it in decision epochs (rounds mode: the round, so the fraction itself;
    continuous mode: the lower confidence bound of its duration over the epoch length).
    Its score is ``UCB(reward) - sum_r price_r * LCB(consumption_r)``; the best eligible arm
    with a positive score is chosen, else the request is declined. Prices are updated at
    each decision epoch by multiplicative weights on the utilisation ``u_r`` of the last
    epoch: ``price_r *= exp(price_rate * (u_r - target_utilization))``, clipped to
    ``[price_min, price_max]``, so they rise with use and fall when idle.
    """

    name: str = "bwk"
    # Tuned defaults (conf/scheduler/bwk.yaml, paper/tuning/bwk_trials.csv).
    exploration: float = 0.0135
    price_rate: float = 0.216
    target_utilization: float = 0.652
    price_init: float = 0.485
    energy_weight: float = 0.607
    deadline_slack: float = 1.21
    price_min: float = 1e-4
    price_max: float = 10.0
    prior_sigma: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        checks = (
            ("exploration", self.exploration, 0.0, math.inf),
            ("price_rate", self.price_rate, 0.0, math.inf),
            ("target_utilization", self.target_utilization, 0.0, 1.0),
            ("price_min", self.price_min, 0.0, math.inf),
            ("prior_sigma", self.prior_sigma, 1e-6, math.inf),
        )
        for key, value, lo, hi in checks:
            require(
                lo <= value <= hi and math.isfinite(value),
                f"scheduler.{self.name}.{key}",
                value,
                f"a finite number in [{lo:g}, {hi:g}]",
            )
        require(
            self.price_min <= self.price_init <= self.price_max < math.inf,
            f"scheduler.{self.name}.price_init",
            self.price_init,
            f"a number in [price_min, price_max] = [{self.price_min:g}, {self.price_max:g}]",
        )

    def setup(self) -> None:
        super().setup()
        info = self.info
        self.log_ratio_sum = np.zeros_like(self.count)
        self.time_count = np.zeros_like(self.count)
        self.price_compute = np.full(info.n_servers, self.price_init)
        self.price_kv = np.full(info.n_servers, self.price_init)
        self.price_link = np.full(info.n_links + 1, self.price_init)
        self.price_link[-1] = 0.0  # the sentinel link has no capacity to price
        self.utilisation: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.pending: dict[int, float] = {}

    def view_utilisation(self, view: RoundView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fraction of each server's compute and KV memory and each link's (estimated)
        bandwidth in use in ``view``."""
        kv = view.kv_used_bytes / np.maximum(self.info.server_kv_budget_bytes, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            link = np.where(
                np.isfinite(view.bandwidth_estimate_mbps),
                view.rate_used_mbps / np.maximum(view.bandwidth_estimate_mbps, 1e-9),
                0.0,
            )
        return np.asarray(view.compute_used, dtype=float).copy(), kv, link

    def update_prices(self, utilisation: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """One multiplicative-weights step on the given (compute, KV, link) utilisation."""
        for price, u in zip(
            (self.price_compute, self.price_kv, self.price_link), utilisation, strict=True
        ):
            price *= np.exp(self.price_rate * (np.minimum(u, 1.0) - self.target_utilization))
            np.clip(price, self.price_min, self.price_max, out=price)
        self.price_link[-1] = 0.0

    def begin_round(self, view: RoundView) -> None:
        # Rounds mode starts every round empty: the last round's utilisation (seen at its
        # last decision) is what the prices learn from; continuous mode sees its live load.
        now = self.view_utilisation(view)
        if self.utilisation is not None:
            now = tuple(np.maximum(a, b) for a, b in zip(now, self.utilisation, strict=True))
        self.update_prices(now)
        self.utilisation = None

    def select(self, view: RoundView, k: int) -> int:
        t = self.info.templates[int(view.template[k])]
        if len(t) == 0:
            return DECLINE
        self.utilisation = self.view_utilisation(view)
        prof = self.profile_time_s(view, k)
        mask = self.eligible(view, k, prof)
        if not mask.any():
            return DECLINE
        service = int(view.service[k])
        arms = t.server_slice
        n = self.count[service, arms]
        total = max(self.count[service].sum(), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(n > 0, self.reward_sum[service, arms] / n, 1.0)
            bonus = self.exploration * np.sqrt(2.0 * np.log(total + 1.0) / np.maximum(n, 1.0))
        score = mean + bonus - self.consumption_lcb(view, k, service, prof).sum(axis=1)
        c = int(np.argmax(np.where(mask, score, -math.inf)))
        if score[c] <= 0:
            return DECLINE
        self.pending[int(view.request_id[k])] = math.log(max(float(prof[c]), 1e-9))
        return c

    def consumption_lcb(
        self, view: RoundView, k: int, service: int, prof: np.ndarray
    ) -> np.ndarray:
        """Priced consumption of each of request ``k``'s candidates (profile dispatch times
        ``prof``), columns (compute, KV, link): ``price * capacity fraction * epochs held``
        with the duration's lower confidence bound."""
        info = self.info
        t = info.templates[int(view.template[k])]
        if math.isfinite(info.time_cap_s):
            epochs = np.ones(len(t))  # rounds mode: held for the round
        else:
            arms = t.server_slice
            m = self.time_count[service, arms]
            log_ratio = np.where(m > 0, self.log_ratio_sum[service, arms] / np.maximum(m, 1), 0.0)
            width = self.exploration * self.prior_sigma / np.sqrt(m + 1.0)
            epochs = prof * np.exp(log_ratio - width) / info.round_s
        srv = t.server
        compute = self.price_compute[srv] * t.phi
        kv = self.price_kv[srv] * float(view.kv_bytes[k]) / info.server_kv_budget_bytes[srv]
        links = info.path_link_matrix[t.path_id]
        nominal = info.nominal_bandwidth_mbps[links]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(np.isfinite(nominal), t.rate_mbps[:, None] / nominal, 0.0)
        link = (self.price_link[links] * frac).sum(axis=1)
        return np.column_stack([compute, kv, link]) * epochs[:, None]

    def update(self, feedback: Feedback) -> None:
        super().update(feedback)
        for rid, service, arm, refused, service_s in zip(
            feedback.request_id,
            feedback.service,
            feedback.server_slice,
            feedback.refused,
            feedback.service_s,
            strict=True,
        ):
            log_prof = self.pending.pop(int(rid), None)
            if log_prof is None or refused or not np.isfinite(service_s) or service_s <= 0:
                continue
            self.log_ratio_sum[service, arm] += math.log(float(service_s)) - log_prof
            self.time_count[service, arm] += 1.0
