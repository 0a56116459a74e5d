"""Bad input, table-driven: each case is a user mistake given to an entry point, and each must
end with exit code 2, one line ``<command>: error: ...`` naming the culprit, and no traceback
(issue 11). Entry points are called in-process (no start-up cost per case)."""

from __future__ import annotations

import json
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
    "budget_tiny": (
        ["memory_budget_gb=0.01"],
        {},
        "expected a run that fits memory_budget_gb=0.01 (lower these",
    ),
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

#: Deadlines of 1-2 ms for every service of conf/services/default.yaml.
_MS_DEADLINES = [
    f"services.{i}.deadline_{end}_s={value}"
    for i in range(3)
    for end, value in (("min", 0.001), ("max", 0.002))
]

#: Issue 28: results' integrity, impossible settings, Hydra's own reports, the size guard's
#: other keys; and more mistakes of the same kinds.
PERLLM_OPT.update(
    {
        # Hydra's several-line reports, now one line naming the key.
        "seed_not_an_integer": (["seed=1.5"], {}, "seed: "),
        "seed_text": (["seed=abc"], {}, "seed: "),
        "horizon_text": (["horizon_s=abc"], {}, "horizon_s: "),
        "optimal_not_a_bool": (["optimal=maybe"], {}, "optimal: "),
        "deployment_unknown": (["deployment=nope"], {}, "Could not find 'deployment/nope'"),
        "services_group_unknown": (["services=nope"], {}, "Could not find 'services/nope'"),
        "key_misspelt": (["sedd=1"], {}, "sedd: "),
        "override_unbalanced": (["schedulers=[cs_ucb"], {}, "'[cs_ucb'"),
        "key_added_unread": (["+x=1"], {}, "x: got 1"),
        "nested_key_added_unread": (["+system.epoch=2"], {}, "system.epoch: got 2"),
        # Run directories that name a file.
        "run_dir_names_a_file": (
            ["hydra.run.dir={tmp}/afile"],
            {},
            "hydra.run.dir: got '{tmp}/afile', expected a directory",
        ),
        "sweep_dir_names_a_file": (
            ["-m", "seed=0", "hydra.sweep.dir={tmp}/afile"],
            {},
            "hydra.sweep.dir: got '{tmp}/afile', expected a directory",
        ),
        # No request can ever be on time.
        "rounds_longer_than_every_deadline": (
            ["system.mode=rounds", "system.round_s=1000"],
            {},
            "system.round_s: got 1000.0, expected settings under which some request",
        ),
        "epoch_past_the_horizon": (
            ["system.epoch_s=100"],
            {},
            "system.epoch_s, services[doc].deadline_max_s: got 'an epoch of 100 s",
        ),
        "deadlines_of_milliseconds": (
            _MS_DEADLINES,
            {},
            "deadline_max_s: got 'an epoch of 1 s, deadlines up to 0.002 s'",
        ),
        "deadlines_of_milliseconds_short_epoch": (
            [*_MS_DEADLINES, "system.epoch_s=0.001"],
            {},
            "deadline_max_s: got 0.002, expected settings under which some request",
        ),
        "deadline_min_above_max": (
            ["services.0.deadline_min_s=50"],
            {},
            "services[assistant].deadline_max_s: got 40.0",
        ),
        # The size guard names the key behind its largest term.
        "epochs_beyond_memory": (["system.epoch_s=1e-9"], {}, "system.epoch_s: got 'about"),
        "rounds_beyond_memory": (
            ["system.mode=rounds", "system.round_s=1e-7"],
            {},
            "system.round_s: got 'about",
        ),
        "bins_beyond_memory": (["system.bin_s=1e-7"], {}, "system.bin_s: got 'about"),
        "sleep_blocks_beyond_memory": (
            ["system.sleep_block_s=1e-7"],
            {},
            "system.sleep_block_s: got 'about",
        ),
        "intervals_beyond_memory": (
            ["dynamics.interval_s=1e-6"],
            {},
            "dynamics.interval_s: got 'about",
        ),
        "rate_levels_beyond_memory": (
            [
                f"system.rate_levels_mbps=[{','.join(str(r) for r in range(1, 1001))}]",
                "memory_budget_gb=1",
            ],
            {},
            "system.rate_levels_mbps, horizon_s, workload.rate_rps, topology: got 'about",
        ),
        # Values a check refuses outright.
        "horizon_zero": (["horizon_s=0"], {}, "horizon_s: got 0.0"),
        "horizon_negative": (["horizon_s=-5"], {}, "horizon_s: got -5.0"),
        "epoch_zero": (["system.epoch_s=0"], {}, "system.epoch_s: got 0.0"),
        "interval_zero": (["dynamics.interval_s=0"], {}, "dynamics.interval_s: got 0.0"),
        "rate_zero": (["workload.rate_rps=0"], {}, "workload.rate_rps: got 0.0"),
        "rate_levels_empty": (["system.rate_levels_mbps=[]"], {}, "system.rate_levels_mbps"),
        "rate_levels_twice": (
            ["system.rate_levels_mbps=[2,2]"],
            {},
            "system.rate_levels_mbps: got [2.0, 2.0]",
        ),
        "rate_levels_negative": (
            ["system.rate_levels_mbps=[-1]"],
            {},
            "system.rate_levels_mbps: got -1.0",
        ),
        "wan_negative": (
            ["topology.wan_bandwidth_mbps=-5"],
            {},
            "topology.wan_bandwidth_mbps: got -5.0",
        ),
        "nearest_edge_servers_zero": (
            ["topology.nearest_edge_servers=0"],
            {},
            "topology.nearest_edge_servers: got 0, expected an integer >= 1",
        ),
        "scheduler_unknown": (["schedulers=[nope]"], {}, "schedulers: got 'nope'"),
        "scheduler_twice": (["schedulers=[random,random]"], {}, "schedulers: got"),
        "placement_unknown": (["placement=nope"], {}, "placement: got 'nope'"),
        # Files that are not what their key expects.
        "trace_a_directory": (
            ["workload.kind=trace", "workload.trace_path={tmp}"],
            {},
            "workload.trace_path: got '{tmp}'",
        ),
        "trace_header_only": (
            ["workload.kind=trace", "workload.trace_path={tmp}/header.csv"],
            {},
            "header.csv: got 'a header but no requests'",
        ),
        "trace_empty": (
            ["workload.kind=trace", "workload.trace_path={tmp}/empty.csv"],
            {},
            "empty.csv: got 'an empty file'",
        ),
        "topology_a_directory": (
            ["topology.preset=null", "topology.path={tmp}"],
            {},
            "topology.path: got '{tmp}'",
        ),
        "topology_not_json": (
            ["topology.preset=null", "topology.path={tmp}/broken.json"],
            {},
            "topology.path: got '{tmp}/broken.json', expected valid JSON",
        ),
        "models_file_a_directory": (
            ["calibration.models_file={tmp}"],
            {},
            "calibration file: got '{tmp}'",
        ),
    }
)


