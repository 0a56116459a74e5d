"""The ``perllm-opt`` entry point (perllm_opt/cli/main.py): a smoke run, its output files,
and the one-line errors for user mistakes. Two runs go through the installed console script
(concurrently); the other cases call ``main()`` in-process (same Hydra app, no start-up cost)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

EXE = Path(sys.executable).with_name("perllm-opt")
REQUIRED = {
    "scheduler",
    "requests",
    "served",
    "late",
    "refused",
    "throughput_rps",
    "energy_j",
    "energy_tran_j",
    "energy_infer_j",
    "energy_idle_j",
    "objective",
    "latency_p95_s",
}

RUNS = {
    "ok": ["schedulers=[cs_ucb,random]", "horizon_s=120"],
    "ok_again": ["schedulers=[cs_ucb,random]", "horizon_s=120"],
    "bad_rate": ["workload.rate_rps=-1", "schedulers=[random]", "horizon_s=60"],
}
IN_PROCESS = {
    "misspelt": ["workload.rat_rps=1", "horizon_s=60"],
    "bad_type": ["horizon_s=abc"],
    "bad_hyper": ["scheduler.cs_ucb.confidence=1.5", "schedulers=[cs_ucb]", "horizon_s=60"],
    "no_graph": ["topology.preset=null", "topology.path=/nonexistent/g.json", "horizon_s=60"],
    "azure": ["workload=azure", "schedulers=[random]", "horizon_s=60"],
}


def _overrides(out_dir: Path, args: list[str]) -> list[str]:
    # optimal=false: the MILP optimum is not this file's subject (and takes seconds).
    return [f"hydra.run.dir={out_dir}", "progress=false", "optimal=false", *args]


def _command(out_dir: Path, args: list[str]) -> list[str]:
    # The installed console script, else the module.
    head = [str(EXE)] if EXE.is_file() else [sys.executable, "-m", "perllm_opt.cli.main"]
    return [*head, *_overrides(out_dir, args)]


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """name -> (returncode, stdout, stderr, run dir); all runs started at once."""
    root = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    env.pop("PYTHONWARNINGS", None)
    procs = {}
    for name, args in RUNS.items():
        out = root / name
        procs[name] = (
            subprocess.Popen(
                _command(out, args),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=root,
                env=env,
            ),
            out,
        )
    results = {}
    for name, (p, out) in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        results[name] = (p.returncode, stdout, stderr, out)
    return results


def _in_process(name, tmp_path, capsys, monkeypatch):
    """Run ``perllm_opt.cli.main.main()`` with the arguments of ``IN_PROCESS[name]``."""
    import perllm_opt.cli.main as cli_main

    out = tmp_path / name
    monkeypatch.setattr(sys, "argv", ["perllm-opt", *_overrides(out, IN_PROCESS[name])])
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    try:
        cli_main.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err, out


@pytest.fixture
def run_in_process(tmp_path, capsys, monkeypatch):
    return lambda name: _in_process(name, tmp_path, capsys, monkeypatch)


def test_smoke_run_writes_metrics(cli):
    code, stdout, stderr, out = cli["ok"]
    assert code == 0, stderr
    rows = json.loads((out / "metrics.json").read_text("utf-8"))
    assert isinstance(rows, list) and [r["scheduler"] for r in rows] == ["cs_ucb", "random"]
    for row in rows:
        assert isinstance(row, dict)
        assert set(row) >= REQUIRED
        # Flat: only scalars.
        assert all(v is None or isinstance(v, str | int | float | bool) for v in row.values())
        assert row["served"] + row["late"] + row["refused"] == row["requests"]
        assert row["energy_j"] == pytest.approx(
            row["energy_tran_j"] + row["energy_infer_j"] + row["energy_idle_j"]
        )
        assert row["throughput_rps"] == pytest.approx(row["served"] / 120.0)
    assert rows[0]["requests"] == rows[1]["requests"] > 0
    csv = pd.read_csv(out / "metrics.csv")
    assert list(csv["scheduler"]) == ["cs_ucb", "random"]
    assert set(csv.columns) >= REQUIRED
    assert list(csv["served"]) == [r["served"] for r in rows]
    per_round = pd.read_csv(out / "per_round.csv")
    assert len(per_round) == 4  # 120 s / 30 s rounds
    assert per_round["cs_ucb"].sum() == pytest.approx(rows[0]["objective"])
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["requests"] == rows[0]["requests"]
    assert "cs_ucb" in stdout and "random" in stdout
    assert "Traceback" not in stderr


def test_results_are_byte_identical_and_timings_apart(cli):
    """Two processes, same config and seed: every results file has the same bytes; the
    wall-clock figures are only in timings.json (and Hydra's log, main.log, has times)."""
    (code_a, _, err_a, a), (code_b, _, err_b, b) = cli["ok"], cli["ok_again"]
    assert code_a == code_b == 0, err_a + err_b
    files = sorted(p.name for p in a.iterdir() if p.is_file())
    assert "timings.json" in files and "metrics.json" in files
    for name in files:
        if name not in ("timings.json", "main.log"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    rows = json.loads((a / "metrics.json").read_text("utf-8"))
    assert not any(k in r for r in rows for k in ("sim_s", "build_s", "solve_s", "solver_s"))
    summary = json.loads((a / "summary.json").read_text("utf-8"))
    assert "total_s" not in summary and "build_s" not in summary
    timings = json.loads((a / "timings.json").read_text("utf-8"))
    assert [r["scheduler"] for r in timings["rows"]] == ["cs_ucb", "random"]
    assert all(r["sim_s"] > 0 for r in timings["rows"]) and timings["summary"]["total_s"] > 0
    # The process's peak memory, a machine figure too: 0.2 GB for this small run.
    assert "peak_rss_gb" not in summary and 0.05 < timings["summary"]["peak_rss_gb"] < 4


def _one_line_error(result, key):
    code, stdout, stderr, out = result
    assert code == 2
    assert "Traceback" not in stderr + stdout
    lines = [ln for ln in stderr.splitlines() if ln.startswith("perllm-opt: error:")]
    assert len(lines) == 1
    assert key in lines[0]
    assert not (out / "metrics.json").exists()


def test_bad_value_exits_2_with_one_line(cli):
    _one_line_error(cli["bad_rate"], "workload.rate_rps")


@pytest.mark.parametrize(
    ("name", "key"),
    [("bad_hyper", "scheduler.cs_ucb.confidence"), ("no_graph", "topology.path")],
)
def test_bad_value_in_process(run_in_process, name, key):
    _one_line_error(run_in_process(name), key)


def test_misspelt_key_fails_naming_it(run_in_process):
    code, stdout, stderr, _ = run_in_process("misspelt")
    assert code != 0
    assert "workload.rat_rps" in stderr
    assert "Traceback" not in stderr + stdout


def test_hydra_rejected_values_exit_2(run_in_process):
    """Keys and types the typed schema rejects: exit 2, the key named, no traceback."""
    for name, key in (("bad_type", "horizon_s"), ("misspelt", "rat_rps")):
        code, _, stderr, _ = run_in_process(name)
        assert code == 2, (name, code)
        assert key in stderr, stderr
        assert "Traceback" not in stderr, stderr


def test_azure_workload_runs(run_in_process):
    code, _, stderr, out = run_in_process("azure")
    assert code == 0, stderr[-500:]
    assert (out / "metrics.json").is_file()


def test_default_config_composes():
    """conf/config.yaml composes into a valid AppConfig with every scheduler configured."""
    from support import SCHEDULER_NAMES

    import perllm_opt.cli.main as cli_main
    from perllm_opt.cli.config_store import compose_config

    cfg = compose_config()
    app = cli_main.to_app_config(cfg)
    # Every configured scheduler runs by default, the known-means oracle included (the
    # reference of pseudo-regret), but CS-UCB's ablations (run when named).
    ablations = {"cs_ucb_static", "cs_ucb_greedy", "cs_ucb_milp", "cs_ucb_no_price"}
    assert sorted(app.schedulers) == sorted(set(SCHEDULER_NAMES) - ablations)
    assert sorted(app.scheduler) == sorted(SCHEDULER_NAMES)
    assert (app.seed, app.horizon_s, app.workload.rate_rps) == (0, 300.0, 5.0)
    assert (app.system.mode, app.system.epoch_s) == ("continuous", 1.0)
    assert app.topology.preset == "paper"
    assert app.scheduler["cs_ucb"]["_target_"] == "perllm_opt.schedulers.cs_ucb.CSUCB"
