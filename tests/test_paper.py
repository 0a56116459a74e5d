"""The paper pipeline: figure functions on small synthetic tables, claims computed by hand,
and the --quick command end to end."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from paper import claims as cl
from paper import figures as fg

NAMES = ["optimal", "cs_ucb", "greedy_energy", "random", "oracle_greedy"]


def synthetic(extra: dict[str, list], seeds=(0, 1, 2)) -> pd.DataFrame:
    """One row per (swept values, seed, scheduler) with consistent metrics: CS-UCB serves 2x
    greedy_energy and 4x random, spending a quarter of random's energy per request."""
    served_of = {
        "optimal": 100,
        "cs_ucb": 80,
        "greedy_energy": 40,
        "random": 20,
        "oracle_greedy": 45,
    }
    rows = []
    keys = list(extra)
    for values in itertools.product(*extra.values()):
        for seed in seeds:
            run = ",".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)) + f",s={seed}"
            for name in NAMES:
                served = served_of[name] + seed
                e_per = 1000.0 if name != "random" else 4000.0
                energy = e_per * served
                rows.append(
                    {
                        "run": run,
                        **dict(zip(keys, values, strict=True)),
                        "seed": seed,
                        "scheduler": name,
                        "requests": 200,
                        "served": served,
                        "late": 2,
                        "refused_capacity": 1,
                        "served_fraction": served / 200,
                        "throughput_rps": served / 600,
                        "energy_j": energy,
                        "energy_tran_j": 0.01 * energy,
                        "energy_infer_j": 0.6 * energy,
                        "energy_idle_j": 0.39 * energy,
                        "energy_per_served_j": e_per,
                        "energy_gap": e_per / 1000.0,
                        "sim_s": 0.01 * (1 + seed),
                    }
                )
    return pd.DataFrame(rows)


def test_mean_ci_by_hand():
    t = pd.DataFrame({"g": ["a"] * 3, "x": [1.0, 2.0, 3.0]})
    s = fg.mean_ci(t, ["g"], "x")
    assert s["mean"].iloc[0] == pytest.approx(2.0)
    assert s["ci"].iloc[0] == pytest.approx(4.303 * 1.0 / np.sqrt(3))


def test_figure_functions_on_synthetic_tables():
    dep = synthetic(
        {"topology": ["paper", "paper_jetson"], "deployment": ["edge_none", "edge_small"]}
    )
    bw = synthetic(
        {
            "topology.wan_bandwidth_mbps": [25, 100],
            "dynamics.bandwidth_links": ["fluctuating", "none"],
        }
    )
    loads = synthetic({"workload.rate_rps": [1, 4]})
    regret = series_frame({"cs_ucb": np.sqrt, "ucb1": lambda t: 0.1 * t}, dynamics="default")
    learning = pd.concat(
        [
            series_frame({"cs_ucb": np.sqrt, "cs_ucb_static": np.sqrt}, dynamics=d)
            for d in ("misprofiled", "drift")
        ]
    )
    figs = [
        fg.fig_throughput(dep),
        fg.fig_energy(dep),
        fg.fig_bandwidth(bw),
        fg.fig_regret(regret),
        fg.fig_optimality_gap(loads),
        fg.fig_trace(loads),
        fg.fig_pseudo_regret(regret),
        fg.fig_learning(learning, drift_at_s=1800.0),
    ]
    for fig in figs:
        assert isinstance(fig, Figure)
        axes = [ax for ax in fig.axes if ax.has_data()]
        assert axes and axes[0].get_ylabel()  # shared y axes are labelled once
        assert all(ax.get_xlabel() or [t.get_text() for t in ax.get_xticklabels()] for ax in axes)
    # Fig. 1: one panel per topology, a bar per (deployment, scheduler), heights = means.
    ax = figs[0].axes[0]
    heights = sorted({round(p.get_height(), 6) for p in ax.patches})
    assert heights == sorted({round((v + 1) / 600, 6) for v in (100, 80, 40, 20, 45)})
    assert len(figs[0].axes) == 2


def test_claims_by_hand():
    dep = synthetic({"deployment": ["a", "b", "c"]})
    thr = cl.throughput_claim(dep)
    # cs_ucb 81 vs best rival greedy_energy 41 -> 1.98x; median rival (41, 21) -> 31: 2.61x.
    assert "1.98x the best rival (greedy_energy)" in thr.measured
    assert thr.holds == "yes"
    energy = cl.energy_claim(dep)
    assert "random +75%" in energy.measured and "greedy_energy +0%" in energy.measured
    assert energy.holds.startswith("partly")
    req = cl.requirement_claim(dep, None)[0]
    assert req.holds == "yes" and "97.6%" in req.measured  # 81 / 83 admitted on time
    md = cl.claims_markdown([thr, energy, req], quick=True)
    assert md.count("\n|") == 5 and "--quick" in md