#: Issue 26: systems on real networks and sites, and the Mooncake trace layout. (Its three
#: input holes, a server count of 1e12, an epoch past the horizon and a run directory that
#: names a file, are the cases count_beyond_any_site, epoch_past_the_horizon and
#: run_dir_names_a_file.)
PERLLM_OPT.update(
    {
        "zoo_network_unknown": (
            ["topology=zoo", "topology.network=Geant"],
            {},
            "topology.network: got 'Geant', expected a node-link JSON file or one of the",
        ),
        "zoo_network_without_zoo": (
            ["topology.network=Geant2012"],
            {},
            "topology.network: got 'Geant2012', expected no network unless",
        ),
        "zoo_data_dir_missing": (
            ["topology=zoo", "topology.zoo.data_dir={tmp}/nets"],
            {},
            "topology.zoo.data_dir: got '{tmp}/nets', expected an existing folder",
        ),
        "zoo_network_too_small": (
            ["topology=zoo", "topology.network={tmp}/one_node.json"],
            {},
            "topology.network: got 'one_node (1 connected node)'",
        ),
        "zoo_network_no_positions": (
            ["topology=zoo", "topology.network={tmp}/no_positions.json"],
            {},
            "no_positions.json link (a, b): got \"no length 'dist' and no position of node 'a'\"",
        ),
        "zoo_edge_share_zero": (
            ["topology=zoo", "topology.zoo.edge_share=0"],
            {},
            "topology.zoo.edge_share: got 0.0",
        ),
        "zoo_device_unknown": (
            ["topology=zoo", "topology.zoo.edge_devices=[tpu-v5]"],
            {},
            "topology.zoo.edge_devices: got 'tpu-v5'",
        ),
        "zoo_cloud_count_beyond_any_site": (
            ["topology=zoo", "topology.zoo.cloud_count=1000000000000"],
            {},
            "topology.zoo.cloud_count: got 1000000000000",
        ),
        "eua_sites_beyond_the_data": (
            ["topology=eua", "topology.eua.sites=200"],
            {},
            "topology.eua.sites: got 200, expected at most the 125 sites",
        ),
        "eua_cloud_beyond_the_earth": (
            ["topology=eua", "topology.eua.cloud_distance_km=1e6"],
            {},
            "topology.eua.cloud_distance_km: got 1000000.0",
        ),
        "trace_format_unknown": (
            ["workload=mooncake", "workload.trace_format=parquet"],
            {},
            "workload.trace_format: got 'parquet'",
        ),
        "mooncake_line_malformed": (
            ["workload=mooncake", "workload.trace_path={tmp}/bad.jsonl"],
            {},
            "bad.jsonl line 2 input_length: got -3",
        ),
        "mooncake_as_azure": (
            ["workload=mooncake", "workload.trace_format=azure"],
            {},
            "expected columns ['TIMESTAMP', 'ContextTokens', 'GeneratedTokens']",
        ),
    }
)

