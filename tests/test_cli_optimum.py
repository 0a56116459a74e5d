"""The main command with the MILP optimum: rows, regret, energy gap, per-round regret,
placement, and the solver's failure modes."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

BASE = [
    "progress=false",
    "horizon_s=90",
    "workload.rate_rps=1",
    "schedulers=[cs_ucb,random,oracle_milp]",
]


def run_cli(tmp_path, *args):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "perllm_opt.cli.main", f"hydra.run.dir={out}", *BASE, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    return proc, out


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return run_cli(tmp_path_factory.mktemp("opt"))


def test_optimal_row_and_regret(default_run):
    proc, out = default_run
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((out / "metrics.json").read_text())
    assert [r["scheduler"] for r in rows] == ["optimal", "cs_ucb", "random", "oracle_milp"]
    opt = rows[0]
    assert opt["status"] == "optimal" and opt["late"] == 0
    assert opt["mip_gap"] <= 1e-5
    for r in rows[1:]:
        assert r["regret"] == pytest.approx(r["objective"] - opt["objective"])
        assert r["regret"] >= -1e-6 * abs(opt["objective"])
        assert r["energy_gap"] == pytest.approx(
            r["energy_per_served_j"] / opt["energy_per_served_j"]
        )
        assert r["served"] <= opt["served"]
    per_round = pd.read_csv(out / "per_round.csv")
    cum = pd.read_csv(out / "cumulative_regret.csv")
    assert len(per_round) == len(cum) == 3
    expected = (per_round["cs_ucb"] - per_round["optimal"]).cumsum()
    assert cum["cs_ucb"].tolist() == pytest.approx(expected.tolist())
    assert cum["cs_ucb"].iloc[-1] == pytest.approx(rows[1]["regret"], rel=1e-9)
    assert any(line.startswith("optimal ") for line in proc.stdout.splitlines())
    assert "optimum: optimal, gap" in proc.stdout
    assert opt["served_bound"] == opt["served"]
    for r in rows[1:]:
        assert r["regret_bound"] == pytest.approx(r["regret"], rel=1e-6, abs=1e-3)


def test_decomposed_regret(default_run):
    """regret_requests = price of information + (oracle's served - own served); pseudo-regret
    is the expected-table difference to the oracle; the saved cumulative series end at the
    rows' totals."""
    proc, out = default_run
    assert proc.returncode == 0, proc.stderr
    rows = {r["scheduler"]: r for r in json.loads((out / "metrics.json").read_text())}
    opt, ref = rows["optimal"], rows["oracle_milp"]
    price = opt["price_of_information_requests"]
    assert price == opt["served"] - ref["served"]
    assert ref["pseudo_regret_requests"] == 0.0 and ref["pseudo_regret_energy_j"] == 0.0
    series = pd.read_csv(out / "regret_series.csv")
    for name, r in rows.items():
        assert r["regret_requests"] == opt["served"] - r["served"]
        assert r["regret_requests"] == pytest.approx(price + ref["served"] - r["served"])
        assert r["pseudo_regret_requests"] == pytest.approx(
            ref["expected_served"] - r["expected_served"]
        )
        assert 0.0 <= r["expected_served"] <= r["served"] + r["late"] + 1e-9
        last = series[series.scheduler == name].iloc[-1]
        assert last["time_s"] == pytest.approx(90.0)
        for key in ("regret_requests", "pseudo_regret_requests", "pseudo_regret_energy_j"):
            assert last[key] == pytest.approx(r[key], abs=1e-6), (name, key)
        assert last["served"] == r["served"]
    assert "regret req" in proc.stdout and "pseudo req" in proc.stdout


def test_placement_in_continuous_mode(tmp_path):
    """The default (continuous) mode optimises the deployment too: its deployment is
    written and printed, its certified bound is in the row, and no scheduler (run on the
    configured deployment) does better than that bound."""
    proc, out = run_cli(tmp_path, "placement=optimize")
    assert proc.returncode == 0, proc.stderr
    deployment = json.loads((out / "deployment.json").read_text())
    assert set(deployment) == {"cloud", "edge0", "edge1", "edge2"}
    assert "optimal deployment:" in proc.stdout and "proven at most" in proc.stdout
    # Energy is not proven across deployments: the note names the search's budgets.
    assert "solver.placement_moves=" in proc.stdout
    rows = json.loads((out / "metrics.json").read_text())
    opt = rows[0]
    assert opt["scheduler"] == "optimal"
    assert opt["served"] <= opt["served_bound"]
    assert opt["bound"] <= opt["objective"]
    for r in rows[1:]:
        assert r["regret_bound"] >= 0
        assert r["served"] <= opt["served_bound"]


def test_optimal_false_skips_the_milp(tmp_path):
    proc, out = run_cli(tmp_path, "optimal=false")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((out / "metrics.json").read_text())
    assert [r["scheduler"] for r in rows] == ["cs_ucb", "random", "oracle_milp"]
    assert "regret" not in rows[0]
    assert not (out / "cumulative_regret.csv").exists()


def test_placement_reports_the_deployment(tmp_path):
    proc, out = run_cli(
        tmp_path, "system.mode=rounds", "placement=optimize", "solver.objective=weighted"
    )
    assert proc.returncode == 0, proc.stderr
    deployment = json.loads((out / "deployment.json").read_text())
    assert set(deployment) == {"cloud", "edge0", "edge1", "edge2"}
    assert "optimal deployment:" in proc.stdout
    rows = json.loads((out / "metrics.json").read_text())
    assert all(r["regret"] >= -1e-6 * abs(rows[0]["objective"]) for r in rows[1:])


def test_missing_solver_fails_before_any_work(tmp_path):
    proc, out = run_cli(tmp_path, "solver.name=no_such_solver")
    assert proc.returncode == 2
    assert "no_such_solver" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 or "error" in proc.stderr.splitlines()[-1]
    assert not (out / "metrics.json").exists()


def test_time_limit_without_solution_keeps_scheduler_results(tmp_path):
    proc, out = run_cli(tmp_path, "solver.time_limit_s=1e-6")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((out / "metrics.json").read_text())
    opt = rows[0]
    if opt["status"] == "optimal":  # HiGHS may still prove tiny rounds in time
        pytest.skip("the solver was fast enough")
    assert "warning" in proc.stdout
    assert [r["scheduler"] for r in rows[1:]] == ["cs_ucb", "random", "oracle_milp"]