def series_frame(curves: dict, dynamics: str = "default", seeds=(0, 1)) -> pd.DataFrame:
    """A regret/learning series table: per scheduler, cumulative pseudo-regret ``f(t)``,
    regret ``2 f(t)``, served ``t / 60`` (oracle_milp: ``t / 30``) over an hour of 30-s
    bins, for each seed (runs)."""
    t = np.arange(30, 3630, 30.0)
    rows = []
    for seed in seeds:
        for name, f in {**curves, "oracle_milp": lambda x: 0 * x}.items():
            rows.append(
                pd.DataFrame(
                    {
                        "run": f"{dynamics}-{seed}",
                        "seed": seed,
                        "dynamics": dynamics,
                        "scheduler": name,
                        "time_s": t,
                        "regret": 2 * f(t),
                        "pseudo_regret": f(t),
                        "served": t / (30 if name == "oracle_milp" else 60),
                        "requests": t / 20,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_regret_claim_linear_vs_sqrt():
    lin = series_frame({"cs_ucb": lambda t: 0.1 * t})
    sq = series_frame({"cs_ucb": np.sqrt})
    assert cl.regret_claim(lin).holds.startswith("no")
    assert "slope" in cl.regret_claim(lin).measured and "1.00" in cl.regret_claim(lin).measured
    assert cl.regret_claim(sq).holds == "yes"
    # Last quarter: cs_ucb serves t/60, the oracle t/30, so half as much.
    assert "0.500x oracle_milp" in cl.regret_claim(sq).measured


def test_learning_claims_and_curves_by_hand():
    """Equal last quarters: no gain, and the claim says so; the curves' shares are the
    per-window on-time rates (1/3 for served t/60 of requests t/20)."""
    learning = series_frame({"cs_ucb": np.sqrt, "cs_ucb_static": np.sqrt}, "misprofiled")
    (claim,) = cl.learning_claims(learning)
    assert "1.000x" in claim.measured and claim.holds.startswith("no")
    curves = fg.learning_curves(learning)
    np.testing.assert_allclose(
        curves["share"], 1.0 / 3.0 * np.where(curves["scheduler"] == "oracle_milp", 2.0, 1.0)
    )
    assert set(curves["time_s"]) == set(np.arange(300.0, 3601.0, 300.0))
    # The hour's pseudo-regret: sqrt(3600) = 60 for both, 0 for the oracle.
    assert "cs_ucb +60, cs_ucb_static +60, oracle_milp +0" in claim.measured


def test_setting_labels_keep_loads_apart(tmp_path):
    """A learning sweep over loads: each (preset, load) is its own setting, and the 1.15x
    target follows the preset whatever the load."""
    run = tmp_path / "dynamics=misprofiled,seed=3,workload.rate_rps=2.0"
    assert fg._dynamics_label(run) == "misprofiled @ 2 req/s"
    assert fg._dynamics_label(tmp_path / "dynamics=drift,seed=0") == "drift"
    assert fg._dynamics_label(tmp_path / "seed=0") == "default"
    assert fg.preset_of("misprofiled @ 2 req/s") == "misprofiled"
    two = pd.concat(
        [
            series_frame({"cs_ucb": np.sqrt, "cs_ucb_static": np.sqrt}, f"misprofiled @ {r} req/s")
            for r in (2, 5)
        ],
        ignore_index=True,
    )
    claims = cl.learning_claims(two)
    assert len(claims) == 2 and all("target 1.15x" in c.claim for c in claims)


def test_time_claim_reads_the_timings_table():
    loads = synthetic({"workload.rate_rps": [1, 4]})
    timings = loads[["run", "scheduler", "sim_s"]]
    apart = cl.time_claim(loads.drop(columns="sim_s"), timings)
    assert apart == cl.time_claim(loads)
    assert "us per request at 1 req/s" in apart.measured
    missing = cl.time_claim(loads.drop(columns="sim_s"), None)
    assert missing.measured == "not measured (no timings saved)"


@pytest.mark.slow
def test_quick_command_end_to_end(tmp_path):
    out = tmp_path / "paper"
    proc = subprocess.run(
        [sys.executable, "-m", "paper.cli", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = [
        "fig1_throughput_deployments",
        "fig2_energy_breakdown",
        "fig3_bandwidth",
        "fig4_cumulative_regret",
        "fig5_optimality_gap",
        "fig6_azure_trace",
        "fig7_slot_length",
        "fig8_pseudo_regret",
        "fig9_learning_curves",
    ]
    for name in names:
        for ext in ("png", "pdf"):
            path = out / "figures" / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000, path
    claims = (out / "claims.md").read_text()
    assert claims.count("\n|") >= 8 and "holds here?" in claims
    # Results tables hold no wall-clock figure; timings.csv does, and the time claim uses it.
    assert "sim_s" not in pd.read_csv(out / "results" / "loads.csv").columns
    timings = pd.read_csv(out / "results" / "timings.csv")
    assert {"loads", "regret"} <= set(timings["experiment"]) and (timings["sim_s"] > 0).all()
    assert "us per request at" in claims
    # Drawing again from the saved results only gives the same claims.
    again = subprocess.run(
        [sys.executable, "-m", "paper.cli", "--quick", "--out", str(out), "--draw-only"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out / "claims.md").read_text() == claims
