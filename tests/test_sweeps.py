"""Sweeps: parallel with joblib, on a local Ray, resumable, robust to a failing run; and the
collected table."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from perllm_opt.cli.collect import main as collect_main
from perllm_opt.evaluation.collect import collect, t975

FAST = ["horizon_s=60", "optimal=false", "schedulers=[cs_ucb,random]", "progress=false"]


def sweep(sweep_dir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "perllm_opt.cli.main",
        "-m",
        *FAST,
        *args,
        f"hydra.sweep.dir={sweep_dir}",
    ]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=sweep_dir.parent,
        timeout=timeout,
        env={**os.environ, "PERLLM_JOBS": "2"},
    )


def run_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent for p in sweep_dir.rglob("metrics.json"))


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("joblib") / "sweep"
    proc = sweep(d, "seed=0,1", "workload.rate_rps=1,2")
    return proc, d


def test_four_run_joblib_sweep(joblib_sweep):
    proc, d = joblib_sweep
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = run_dirs(d)
    assert len(runs) == 4
    launcher = yaml.safe_load((d / "multirun.yaml").read_text())["hydra"]["launcher"]
    assert "Joblib" in launcher["_target_"]
    assert "4/4 complete" in proc.stderr or "4 complete" in proc.stderr


def test_collected_table(joblib_sweep):
    _, d = joblib_sweep
    assert collect_main([str(d)]) == 0
    table = pd.read_csv(d / "results.csv")
    assert len(table) == 8  # 4 runs x 2 schedulers
    assert {"run", "seed", "workload.rate_rps", "scheduler", "served", "energy_j"} <= set(
        table.columns
    )
    assert sorted(table["seed"].unique()) == [0, 1]
    # Wall-clock seconds apart from the results: one row per run and scheduler.
    assert "sim_s" not in table.columns
    timings = pd.read_csv(d / "timings.csv")
    assert len(timings) == 8 and (timings["sim_s"] > 0).all()
    assert timings[["run", "scheduler"]].equals(table[["run", "scheduler"]])
    assert sorted(table["workload.rate_rps"].unique()) == [1, 2]
    summary = pd.read_csv(d / "summary.csv")
    assert len(summary) == 4 and set(summary["n"]) == {2}
    cs = table[(table.scheduler == "cs_ucb") & (table["workload.rate_rps"] == 2)]["served"]
    row = summary[(summary.scheduler == "cs_ucb") & (summary["workload.rate_rps"] == 2)]
    assert float(row["served_mean"].iloc[0]) == pytest.approx(cs.mean())
    assert float(row["served_ci95"].iloc[0]) == pytest.approx(
        12.706 * cs.std(ddof=1) / math.sqrt(2)
    )
    first = {f: (d / f).read_bytes() for f in ("results.csv", "summary.csv")}
    assert collect_main([str(d)]) == 0
    assert first == {f: (d / f).read_bytes() for f in first}
    assert (d / "results.parquet").exists()


def test_failing_run_is_reported_and_others_kept(tmp_path):
    d = tmp_path / "sweep"
    proc = sweep(d, "workload.rate_rps=1,-1")
    # The other run finishes, then the sweep exits 1 so a script or cluster job can tell.
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "1 run(s) failed: exit code 1" in proc.stderr
    runs = run_dirs(d)
    assert len(runs) == 1 and runs[0].name.endswith("workload.rate_rps=1")
    failed = [p.parent for p in d.rglob("error.txt")]
    assert len(failed) == 1 and failed[0].name.endswith("workload.rate_rps=-1")
    error = (failed[0] / "error.txt").read_text()
    assert "workload.rate_rps" in error
    assert "1 complete, 1 failed" in proc.stderr
    col = collect(d)
    assert col.runs == 1 and col.failed == [failed[0].name]


def test_interrupted_sweep_resumes_without_redoing(tmp_path):
    d = tmp_path / "sweep"
    args = ["seed=0,1,2", "hydra/launcher=basic", "horizon_s=300"]
    cmd = [sys.executable, "-m", "perllm_opt.cli.main", "-m", *FAST, *args, f"hydra.sweep.dir={d}"]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and len(run_dirs(d)) < 1:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # interrupt the sweep after its first run
    proc.wait()
    done = run_dirs(d)
    assert 1 <= len(done) < 3
    stamps = {r: (r / "metrics.json").stat().st_mtime_ns for r in done}
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(run_dirs(d)) == 3
    for r, stamp in stamps.items():
        assert (r / "metrics.json").stat().st_mtime_ns == stamp, f"{r} was redone"
    assert f"{len(done)} complete from before" in again.stderr
    assert f"3 complete ({len(done)} kept from before, not redone), 0 failed" in again.stderr
    # No half-written file is left behind.
    assert not list(d.rglob("*.tmp"))


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_joblib_sweep(tmp_path: Path, d: Path) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "perllm_opt.cli.main",
        "-m",
        *FAST,
        "seed=0,1,2,3",
        "horizon_s=300",
        f"hydra.sweep.dir={d}",
    ]
    return subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PERLLM_JOBS": "2"},
    )


def _wait(condition, timeout_s: float = 300.0) -> bool:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_killed_sweep_leaves_no_worker_behind(tmp_path):
    d = tmp_path / "sweep"
    proc = _start_joblib_sweep(tmp_path, d)
    try:
        # Both workers busy with a run (their run directories exist).
        assert _wait(lambda: len(_children(proc.pid)) >= 2 and len(list(d.glob("*/.hydra"))) >= 2)
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert _wait(lambda: not any(_alive(w) for w in workers), timeout_s=20), [
            (w, _cmdline(w).split(b"\0")[-3:]) for w in workers if _alive(w)
        ]
    finally:
        if _alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_sweeps_identity_tells_when_it_has_ended():
    from perllm_opt.cli.watchdog import process_identity, sweep_is_gone

    me = process_identity(os.getpid())
    assert me is not None and not sweep_is_gone(me)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    theirs = process_identity(child.pid)
    assert theirs is not None and not sweep_is_gone(theirs)
    child.kill()
    child.wait()
    assert sweep_is_gone(theirs)  # ended
    boot, pid, start = me.split()
    assert sweep_is_gone(f"{boot} {pid} {int(start) + 1}")  # its pid, reused by another
    assert not sweep_is_gone(f"another-boot {pid} {start}")  # another machine: cannot tell
    assert not sweep_is_gone("") and not sweep_is_gone("garbled")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_run_that_starts_after_its_sweep_was_killed_exits(tmp_path):
    # The race CI met: the sweep was killed between a worker's start and its run's
    # watchdog, so the worker's parent was init already and the parent check saw no change.
    from perllm_opt.cli.watchdog import SWEEP_ID_ENV, SWEEP_PID_ENV, process_identity

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = process_identity(gone.pid)
    gone.wait()
    code = (
        "import time\n"
        "from perllm_opt.cli.watchdog import exit_with_parent\n"
        "exit_with_parent(interval_s=0.1)\n"
        "time.sleep(60)\n"
    )
    if identity is None:  # it ended before /proc was read: its identity is that of no process
        identity = f"{process_identity(os.getpid()).split()[0]} {gone.pid} 0"
    env = {**os.environ, SWEEP_PID_ENV: str(gone.pid), SWEEP_ID_ENV: identity}
    start = time.time()
    run = subprocess.run([sys.executable, "-c", code], env=env, timeout=60)
    assert run.returncode == 1 and time.time() - start < 30


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_worker_killed_mid_run_then_resume_loses_and_redoes_nothing(tmp_path):
    d = tmp_path / "sweep"
    proc = _start_joblib_sweep(tmp_path, d)
    try:
        assert _wait(
            lambda: (
                len(run_dirs(d)) >= 1
                and any(b"LokyProcess" in _cmdline(w) for w in _children(proc.pid))
            )
        )
        done = run_dirs(d)
        stamps = {r: (r / "metrics.json").stat().st_mtime_ns for r in done}
        victim = next(w for w in _children(proc.pid) if b"LokyProcess" in _cmdline(w))
        os.kill(victim, signal.SIGKILL)  # a worker dies in the middle of its run
        proc.communicate(timeout=300)
        assert proc.returncode != 0  # the sweep says it did not finish
    finally:
        if _alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    again = sweep(d, "seed=0,1,2,3", "horizon_s=300")
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(run_dirs(d)) == 4
    for r, stamp in stamps.items():
        assert (r / "metrics.json").stat().st_mtime_ns == stamp, f"{r} was redone"
    assert not list(d.rglob("*.tmp"))
    # Every run's results are whole and readable.
    assert collect(d).runs == 4


def test_resume_redoes_a_run_only_when_a_results_key_changed(tmp_path):
    d = tmp_path / "sweep"
    base = ["seed=0,1", "hydra/launcher=basic"]
    assert sweep(d, *base).returncode == 0

    def stamps() -> dict[Path, int]:
        return {r: (r / "metrics.json").stat().st_mtime_ns for r in run_dirs(d)}

    first = stamps()
    assert len(first) == 2
    # progress changes what is shown, not what is computed: nothing is redone.
    again = sweep(d, *base, "progress=true")
    assert again.returncode == 0, again.stderr[-2000:]
    assert stamps() == first
    assert "2 kept from before, not redone" in again.stderr
    # A results key that changed without renaming the run directory (a config file edited
    # between the two sweeps; here one run's saved config): that run, and only it, is redone.
    saved = run_dirs(d)[0] / "resolved_config.yaml"
    saved.write_text(saved.read_text().replace("horizon_s: 60.0", "horizon_s: 30.0"))
    changed = sweep(d, *base)
    assert changed.returncode == 0, changed.stderr[-2000:]
    now = stamps()
    assert [now[r] != first[r] for r in sorted(now)] == [True, False]
    assert "1 kept from before, not redone" in changed.stderr
    assert "horizon_s: 60.0" in saved.read_text()


def test_collect_skips_and_names_unreadable_runs(joblib_sweep, tmp_path, capsys):
    import shutil

    _, src = joblib_sweep
    d = tmp_path / "copy"
    shutil.copytree(src, d)
    runs = run_dirs(d)
    (runs[0] / "metrics.json").write_text('[{"scheduler": "cs_ucb", "served": 1', "utf-8")
    (runs[1] / "metrics.json").write_bytes(b"\xff\xfe[]")
    (runs[2] / "metrics.json").write_text('{"scheduler": "cs_ucb"}', "utf-8")
    assert collect_main([str(d)]) == 0
    err = capsys.readouterr().err
    for run, reason in [(runs[0], "not JSON"), (runs[1], "not UTF-8"), (runs[2], "result rows")]:
        line = next(ln for ln in err.splitlines() if run.name in ln)
        assert line.startswith("perllm-opt-collect: skipped") and reason in line
    table = pd.read_csv(d / "results.csv")
    assert sorted(table["run"].unique()) == [runs[3].relative_to(d).as_posix()]
    # Nothing readable at all: non-zero, and still no traceback.
    (runs[3] / "metrics.json").write_text("", "utf-8")
    assert collect_main([str(d)]) == 1
    assert "4 unreadable" in capsys.readouterr().err


def _process_tree(root: int) -> set[int]:
    """``root`` and every process descended from it (read from /proc)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def _listening(pids: set[int]) -> dict[tuple[str, int], str]:
    """TCP sockets in LISTEN state owned by ``pids``: (local address, port) -> process name."""
    inode_owner: dict[str, str] = {}
    for pid in pids:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inode_owner[target[8:-1]] = name
        except OSError:
            continue
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inode_owner:  # 0A: LISTEN
                continue
            hex_ip, hex_port = cols[1].split(":")
            raw = bytes.fromhex(hex_ip)
            # /proc stores each 32-bit word in host (little-endian) order.
            words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
            addr = ipaddress.ip_address(b"".join(words))
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
                addr = addr.ipv4_mapped
            found[(str(addr), int(hex_port, 16))] = inode_owner[cols[9]]
    return found


