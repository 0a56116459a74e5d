"""``linucb``: contextual LinUCB over (request, arm) features, learning log service time.

Li, Chu, Langford & Schapire, "A contextual-bandit approach to personalized news article
recommendation", WWW 2010 (disjoint-to-shared LinUCB with ridge regression); its
combinatorial use for cloud-edge LLM request scheduling follows OCE-CRS (IEEE TSC 2025),
which picks greedily among the round's requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from baselines._greedy import time_budget_s
from perllm_opt.errors import require
from perllm_opt.schedulers.base import DECLINE, Scheduler
from perllm_opt.schedulers.cs_ucb import normal_cdf
from perllm_opt.schedulers.estimates import candidate_models, typical_energy_j
from perllm_opt.simulation.view import Feedback, RoundView, free_mask


@dataclass
class Ridge:
    """Ridge regression ``y ~ x . theta`` with prior precision ``lam`` (LinUCB's ``A`` and
    ``b``): ``theta = A^-1 b``, ``A = lam I + sum x x^T``, ``b = sum x y``.

    The confidence width of a prediction at ``x`` is ``sqrt(x^T A^-1 x)`` (in units of the
    noise standard deviation); :attr:`rss` is the fit's residual sum of squares.
    """

    dim: int
    lam: float = 1.0

    def __post_init__(self) -> None:
        self.a = self.lam * np.eye(self.dim)
        self.b = np.zeros(self.dim)
        self.a_inv = np.eye(self.dim) / self.lam
        self.theta = np.zeros(self.dim)
        self.n = 0
        self.yy = 0.0

    def update(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add observations ``x`` (shape (n, dim)) with targets ``y`` (shape (n,))."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        y = np.asarray(y, dtype=float).reshape(-1)
        if len(y) == 0:
            return
        self.yy += float(y @ y)
        self.a += x.T @ x
        self.b += x.T @ y
        self.a_inv = np.linalg.inv(self.a)
        self.theta = self.a_inv @ self.b
        self.n += len(y)

    @property
    def rss(self) -> float:
        """``sum (y - x theta)^2`` of the current fit (``y^T y - b^T theta - lam |theta|^2``)."""
        return max(
            self.yy - float(self.b @ self.theta) - self.lam * float(self.theta @ self.theta), 0.0
        )

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean prediction and confidence width at each row of ``x``."""
        x = np.atleast_2d(x)
        width = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, self.a_inv, x), 0.0))
        return x @ self.theta, width