#: Networks for the cases above: one node; a link with neither length nor positions.
_NETWORKS = {
    "one_node.json": {"nodes": [{"id": "a", "pos": [0, 0]}], "links": []},
    "no_positions.json": {
        "nodes": [{"id": "a", "name": "a"}, {"id": "b", "name": "b"}],
        "links": [{"source": "a", "target": "b"}],
    },
}


def _graph(node_extra=None, link_extra=None, nodes_extra=(), links_extra=()) -> bytes:
    """A node-link JSON topology: zone z, edge e, cloud c; z-e and z-c links."""
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
    # Two links between one pair of nodes: the graph kept only the last (issue 28: a
    # 1-Mbps link written after a 100-Mbps one replaced it unseen).
    "duplicate_link": (
        _graph(
            links_extra=[{"source": "z", "target": "c", "bandwidth_mbps": 1, "latency_ms": 500}]
        ),
        "duplicate_link.json links: got \"two links between 'z' and 'c'\"",
    ),
    "duplicate_link_reversed": (
        _graph(
            links_extra=[{"source": "c", "target": "z", "bandwidth_mbps": 1, "latency_ms": 500}]
        ),
        "duplicate_link_reversed.json links: got \"two links between 'c' and 'z'\"",
    ),
    "self_loop": (
        _graph(links_extra=[{"source": "e", "target": "e", "bandwidth_mbps": 1, "latency_ms": 1}]),
        "self_loop.json links: got \"a link from 'e' to itself\"",
    ),
    "count_beyond_any_site": (
        _graph(node_extra={"count": 1e12}),
        "server 'e'.count: got 1000000000000.0",
    ),
    "count_infinite": (_graph(node_extra={"count": float("inf")}), "server 'e'.count: got inf"),
    "count_zero": (_graph(node_extra={"count": 0}), "server 'e'.count: got 0"),
    "count_fraction": (_graph(node_extra={"count": 2.5}), "server 'e'.count: got 2.5"),
    "count_text": (_graph(node_extra={"count": "many"}), "server 'e'.count: got 'many'"),
    "node_kind_unknown": (_graph(node_extra={"kind": "router"}), "node 'e'.kind: got 'router'"),
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
    "header.csv": b"TIMESTAMP,ContextTokens,GeneratedTokens\n",
    "empty.csv": b"",
    "broken.json": b'{"nodes": [',
    "afile": b"a file, not a directory\n",
    "bad.jsonl": b'{"timestamp": 0, "input_length": 5, "output_length": 1}\n'
    b'{"timestamp": 9, "input_length": -3, "output_length": 1}\n',
    **{name: json.dumps(data).encode() for name, data in _NETWORKS.items()},
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
    flags = [a for a in args if a == "-m"]  # Hydra takes its flags before the overrides
    args = [a for a in args if a != "-m"]
    argv = ["perllm-opt", *flags, *base, "progress=false", "optimal=false", "horizon_s=30"]
    argv += args
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.chdir(tmp_path)
    code, output = _run_main(cli_main.main, None, capsys)
    _assert_one_line_error(code, output, "perllm-opt", culprit.replace("{tmp}", str(tmp_path)))
    # Nothing was run: no results file anywhere, and the given files are as they were.
    assert not list(tmp_path.rglob("metrics.json"))
    for file, data in FILES.items():
        assert (tmp_path / file).read_bytes() == data


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
    # Beyond what the solver's doubles hold: HiGHS said 'optimal' with an infinite objective.
    "cost_beyond_doubles": (
        "1\n2 2\n1 2 3 " + "1" + "0" * 26 + "\n1 1 1 1\n5 5\n",
        "instance 1 costs: got '1e+26'",
    ),
    "cost_just_beyond_doubles": (
        f"1\n2 2\n1 2 3 {2**53 + 2}\n1 1 1 1\n5 5\n",
        "instance 1 costs: got '9.01e+15'",
    ),
    "capacity_beyond_doubles": (
        "1\n2 2\n1 2 3 4\n1 1 1 1\n5 " + "9" * 20 + "\n",
        "instance 1 capacities: got '1e+20'",
    ),
    "resource_beyond_doubles": (
        "1\n2 2\n1 2 3 4\n1 1 " + "-" + "9" * 17 + " 1\n5 5\n",
        "instance 1 resources: got",
    ),
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


def test_gap_costs_up_to_two_to_the_53_are_solved(tmp_path, capsys):
    """The magnitude limit is inclusive: a cost of 2^53 is accepted and the instance solved
    to its hand optimum (min: agent 1 takes job 1 at cost 1, agent 2 job 2 at cost 4)."""
    from perllm_opt.cli.gap import main

    path = tmp_path / "edge.txt"
    path.write_text(f"1\n2 2\n1 {2**53} 3 4\n1 1 1 1\n5 5\n", "utf-8")
    assert main([str(path), "--sense", "min"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[3] == "optimal" and float(row[4]) == 5.0  # 1 + 4


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