def test_listening_sockets_of_this_process():
    import socket

    with socket.socket() as loop, socket.socket() as anywhere:
        loop.bind(("127.0.0.1", 0))
        anywhere.bind(("0.0.0.0", 0))
        loop.listen()
        anywhere.listen()
        seen = _listening({os.getpid()})
        assert ("127.0.0.1", loop.getsockname()[1]) in seen
        assert ("0.0.0.0", anywhere.getsockname()[1]) in seen


@pytest.mark.slow
def test_two_run_sweep_on_local_ray(tmp_path):
    """A local Ray sweep completes, and every server of that Ray (GCS, raylet, workers,
    agents, driver) listens on loopback only."""
    d = tmp_path / "sweep"
    env_free = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    }
    cmd = [
        sys.executable,
        "-m",
        "perllm_opt.cli.main",
        "-m",
        *FAST,
        "seed=0,1",
        "hydra/launcher=ray",
        "+hydra.launcher.ray.init.num_cpus=2",
        f"hydra.sweep.dir={d}",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env_free, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    listening: dict[tuple[str, int], str] = {}
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        listening.update(_listening(_process_tree(proc.pid)))
        time.sleep(0.5)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-3000:]
    assert len(run_dirs(d)) == 2
    launcher = yaml.safe_load((d / "multirun.yaml").read_text())["hydra"]["launcher"]
    assert "Ray" in launcher["_target_"]
    rows = json.loads((run_dirs(d)[0] / "metrics.json").read_text())
    assert [r["scheduler"] for r in rows] == ["cs_ucb", "random"]
    names = set(listening.values())
    assert {"gcs_server", "raylet"} <= names, listening
    exposed = {k: v for k, v in listening.items() if not ipaddress.ip_address(k[0]).is_loopback}
    assert not exposed, f"a local Ray listens beyond loopback: {exposed}"