@dataclass
class LinUCB(Scheduler):
    """Contextual LinUCB over the round's requests.

    What it knows: the public profile (each candidate's expected dispatch time and energy),
    the request's prompt tokens, service type, wait and time left, and which candidates'
    resources look free. What it learns: a shared ridge model of
    ``log(service_s / profile_time_s)`` (the profile's error, zero a priori) on features of
    the request and the arm: one-hot server, one-hot service type, share, log rate, log
    prompt tokens, log profile time, the wait and the time left (both over the time left
    plus the profile time), and a constant. Service times of completed requests are the
    observations (refusals carry none; cut-off times in rounds mode are used as observed,
    a lower bound, as in the published algorithm which has no censoring).

    Decision: each free candidate's optimistic time ``profile * exp(mu - alpha sigma w)``
    (``w`` the ridge confidence width, ``sigma`` the residual noise estimated online from
    a prior of ``prior_sigma``) gives an optimistic on-time probability
    ``Phi((log b - log time) / sigma)`` for time left ``b``; the score is that probability
    times ``1 - energy_weight min(1, E / E_scale)`` (the bandits' reward). It picks the best
    score among candidates whose optimistic time fits, and declines when none does; the
    simulator's order over the round's requests makes this the greedy combinatorial
    oracle.
    """

    name: str = "linucb"
    # Tuned defaults (conf/scheduler/linucb.yaml, paper/tuning/linucb_trials.csv).
    alpha: float = 1.07
    ridge_lambda: float = 13.1
    prior_sigma: float = 0.801
    energy_weight: float = 0.354

    def __post_init__(self) -> None:
        for key, value, lo in (
            ("alpha", self.alpha, 0.0),
            ("ridge_lambda", self.ridge_lambda, 1e-12),
            ("prior_sigma", self.prior_sigma, 1e-6),
        ):
            require(
                lo <= value < math.inf,
                f"scheduler.{self.name}.{key}",
                value,
                f"a finite number >= {lo:g}",
            )
        require(
            0 <= self.energy_weight <= 1,
            f"scheduler.{self.name}.energy_weight",
            self.energy_weight,
            "a number in [0, 1]",
        )

    # features: servers, services, then 8 continuous columns
    def setup(self) -> None:
        info = self.info
        self.models = candidate_models(info)
        self.energy_scale = typical_energy_j(info, self.models)
        self.dim = info.n_servers + info.n_services + 8
        self.ridge = Ridge(self.dim, self.ridge_lambda)
        self.pending: dict[int, tuple[np.ndarray, float]] = {}

    def features(self, view: RoundView, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Feature rows of request ``k``'s candidates (shape (K, dim)) and their profile
        dispatch times."""
        info = self.info
        key = int(view.template[k])
        t = info.templates[key]
        up, prompt = float(view.up_bits[k]), float(view.prompt_tokens[k])
        prof = np.maximum(self.models[key].dispatch_time_s(up, prompt), 1e-9)
        left = max(float(view.deadline_s[k] - view.wait_s[k]), 0.0)
        n = len(t)
        x = np.zeros((n, self.dim))
        x[np.arange(n), t.server] = 1.0
        x[:, info.n_servers + int(t.service)] = 1.0
        c = info.n_servers + info.n_services
        scale = left + prof
        x[:, c] = t.phi
        x[:, c + 1] = np.log1p(t.rate_mbps) / 10.0
        x[:, c + 2] = math.log1p(prompt) / 10.0
        x[:, c + 3] = np.log(prof) / 10.0
        x[:, c + 4] = float(view.wait_s[k]) / (float(view.wait_s[k]) + scale)
        x[:, c + 5] = left / scale
        x[:, c + 6] = 1.0
        x[:, c + 7] = t.phi * np.log(prof) / 10.0
        return x, prof

    @property
    def sigma(self) -> float:
        """Residual noise sd: the prior's (weight 10 observations) and the residuals'."""
        n0 = 10.0
        return math.sqrt((n0 * self.prior_sigma**2 + self.ridge.rss) / (n0 + self.ridge.n))

    def select(self, view: RoundView, k: int) -> int:
        key = int(view.template[k])
        t = self.info.templates[key]
        if len(t) == 0:
            return DECLINE
        budget = time_budget_s(self.info, view, k)
        free = free_mask(self.info, view, k, t)
        if budget <= 0 or not free.any():
            return DECLINE
        x, prof = self.features(view, k)
        mu, width = self.ridge.predict(x)
        sigma = self.sigma
        log_time = np.log(prof) + mu - self.alpha * sigma * width
        ok = free & (log_time <= math.log(budget))
        if not ok.any():
            return DECLINE
        z = (math.log(budget) - log_time) / sigma
        p_on_time = normal_cdf(z)
        up, prompt = float(view.up_bits[k]), float(view.prompt_tokens[k])
        energy = self.models[key].energy_j(up, prompt)
        scale = self.energy_scale[int(t.service)]
        score = p_on_time * (1.0 - self.energy_weight * np.minimum(1.0, energy / scale))
        c = int(np.argmax(np.where(ok, score, -math.inf)))
        self.pending[int(view.request_id[k])] = (x[c], float(np.log(prof[c])))
        return c

    def update(self, feedback: Feedback) -> None:
        rows, ys = [], []
        for rid, refused, service_s in zip(
            feedback.request_id, feedback.refused, feedback.service_s, strict=True
        ):
            entry = self.pending.pop(int(rid), None)
            if entry is None or refused or not np.isfinite(service_s) or service_s <= 0:
                continue
            x, log_prof = entry
            rows.append(x)
            ys.append(math.log(float(service_s)) - log_prof)
        if rows:
            self.ridge.update(np.asarray(rows), np.asarray(ys))
