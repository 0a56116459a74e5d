"""Regret, decomposed (docs/metrics.md, "Regret"): against the clairvoyant optimum in
weighted joules and in requests, and pseudo-regret against the known-means oracle.

The clairvoyant optimum (``optimal``) knows every realisation; the known-means oracle
(``oracle_milp``) knows the laws only. For a scheduler ``A``:

- ``regret = objective(A) - objective(optimal)`` (weighted J, today's definition);
- ``regret_requests = served(optimal) - served(A)``: on-time requests short of the optimum;
- ``pseudo_regret_requests = E[served | oracle's decisions] - E[served | A's decisions]``
  and ``pseudo_regret_energy_j`` the same difference in expected weighted transmission and
  inference energy (``A`` minus oracle), both on the expected option table
  (:mod:`perllm_opt.instance.expected_options`): the decisions are fixed, the realisation is
  averaged out, so what remains is what ``A`` does not know and has not learnt;
- on the optimum's row, ``price_of_information_requests = served(optimal) -
  served(oracle_milp)``: what knowing the realisation is worth.

``regret_requests(A) = price_of_information + (served(oracle) - served(A))`` and the second
term is, in expectation over the realisation, the pseudo-regret in requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from perllm_opt.evaluation.metrics import Evaluation
from perllm_opt.instance.assignment import ADMITTED, Assignment
from perllm_opt.instance.bins import series_bins
from perllm_opt.instance.expected_options import ExpectedOptions
from perllm_opt.instance.realised import Instance

#: The scheduler whose decisions pseudo-regret is measured against.
REFERENCE = "oracle_milp"


@dataclass(frozen=True, eq=False)
class Outcome:
    """Per-bin outcomes of one assignment (rounds, or ``system.bin_s`` bins by arrival).

    Attributes
    ----------
    served : ndarray
        Realised on-time requests.
    expected_served : ndarray
        Sum of P(on time) of the admitted options on the expected option table.
    expected_energy_j : ndarray
        Expected weighted transmission + inference energy of the admitted options.
    objective : ndarray
        Realised objective (weighted J, drop penalty included).
    requests : ndarray
        Requests arriving in the bin.
    bin_s : float
        Length of a bin; bin ``b`` ends at ``(b + 1) bin_s``.
    """

    served: np.ndarray
    expected_served: np.ndarray
    expected_energy_j: np.ndarray
    objective: np.ndarray
    requests: np.ndarray
    bin_s: float


@dataclass(frozen=True)
class Regret:
    """A scheduler's regret against the optimum of the same instance (docs/metrics.md).

    Against the best solution found: a lower bound on the true regret when the optimum is
    not proven optimal.

    Attributes
    ----------
    requests : int
        On-time requests short of the optimum (``regret_requests`` in ``metrics.json``).
    objective_j : float
        Objective (weighted J, drop penalty included) above the optimum's (``regret``).
    energy_gap : float
        Energy per on-time request over the optimum's (``energy_gap``; NaN when the
        optimum serves nothing).
    """

    requests: int
    objective_j: float
    energy_gap: float


def regret_of(evaluation: Evaluation, optimum: Evaluation) -> Regret:
    """The regret of one evaluated assignment against the evaluated optimum.

    Parameters
    ----------
    evaluation : Evaluation
        A scheduler's, from :func:`perllm_opt.evaluation.metrics.evaluate` or
        :func:`perllm_opt.runner.run_schedulers`.
    optimum : Evaluation
        The optimum's assignment (:func:`perllm_opt.milp.optimum.solve_optimum`), evaluated
        on the same instance.

    Returns
    -------
    Regret
    """
    own, best = evaluation.metrics, optimum.metrics
    best_e = best.energy_per_served_j
    gap = own.energy_per_served_j / best_e if best_e and best_e == best_e else float("nan")
    return Regret(
        requests=int(best.served - own.served),
        objective_j=float(own.objective - best.objective),
        energy_gap=float(gap),
    )


def outcome(
    instance: Instance,
    table: ExpectedOptions,
    assignment: Assignment,
    served: np.ndarray,
    objective: np.ndarray,
) -> Outcome:
    """The per-bin outcome of ``assignment``, with its realised ``served`` and ``objective``
    series (from the evaluator) and its decisions evaluated on the expected ``table``."""
    req_bin, nb, bin_s = series_bins(instance)
    admitted = assignment.status == ADMITTED
    o = assignment.option[admitted]
    rb = req_bin[admitted]
    w_tran, w_infer, _ = instance.weights
    energy = w_tran * table.energy_tran_j[o] + w_infer * table.energy_infer_j[o]
    return Outcome(
        served=np.asarray(served, dtype=float),
        expected_served=np.bincount(rb, weights=table.p_on_time[o], minlength=nb),
        expected_energy_j=np.bincount(rb, weights=energy, minlength=nb),
        objective=np.asarray(objective, dtype=float),
        requests=np.bincount(req_bin, minlength=nb),
        bin_s=bin_s,
    )


def add_decomposed_regret(rows: list[dict[str, Any]], outcomes: dict[str, Outcome]) -> None:
    """Add the keys of the module docstring to every row (NaN where a reference is missing:
    ``regret_requests`` needs the ``optimal`` row, pseudo-regret the ``oracle_milp`` row)."""
    nan = float("nan")
    opt = outcomes.get("optimal")
    ref = outcomes.get(REFERENCE)
    opt_served = float(opt.served.sum()) if opt is not None else nan
    for r in rows:
        own = outcomes.get(r["scheduler"])
        if own is None:
            continue
        r["expected_served"] = float(own.expected_served.sum())
        r["regret_requests"] = opt_served - float(own.served.sum())
        if ref is not None:
            r["pseudo_regret_requests"] = float(
                ref.expected_served.sum() - own.expected_served.sum()
            )
            r["pseudo_regret_energy_j"] = float(
                own.expected_energy_j.sum() - ref.expected_energy_j.sum()
            )
        else:
            r["pseudo_regret_requests"] = nan
            r["pseudo_regret_energy_j"] = nan
        if r["scheduler"] == "optimal":
            r["price_of_information_requests"] = (
                opt_served - float(ref.served.sum()) if ref is not None else nan
            )


def regret_series(outcomes: dict[str, Outcome]) -> pd.DataFrame:
    """Cumulative regret after each bin, long format: one row per (scheduler, bin) with
    ``time_s`` (end of the bin), ``regret_j``, ``regret_requests`` (against ``optimal``),
    ``pseudo_regret_requests`` and ``pseudo_regret_energy_j`` (against ``oracle_milp``), and
    the cumulative ``requests`` arrived and the scheduler's cumulative ``served`` and
    ``expected_served``. Missing references give
    NaN columns."""
    opt = outcomes.get("optimal")
    ref = outcomes.get(REFERENCE)
    frames = []
    for name, own in outcomes.items():
        nb = len(own.served)
        nan = np.full(nb, np.nan)
        opt_obj, opt_served = (opt.objective, opt.served) if opt is not None else (nan, nan)
        ref_served, ref_energy = (
            (ref.expected_served, ref.expected_energy_j) if ref is not None else (nan, nan)
        )
        frames.append(
            pd.DataFrame(
                {
                    "scheduler": name,
                    "round": np.arange(nb),
                    "time_s": (np.arange(nb) + 1) * own.bin_s,
                    "requests": np.cumsum(own.requests),
                    "served": np.cumsum(own.served),
                    "expected_served": np.cumsum(own.expected_served),
                    "regret_j": np.cumsum(own.objective - opt_obj),
                    "regret_requests": np.cumsum(opt_served - own.served),
                    "pseudo_regret_requests": np.cumsum(ref_served - own.expected_served),
                    "pseudo_regret_energy_j": np.cumsum(own.expected_energy_j - ref_energy),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
