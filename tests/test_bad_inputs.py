"""Bad input, table-driven: each case is a user mistake given to an entry point, and each must
end with exit code 2, one line ``<command>: error: ...`` naming the culprit, and no traceback
(issue 11). Entry points are called in-process (no start-up cost per case)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

#: name -> (extra perllm-opt arguments, environment, the text the error line must name).
#: ``{tmp}`` in an argument is the case's temporary directory (files below are written there).
PERLLM_OPT = {
    "no_scheduler": (["schedulers=[]"], {}, "schedulers: got []"),
    "override_not_a_number": (
        ["+calibration.overrides.a100-80gb.memory_gb=abc"],
        {},
        "calibration.overrides.a100-80gb.memory_gb: got 'abc'",
    ),
    "override_negative": (
        ["+calibration.overrides.a100-80gb.idle_power_w=-5"],
        {},
        "calibration.overrides.a100-80gb.idle_power_w: got -5",
    ),
    "override_not_a_mapping": (
        ["+calibration.overrides.a100-80gb=abc"],
        {},
        "calibration.overrides.a100-80gb: got 'abc'",
    ),
    "override_models_not_a_mapping": (
        ["+calibration.overrides.a100-80gb.models=3"],
        {},
        "calibration.overrides.a100-80gb.models: got 3",
    ),
    "override_model_speed_not_a_number": (
        ["+calibration.overrides.a100-80gb.models.llama2-7b.decode_tok_s=fast"],
        {},
        "calibration.overrides.a100-80gb.models.llama2-7b.decode_tok_s: got 'fast'",
    ),
    "group_given_a_mapping": (
        ["services=[{name:a,model:llama2-7b}]"],
        {},
        "services: got '[{name:a,model:llama2-7b}]'",
    ),
    "jobs_not_a_number": (["-m", "seed=0,1"], {"PERLLM_JOBS": "abc"}, "PERLLM_JOBS: got 'abc'"),
    "jobs_zero": (["-m", "seed=0,1"], {"PERLLM_JOBS": "0"}, "PERLLM_JOBS: got '0'"),
    "horizon_huge": (["horizon_s=1e9"], {}, "horizon_s, workload.rate_rps, topology: got 'about"),
    "rate_huge": (
        ["workload.rate_rps=1e5", "horizon_s=60"],
        {},
        "horizon_s, workload.rate_rps, topology: got 'about 6,000,000 requests",
    ),
    "rate_absurd": (["workload.rate_rps=1e9"], {}, "workload.rate_rps"),
    "budget_negative": (["memory_budget_gb=-1"], {}, "memory_budget_gb: got -1.0"),
    "budget_too_small_for_the_optimum": (
        ["optimal=true", "memory_budget_gb=0.23"],  # the schedulers alone fit (0.218 GB)
        {},
        "optimal, schedulers, horizon_s, workload.rate_rps: got 'about",
    ),
    # Mistakes that already gave one line, kept here so that they keep doing so.
    "seed_negative": (["seed=-1"], {}, "seed: got -1"),
    "trace_without_path": (["workload.kind=trace"], {}, "workload.trace_path: got None"),
    "trace_missing": (
        ["workload.kind=trace", "workload.trace_path={tmp}/none.csv"],
        {},
        "workload.trace_path: got '{tmp}/none.csv'",
    ),
    "topology_wrong_suffix": (
        ["topology.preset=null", "topology.path={tmp}/instant.csv"],
        {},
        "expected a file ending in .graphml or .json",
    ),
    "calibration_file_missing": (
        ["calibration.models_file={tmp}/none.yaml"],
        {},
        "calibration file: got '{tmp}/none.yaml'",
    ),
    "round_zero": (["system.mode=rounds", "system.round_s=0"], {}, "system.round_s: got 0.0"),
    "mode_unknown": (["system.mode=sideways"], {}, "system.mode: got 'sideways'"),
    "workload_kind_unknown": (["workload.kind=nope"], {}, "workload.kind: got 'nope'"),
    "preset_unknown": (["topology.preset=nope"], {}, "topology.preset: got 'nope'"),
    "hyperparameter_negative": (
        ["scheduler.cs_ucb.exploration=-1", "schedulers=[cs_ucb]"],
        {},
        "scheduler.cs_ucb.exploration: got -1.0",
    ),
    "time_limit_zero": (
        ["optimal=true", "solver.time_limit_s=0"],
        {},
        "solver.time_limit_s: got 0.0",
    ),
    "solver_workers_zero": (
        ["optimal=true", "solver.workers=0"],
        {},
        "solver.workers: got 0",
    ),
    "solver_checks_zero": (
        ["optimal=true", "solver.checks=0"],
        {},
        "solver.checks: got 0",
    ),
    "oracle_milp_work_zero": (
        ["optimal=false", "schedulers=[oracle_milp]", "scheduler.oracle_milp.work=0"],
        {},
        "scheduler.oracle_milp.work: got 0",
    ),
    "solver_backend_unknown": (
        ["optimal=true", "solver.backend=mpi"],
        {},
        "solver.backend: got 'mpi'",
    ),
    "solver_window_zero": (
        ["optimal=true", "solver.window_s=0"],
        {},
        "solver.window_s: got 0",
    ),
    "solver_lookahead_negative": (
        ["optimal=true", "solver.lookahead_blocks=-1"],
        {},
        "solver.lookahead_blocks: got -1",
    ),
    "trace_not_utf8": (
        ["workload.kind=trace", "workload.trace_path={tmp}/latin1.csv"],
        {},
        "workload.trace_path: got '{tmp}/latin1.csv', expected a UTF-8 CSV file",
    ),
    "trace_one_instant": (
        ["workload.kind=trace", "workload.trace_path={tmp}/instant.csv"],
        {},
        "instant.csv TIMESTAMP: got '3 request(s) all at one time'",
    ),
}


def _graph(node_extra=None, link_extra=None, nodes_extra=(), links_extra=()) -> bytes:
    """A node-link JSON topology: zone z, edge e, cloud c; z-e and z-c links."""
    import json

    nodes = [
        {"id": "z", "kind": "user"},
        {"id": "e", "kind": "edge", "device": "cpu-xeon-4214r", **(node_extra or {})},
        {"id": "c", "kind": "cloud", "device": "a100-80gb"},
        *nodes_extra,
    ]
    links = [
        {"source": "z", "target": "e", "bandwidth_mbps": 300, "latency_ms": 3},
        {"source": "z", "target": "c", "bandwidth_mbps": 100, "latency_ms": 20}
        | (link_extra or {}),
        *links_extra,
    ]
    return json.dumps({"nodes": nodes, "links": links}).encode()


TOPOLOGIES = {
    "bandwidth_inf": (_graph(link_extra={"bandwidth_mbps": float("inf")}), "bandwidth_mbps: got"),
    "latency_nan": (_graph(link_extra={"latency_ms": float("nan")}), "latency_ms: got"),
    "duplicate_id": (
        _graph(nodes_extra=[{"id": "e", "kind": "switch"}]),
        "duplicate_id.json nodes: got \"id 'e' twice\"",
    ),
    "unknown_node_attr": (_graph(node_extra={"devcie": "x"}), "node 'e': got ['devcie']"),
    "unknown_link_attr": (
        _graph(link_extra={"bandwith_mbps": 5}),
        "link ('z', 'c'): got ['bandwith_mbps']",
    ),
    "unreachable_server": (
        _graph(
            nodes_extra=[
                {"id": "far", "kind": "cloud", "device": "a100-80gb"},
                {"id": "island", "kind": "switch"},
            ],
            links_extra=[
                {"source": "far", "target": "island", "bandwidth_mbps": 1, "latency_ms": 1}
            ],
        ),
        "server 'far': got 'reachable from no user zone'",
    ),
}
for _name, (_data, _culprit) in TOPOLOGIES.items():
    PERLLM_OPT[f"topology_{_name}"] = (
        ["topology.preset=null", f"topology.path={{tmp}}/{_name}.json"],
        {},
        _culprit,
    )

FILES = {
    "latin1.csv": "TIMESTAMP,ContextTokens,GeneratedTokens\n0,10,5\n1,12,7 caf\xe9\n".encode(
        "latin-1"
    ),
    "instant.csv": b"TIMESTAMP,ContextTokens,GeneratedTokens\n5,10,5\n5,12,7\n5,9,9\n",
    **{f"{name}.json": data for name, (data, _) in TOPOLOGIES.items()},
}


def _run_main(main, argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        main(argv) if argv is not None else main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _assert_one_line_error(code: int, output: str, command: str, culprit: str) -> None:
    assert code == 2, output[-2000:]
    assert "Traceback" not in output
    lines = [ln for ln in output.splitlines() if ln.startswith(f"{command}: error:")]
    assert len(lines) == 1, output[-2000:]
    assert culprit in lines[0], lines[0]


@pytest.mark.parametrize("name", sorted(PERLLM_OPT))
def test_perllm_opt(name, tmp_path, capsys, monkeypatch):
    import perllm_opt.cli.main as cli_main

    args, env, culprit = PERLLM_OPT[name]
    for file, data in FILES.items():
        (tmp_path / file).write_bytes(data)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    base = [f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep"]
    argv = ["perllm-opt", *base, "progress=false", "optimal=false", "horizon_s=30", *args]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.chdir(tmp_path)
    code, output = _run_main(cli_main.main, None, capsys)
    _assert_one_line_error(code, output, "perllm-opt", culprit.replace("{tmp}", str(tmp_path)))
    # Nothing was run: no results file anywhere.
    assert not list(tmp_path.rglob("metrics.json"))


@pytest.mark.parametrize("jobs", ["0", "-2", "abc"])
def test_paper_jobs(jobs, tmp_path, capsys):
    from paper.cli import main

    code, output = _run_main(main, ["--quick", "--jobs", jobs, "--out", str(tmp_path)], capsys)
    _assert_one_line_error(code, output, "perllm-opt-paper", f"--jobs: got '{jobs}'")
    assert not any(Path(tmp_path).iterdir())  # nothing started


#: perllm-opt-gap: name -> (file contents, or None for a missing file; the culprit).
GAP = {
    "negative_capacity": ("1\n2 2\n1 2 3 4\n1 1 1 1\n5 -1\n", "instance 1 capacities: got -1"),
    "negative_resource": ("1\n2 2\n1 2 3 4\n1 -3 1 1\n5 5\n", "instance 1 resources: got -3"),
    "not_a_number": ("1\n2 2\n1 2 x 4\n1 1 1 1\n5 5\n", "got 'x', expected whole numbers"),
    "too_few": ("1\n2 2\n1 2 3 4\n1 1\n", "got '9 numbers', expected 11"),
    "left_over": ("1\n2 2\n1 2 3 4\n1 1 1 1\n5 5 9\n", "got '1 numbers left over'"),
    "no_instance": ("0\n", "instance count: got 0"),
    "bad_sizes": ("1\n0 2\n", "instance 1 sizes: got (0, 2)"),
    "missing_file": (None, "GAP file: got"),
}


@pytest.mark.parametrize("name", sorted(GAP))
def test_perllm_opt_gap(name, tmp_path, capsys):
    from perllm_opt.cli.gap import main

    text, culprit = GAP[name]
    path = tmp_path / f"{name}.txt"
    if text is not None:
        path.write_text(text, "utf-8")
    code = main([str(path), "--sense", "min"])
    captured = capsys.readouterr()
    assert code == 2
    _assert_one_line_error(code, captured.out + captured.err, "perllm-opt-gap", culprit)


def test_gap_infeasible_instance_prints_no_bound(tmp_path, capsys):
    """Capacities of 0 with positive resources: infeasible, shown as such (no -inf bound),
    exit 1 (not every instance solved)."""
    from perllm_opt.cli.gap import main

    path = tmp_path / "infeasible.txt"
    path.write_text("1\n2 2\n1 2 3 4\n1 1 1 1\n0 0\n", "utf-8")
    assert main([str(path), "--sense", "min"]) == 1
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[3:6] == ["infeasible", "-", "-"]


@pytest.mark.parametrize("case", ["missing", "a_file"])
def test_perllm_opt_collect(case, tmp_path, capsys):
    from perllm_opt.cli.collect import main

    target = tmp_path / "sweep"
    if case == "a_file":
        target.write_text("not a directory", "utf-8")
    code = main([str(target)])
    captured = capsys.readouterr()
    _assert_one_line_error(code, captured.out + captured.err, "perllm-opt-collect", "SWEEP_DIR")
