"""Result tables and files: perllm_opt/evaluation/report.py, runner.py and the writers of
cli/main.py."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from perllm_opt.cli.files import write_atomic
from perllm_opt.cli.main import write_results
from perllm_opt.evaluation.report import format_table
from perllm_opt.runner import ExperimentResult, instance_summary


def test_format_table_units_and_missing_values():
    rows = [
        {
            "scheduler": "cs_ucb",
            "served": 12,
            "late": 3,
            "refused": 5,
            "throughput_rps": 0.1,
            "energy_j": 12_345.0,
            "energy_tran_j": 12.0,
            "energy_infer_j": 2_000.0,
            "energy_idle_j": 10_333.0,
            "latency_p95_s": math.nan,
        },
        {"scheduler": "random", "served": 1, "late": 0, "refused": 19},
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].split()[:3] == ["scheduler", "on", "time"]
    assert set(lines[1]) <= {"-", " "}
    cs = lines[2].split()
    assert cs[:4] == ["cs_ucb", "12", "3", "5"]
    assert "12.3" in cs  # energy in kJ, one decimal
    assert "0.012" in cs  # E_tran in kJ, three decimals
    assert cs[-1] == "-"  # NaN p95
    rnd = lines[3].split()
    assert rnd[0] == "random" and rnd.count("-") >= 5
    # Columns line up: every line has the same width.
    assert len({len(line.rstrip()) for line in lines[:3]}) == 1
    # Regret columns appear only when some row has them.
    assert "regret" not in lines[0]
    assert "regret req" in format_table([{**rows[0], "regret_requests": 2.0}]).splitlines()[0]


def test_write_results_is_valid_json_without_nan(tmp_path):
    result = ExperimentResult(
        rows=[{"scheduler": "a", "served": 0, "latency_p95_s": math.nan, "x": np.float64(2.5)}],
        objective_per_round={"a": np.asarray([1.0, 2.0])},
        summary={"requests": 0, "drop_penalty_j": math.inf},
    )
    # A temporary left by a writer killed mid-write (a sweep worker killed, then resumed).
    (tmp_path / ".resolved_config.yaml.k1ll3d.tmp").write_text("seed: 1\n")
    write_results(tmp_path, result, "seed: 0\n")
    rows = json.loads((tmp_path / "metrics.json").read_text("utf-8"))
    assert rows == [{"scheduler": "a", "served": 0, "latency_p95_s": None, "x": 2.5}]
    summary = json.loads((tmp_path / "summary.json").read_text("utf-8"))
    assert summary["drop_penalty_j"] is None
    assert (tmp_path / "resolved_config.yaml").read_text("utf-8") == "seed: 0\n"
    assert (tmp_path / "per_round.csv").read_text("utf-8").splitlines()[0] == "round,a"
    # No temporary files left behind, the killed writer's included.
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_write_atomic_replaces(tmp_path):
    p = tmp_path / "sub" / "f.txt"
    write_atomic(p, "one")
    write_atomic(p, "two")
    assert p.read_text("utf-8") == "two"
    assert [x.name for x in p.parent.iterdir()] == ["f.txt"]


def test_instance_summary(hand_instance):
    s = instance_summary(hand_instance)
    assert s["requests"] == 4 and s["rounds"] == 3 and s["servers"] == 2 and s["zones"] == 1
    assert s["options"] == 4 * 8
    # Every hand request has an on-time option (e.g. the cloud at half share).
    assert s["requests_with_on_time_option"] == 4
    assert s["drop_penalty_j"] == pytest.approx(1000.0)
