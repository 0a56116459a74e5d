"""The scale experiment's table and figures (paper/scale.py) on a real short sweep of the
scale experiment's config: every finished run read, the optimum's plan at most its bound,
speeds from the run's timings, an unfinished run named and left out."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

from paper.scale import main as scale_main


def test_the_scale_table_and_figures_of_a_short_sweep(tmp_path, capsys):
    sweep = tmp_path / "scale"
    run = sweep / "topology=zoo,workload.rate_rps=10"
    done = subprocess.run(
        [sys.executable, "-m", "perllm_opt.cli.main", "+experiment=scale", "horizon_s=10",
         "schedulers=[cs_ucb,oracle_milp,random]", "progress=false", f"hydra.run.dir='{run}'"],
        capture_output=True, text=True, timeout=600, env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (sweep / "topology=eua,workload.rate_rps=10").mkdir()  # a run that never finished
    out = tmp_path / "out"
    assert scale_main([str(sweep), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "not finished, left out: topology=eua,workload.rate_rps=10" in printed.err
    rows = list(csv.DictReader((out / "results" / "scale.csv").open()))
    assert [r["scheduler"] for r in rows] == ["optimal", "cs_ucb", "oracle_milp", "random"]
    summary = json.loads((run / "summary.json").read_text())
    timings = {
        r["scheduler"]: r["sim_s"] for r in json.loads((run / "timings.json").read_text())["rows"]
    }
    for r in rows:
        assert r["system"] == "Geant2012-37" and float(r["rate_rps"]) == 10.0
        assert int(r["requests"]) == summary["requests"] > 0
        want = summary["requests"] / timings[r["scheduler"]]
        assert abs(float(r["sim_rps"]) - want) <= 1e-6 * want
    opt = rows[0]
    assert int(opt["on_time"]) <= float(opt["served_bound"])
    assert int(opt["on_time"]) >= max(int(r["on_time"]) for r in rows[1:])
    assert f"| Geant2012-37, 10 req/s | {summary['requests']:,} |" in printed.out
    for name in ("fig_scale_on_time", "fig_scale_speed"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
    assert scale_main([str(tmp_path / "nothing")]) == 2