def test_t_quantiles():
    assert t975(1) == pytest.approx(12.706)
    assert t975(4) == pytest.approx(2.776)
    assert t975(100) == pytest.approx(1.96)
    assert math.isnan(t975(0))


def test_collect_rejects_missing_dir(tmp_path, capsys):
    assert collect_main([str(tmp_path / "nope")]) == 2
    assert "perllm-opt-collect: error:" in capsys.readouterr().err


RAY = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"


@pytest.mark.parametrize(
    ("launcher", "address", "environ", "expect_set"),
    [
        ({"_target_": RAY}, None, {}, True),
        ({"_target_": RAY}, "ray://h:10001", {}, False),
        (
            {"_target_": RAY},
            None,
            {"RAY_ADDRESS": "h:6379"},
            False,
        ),
        (
            {"_target_": RAY},
            None,
            {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"},
            False,
        ),
        (
            {"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"},
            None,
            {},
            False,
        ),
    ],
)
def test_local_ray_kept_on_loopback_only_when_no_cluster_is_named(
    launcher, address, environ, expect_set, monkeypatch
):
    from omegaconf import OmegaConf

    from perllm_opt.cli.ray_local import RAY_CLUSTER_ENV, keep_local_ray_on_loopback

    monkeypatch.delitem(sys.modules, "ray", raising=False)
    launcher = {**launcher, "ray": {"init": {"address": address}}}
    config = OmegaConf.create({"hydra": {"launcher": launcher}})
    env = dict(environ)
    assert keep_local_ray_on_loopback(config, env) is expect_set
    assert env.get(RAY_CLUSTER_ENV) == ("0" if expect_set else environ.get(RAY_CLUSTER_ENV))


def test_local_ray_refused_once_ray_is_imported(monkeypatch):
    from omegaconf import OmegaConf

    from perllm_opt.cli.ray_local import keep_local_ray_on_loopback

    monkeypatch.setitem(sys.modules, "ray", object())
    config = OmegaConf.create(
        {"hydra": {"launcher": {"_target_": "x.RayLauncher", "ray": {"init": {"address": None}}}}}
    )
    with pytest.raises(RuntimeError, match="every interface"):
        keep_local_ray_on_loopback(config, {})


def _valid_results(run_dir: Path) -> None:
    """Result files that parse and match their schema (for is_complete's checks)."""
    row = {"scheduler": "random", "requests": 3, "served": 1, "energy_j": 2.5}
    (run_dir / "metrics.json").write_text(json.dumps([row]), "utf-8")
    (run_dir / "summary.json").write_text("{}", "utf-8")
    (run_dir / "timings.json").write_text('{"rows": []}', "utf-8")
    (run_dir / "metrics.csv").write_text("scheduler\nrandom\n", "utf-8")
    (run_dir / "per_round.csv").write_text("round,random\n0,1\n", "utf-8")
    (run_dir / "inputs.json").write_text("{}", "utf-8")


def test_a_key_added_since_a_run_keeps_it_complete_at_its_earlier_value(tmp_path):
    """A run saved before ``solver.window_s`` and ``solver.checks`` existed is complete for a
    config where they are null (the earlier behaviour), and stale for one that sets one."""
    from perllm_opt.cli.run_dir import is_complete

    old = "seed: 0\nsolver:\n  name: highs\n  time_limit_s: 25.0\n"
    (tmp_path / "resolved_config.yaml").write_text(old, "utf-8")
    _valid_results(tmp_path)
    now = old + "  window_s: null\n  lookahead_blocks: 3\n  lookahead_relaxed: true\n"
    # The windowed search and placement budgets (issue 23) at the values of before.
    later = (
        "  search: false\n  search_window_s: 60.0\n  search_passes: 4\n"
        "  search_polish_passes: 1\n  search_checks: 50\n  search_warm: true\n"
        "  search_gap: 0.01\n  whole_max_options: 20000\n  placement_moves: 3\n"
        "  placement_nodes: 8\n"
        # The LP bound by blocks (issue 26): never, before.
        "  lp_max_options: null\n  lp_block_s: 120.0\n"
    )
    now += later
    assert is_complete(tmp_path, now + "  improve_passes: 1\n  checks: null\n")
    assert not is_complete(tmp_path, now + "  improve_passes: 1\n  checks: 100\n")
    searched = now.replace("search: false", "search: true")
    assert not is_complete(tmp_path, searched + "  improve_passes: 1\n  checks: null\n")
    assert not is_complete(tmp_path, now.replace("window_s: null", "window_s: 10.0"))
    by_blocks = now.replace("lp_max_options: null", "lp_max_options: 100000")
    assert not is_complete(tmp_path, by_blocks + "  improve_passes: 1\n  checks: null\n")
    assert not is_complete(tmp_path, now.replace("time_limit_s: 25.0", "time_limit_s: 5.0"))


@pytest.mark.parametrize(
    "name, text, reason",
    [
        ("metrics.json", '[{"scheduler": "random", "served": 1', "metrics.json"),
        ("metrics.json", "[]", "non-empty list"),
        ("metrics.json", '[{"scheduler": "random", "served": "many"}]', "served: got 'many'"),
        ("metrics.json", '[{"scheduler": "random", "served": true}]', "served: got True"),
        ("metrics.json", '[{"scheduler": "random", "energy_j": [1]}]', "energy_j: got [1]"),
        ("metrics.json", '[{"scheduler": "random", "objective": "x"}]', "objective: got 'x'"),
        ("summary.json", "[1, 2]", "summary.json: not a JSON object"),
        ("timings.json", "{", "timings.json"),
        ("metrics.csv", "", "metrics.csv: empty"),
        ("per_round.csv", None, "per_round.csv"),
        ("inputs.json", '{"topology.path": "00"}', "topology.path changed"),
    ],
)
def test_a_run_whose_files_do_not_check_out_is_not_complete(tmp_path, name, text, reason):
    """Each result file must parse and match its schema, and the input files must hash as
    when the run was made; the reason names the file or the key."""
    from perllm_opt.cli.run_dir import stale_reason

    cfg = "seed: 0\n"
    (tmp_path / "resolved_config.yaml").write_text(cfg, "utf-8")
    _valid_results(tmp_path)
    assert stale_reason(tmp_path, cfg) is None
    if text is None:
        (tmp_path / name).unlink()
    else:
        (tmp_path / name).write_text(text, "utf-8")
    why = stale_reason(tmp_path, cfg)
    assert why is not None and reason in why, why


def test_input_digests_follow_the_files_content(tmp_path):
    """The resume key holds a SHA-256 of every file the config names; a packaged trace is
    hashed by its file, a missing file is None, an unnamed key is absent."""
    import hashlib

    from perllm_opt.cli.run_record import input_digests

    topo = tmp_path / "t.json"
    topo.write_text("{}", "utf-8")
    cfg = {
        "topology": {"path": str(topo)},
        "workload": {"trace_path": "azure-conv-2023"},
        "calibration": {"models_file": str(tmp_path / "none.yaml"), "devices_file": None},
    }
    first = input_digests(cfg)
    assert first["topology.path"] == hashlib.sha256(b"{}").hexdigest()
    assert first["workload.trace_path"] is not None
    assert first["calibration.models_file"] is None
    assert "calibration.devices_file" not in first
    topo.write_text('{"nodes": []}', "utf-8")
    assert input_digests(cfg)["topology.path"] != first["topology.path"]


def test_input_digests_of_real_networks_and_sites(tmp_path):
    """A system built on real data is resumed only while its network (or site and user
    files) are as they were: a copy in topology.zoo.data_dir is hashed, and its change seen."""
    import hashlib
    import shutil

    from perllm_opt.cli.run_record import input_digests
    from perllm_opt.system.networks import resolve_network

    packaged = resolve_network("Abilene")
    zoo = {"topology": {"preset": "zoo", "network": "Abilene", "zoo": {"data_dir": None}}}
    assert (
        input_digests(zoo)["topology.network"] == hashlib.sha256(packaged.read_bytes()).hexdigest()
    )
    shutil.copy(packaged, tmp_path / "Abilene.json")
    zoo["topology"]["zoo"]["data_dir"] = str(tmp_path)
    before = input_digests(zoo)["topology.network"]
    (tmp_path / "Abilene.json").write_text("{}", "utf-8")
    assert input_digests(zoo)["topology.network"] not in (None, before)
    zoo["topology"]["network"] = "Nowhere"
    assert input_digests(zoo) == {"topology.network": None}
    eua = {"topology": {"preset": "eua", "eua": {"data_dir": None}}}
    assert set(input_digests(eua)) == {
        "topology.eua.site-optus-melbCBD.csv",
        "topology.eua.users-melbcbd-generated.csv",
    }
    assert None not in input_digests(eua).values()


def _single(run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "perllm_opt.cli.main", *FAST, f"hydra.run.dir={run_dir}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=run_dir.parent, timeout=600)


def test_a_run_directory_holding_another_configs_run_is_not_overwritten(tmp_path):
    """``seed=1`` into the directory of a ``seed=0`` run is refused with one line and no
    file touched (Hydra's .hydra files included); ``overwrite=true`` replaces it whole; the
    same config again is a plain rerun."""
    d = tmp_path / "run"
    first = _single(d, "seed=0")
    assert first.returncode == 0, first.stderr[-2000:]
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file() and p.suffix != ".log"}
    other = _single(d, "seed=1")
    assert other.returncode == 2, other.stderr[-2000:]
    errors = [ln for ln in other.stderr.splitlines() if ln.startswith("perllm-opt: error:")]
    assert len(errors) == 1 and "hydra.run.dir" in errors[0] and "seed" in errors[0]
    assert "overwrite=true" in errors[0] and "Traceback" not in other.stderr
    assert {p: p.read_bytes() for p in before} == before
    again = _single(d, "seed=0", "progress=true")  # the same results config
    assert again.returncode == 0, again.stderr[-2000:]
    forced = _single(d, "seed=1", "overwrite=true")
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert "seed: 1" in (d / "resolved_config.yaml").read_text()
    assert (d / "metrics.json").read_bytes() != before[d / "metrics.json"]


def test_resume_redoes_a_run_whose_results_were_cut_short(tmp_path):
    d = tmp_path / "sweep"
    base = ["seed=0,1", "hydra/launcher=basic", "horizon_s=30"]
    assert sweep(d, *base).returncode == 0
    runs = run_dirs(d)
    kept = (runs[1] / "metrics.json").stat().st_mtime_ns
    cut = runs[0] / "metrics.json"
    cut.write_bytes(cut.read_bytes()[:100])
    again = sweep(d, *base)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "2 complete (1 kept from before, not redone), 0 failed" in again.stderr
    assert "redone (its results do not parse" in again.stdout + again.stderr
    assert json.loads(cut.read_text())[0]["scheduler"] == "cs_ucb"
    assert (runs[1] / "metrics.json").stat().st_mtime_ns == kept


def test_resume_redoes_the_runs_whose_topology_file_changed(tmp_path):
    """Resume compares the files a config names, not only the config: after the topology
    file is edited, every run on it is redone and gives the new file's results."""
    import networkx as nx

    from perllm_opt.system.topology import PRESETS

    topo = tmp_path / "t.json"
    graph = PRESETS["paper"]()
    topo.write_text(json.dumps(nx.node_link_data(graph, edges="links")), "utf-8")
    d = tmp_path / "sweep"
    base = ["seed=0,1", "hydra/launcher=basic", "horizon_s=30", "topology=file"]
    base += [f"topology.path={topo}"]
    first = sweep(d, *base)
    assert first.returncode == 0, first.stderr[-2000:]
    served = {r: json.loads((r / "metrics.json").read_text())[0]["served"] for r in run_dirs(d)}
    unchanged = sweep(d, *base)
    assert "2 complete (2 kept from before, not redone)" in unchanged.stderr
    for *_, data in graph.edges(data=True):
        data["bandwidth_mbps"] = 2.0  # every link starved
    topo.write_text(json.dumps(nx.node_link_data(graph, edges="links")), "utf-8")
    changed = sweep(d, *base)
    assert changed.returncode == 0, changed.stderr[-2000:]
    assert "2 complete, 0 failed" in changed.stderr
    assert "topology.path changed since" in changed.stdout + changed.stderr
    now = {r: json.loads((r / "metrics.json").read_text())[0]["served"] for r in run_dirs(d)}
    assert all(now[r] < served[r] for r in served), (served, now)


def test_a_sweeps_exit_code_counts_only_its_own_runs(tmp_path):
    """After ``seed=0,-1`` failed once, ``seed=0,1`` into the same directory succeeds: the
    earlier sweep's failed run is not one of this command's."""
    d = tmp_path / "sweep"
    bad = sweep(d, "seed=0,-1", "hydra/launcher=basic", "horizon_s=30")
    assert bad.returncode == 1
    good = sweep(d, "seed=0,1", "hydra/launcher=basic", "horizon_s=30")
    assert good.returncode == 0, good.stderr[-2000:]
    assert "2 complete (1 kept from before, not redone), 0 failed" in good.stderr
    assert "exit code 1" not in good.stderr
    # The failed run is still there, and its sweep's command would still report it.
    assert len(list(d.rglob("error.txt"))) == 1


def test_collect_counts_a_copied_sweep_once(joblib_sweep, tmp_path, capsys):
    """Two copies of one sweep in one directory: each run is counted once (n=2 seeds per
    group, as in one copy, not 4) and every duplicate is named."""
    import shutil

    _, src = joblib_sweep
    d = tmp_path / "both"
    shutil.copytree(src, d / "a")
    shutil.copytree(src, d / "b")
    assert collect_main([str(d)]) == 0
    err = capsys.readouterr().err
    assert err.count("a duplicate run") == 4
    summary = pd.read_csv(d / "summary.csv")
    assert set(summary["n"]) == {2}
    table = pd.read_csv(d / "results.csv")
    assert len(table) == 8 and table["run"].str.startswith("a/").all()


def test_collect_checks_types_before_writing(joblib_sweep, tmp_path, capsys):
    """A ``served`` that is a string: the run is skipped and named, the others collected; if
    no run is left, nothing is written at all (no half-made results.csv)."""
    import shutil

    _, src = joblib_sweep
    d = tmp_path / "copy"
    shutil.copytree(src, d)
    for f in ("results.csv", "summary.csv", "timings.csv", "results.parquet"):
        (d / f).unlink(missing_ok=True)
    runs = run_dirs(d)
    rows = json.loads((runs[0] / "metrics.json").read_text())
    rows[0]["served"] = "112"
    (runs[0] / "metrics.json").write_text(json.dumps(rows), "utf-8")
    assert collect_main([str(d)]) == 0
    err = capsys.readouterr().err
    assert "served: got '112', expected a whole number" in err
    assert len(pd.read_csv(d / "results.csv")) == 6
    for f in ("results.csv", "summary.csv", "timings.csv", "results.parquet"):
        (d / f).unlink(missing_ok=True)
    for r in runs[1:]:
        (r / "metrics.json").write_text(json.dumps(rows), "utf-8")
    assert collect_main([str(d)]) == 1
    assert not [
        p
        for p in d.iterdir()
        if p.is_file() and p.name != "multirun.yaml" and not p.name.startswith(".")
    ]
