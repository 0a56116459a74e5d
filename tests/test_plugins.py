"""Plugins from a user's own directory, without editing the package (README, "Extending"): a
scheduler (a class in the user's module, its config on ``hydra.searchpath``), a topology (a
config naming the user's graph) and a device (``calibration.extra_devices_file``), run by the
main program; and the one-line errors for the user's mistakes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

import perllm_opt
from perllm_opt.system.catalog import load_catalog

#: The files of README's "Extending" (test_readme_shows_these_files keeps them the same).
FILES = {
    "low_power.py": '''\
"""low_power: each request on a server that idles at most max_idle_w watts."""

from dataclasses import dataclass

import numpy as np

from perllm_opt import Scheduler
from perllm_opt.simulation.view import RoundView, free_mask


@dataclass
class LowPower(Scheduler):
    """The first free candidate on a server idling at most ``max_idle_w`` W; else decline."""

    name: str = "low_power"
    max_idle_w: float = 10.0

    def select(self, view: RoundView, k: int) -> int:
        t = self.info.templates[int(view.template[k])]
        low = self.info.server_idle_power_w[t.server] <= self.max_idle_w
        hits = np.flatnonzero(free_mask(self.info, view, k, t) & low)
        return int(hits[0]) if len(hits) else -1
''',
    "conf/scheduler/low_power.yaml": """\
# @package scheduler.low_power
defaults:
  - /schema/scheduler/low_power@_here_
  - _self_
_target_: low_power.LowPower
max_idle_w: 6.0
""",
    "conf/topology/two_zones.yaml": """\
# Two user zones, an edge box in each, one cloud site: two_zones.json.
preset: null
path: two_zones.json
wan_bandwidth_mbps: null
""",
    "two_zones.json": """\
{"nodes": [
  {"id": "zone-a", "kind": "user"},
  {"id": "zone-b", "kind": "user"},
  {"id": "edge-a", "kind": "edge", "device": "orin-nano-8gb"},
  {"id": "edge-b", "kind": "edge", "device": "orin-nano-8gb"},
  {"id": "cloud", "kind": "cloud", "device": "a100-80gb", "count": 2}],
 "links": [
  {"source": "zone-a", "target": "edge-a", "bandwidth_mbps": 100, "latency_ms": 5},
  {"source": "zone-b", "target": "edge-b", "bandwidth_mbps": 100, "latency_ms": 5},
  {"source": "edge-a", "target": "cloud", "bandwidth_mbps": 20, "latency_ms": 40,
   "energy_uj_per_bit": 2.0, "fluctuates": true},
  {"source": "edge-b", "target": "cloud", "bandwidth_mbps": 20, "latency_ms": 40,
   "energy_uj_per_bit": 2.0, "fluctuates": true}]}
""",
    "my_devices.yaml": """\
# NVIDIA Jetson Orin Nano 8GB, 4-bit weights: my own measurements.
devices:
  orin-nano-8gb:
    memory_gb: 7
    idle_power_w: 5
    active_power_w: 15
    precision: q4_0
    share_levels: [0.5, 1.0]
    models:
      llama2-7b: {prefill_tok_s: 200, decode_floor_s_per_token: 0.06, decode_tok_s: 30}
""",
}

#: The run of README's "Extending", on a short horizon.
ARGS = [
    "+scheduler=low_power",
    "schedulers=[low_power,greedy_energy]",
    "topology=two_zones",
    "calibration.extra_devices_file=my_devices.yaml",
    "horizon_s=30",
    "optimal=false",
    "progress=false",
]


def write_user_dir(root: Path, changes: dict[str, tuple[str, str]] | None = None) -> Path:
    """The files of :data:`FILES` under ``root``, with ``changes``: file -> (old, new)."""
    for name, text in FILES.items():
        if changes and name in changes:
            old, new = changes[name]
            assert old in text
            text = text.replace(old, new)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return root


def run_main(user_dir: Path, args: list[str], monkeypatch, capsys) -> tuple[int, str, str, Path]:
    """``perllm-opt`` in-process, from ``user_dir``, with it on ``sys.path`` (as
    ``PYTHONPATH=.`` puts it) and its ``conf`` on Hydra's search path."""
    import perllm_opt.cli.main as cli_main

    out = user_dir / "out"
    argv = [f"hydra.searchpath=[file://{user_dir / 'conf'}]", f"hydra.run.dir={out}", *args]
    monkeypatch.setattr(sys, "argv", ["perllm-opt", *argv])
    monkeypatch.chdir(user_dir)
    monkeypatch.syspath_prepend(str(user_dir))
    monkeypatch.delitem(sys.modules, "low_power", raising=False)  # each test its own module
    capsys.readouterr()
    try:
        cli_main.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err, out


def test_user_scheduler_topology_and_device_run(tmp_path, monkeypatch, capsys):
    user = write_user_dir(tmp_path)
    code, stdout, stderr, out = run_main(user, ARGS, monkeypatch, capsys)
    assert code == 0, stderr
    rows = json.loads((out / "metrics.json").read_text("utf-8"))
    assert [r["scheduler"] for r in rows] == ["low_power", "greedy_energy"]
    assert "low_power" in stdout  # the printed table
    # The user's topology: 2 zones, 3 servers (the default preset has 3 zones, 4 servers).
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert (summary["zones"], summary["servers"]) == (2, 3)
    # low_power serves only on servers idling at <= 6 W: only the user's device (5 W) does,
    # none of the packaged ones, so what it served ran on the user's device.
    assert min(d.idle_power_w for d in load_catalog().devices.values()) > 6.0
    low = rows[0]
    assert low["served"] > 0 and low["requests"] == rows[1]["requests"]
    resolved = yaml.safe_load((out / "resolved_config.yaml").read_text("utf-8"))
    assert resolved["scheduler"]["low_power"] == {
        "_target_": "low_power.LowPower",
        "max_idle_w": 6.0,
    }


def test_load_config_takes_the_users_directory(tmp_path, monkeypatch):
    user = write_user_dir(tmp_path)
    monkeypatch.chdir(user)
    monkeypatch.syspath_prepend(str(user))
    monkeypatch.delitem(sys.modules, "low_power", raising=False)
    config = perllm_opt.load_config(ARGS, searchpath=[user / "conf"])
    instance = perllm_opt.build_instance(config)
    assert instance.topology.server_device == ("orin-nano-8gb", "orin-nano-8gb", "a100-80gb")
    assert instance.catalog.devices["orin-nano-8gb"].idle_power_w == 5.0
    assert "cpu-xeon-4214r" in instance.catalog.devices  # added to the packaged ones
    sched = perllm_opt.make_scheduler("low_power", config.scheduler["low_power"])
    assert type(sched).__name__ == "LowPower" and sched.max_idle_w == 6.0


BAD = {
    # A _target_ that does not import: the key, the value and why.
    "target": (
        {"conf/scheduler/low_power.yaml": ("low_power.LowPower", "low_powr.LowPower")},
        [],
        ["scheduler.low_power._target_", "'low_powr.LowPower'", "No module named", "PYTHONPATH"],
    ),
    # The topology names a device nobody defined (the devices file not given).
    "device": (
        {},
        ["calibration.extra_devices_file=null"],
        ["server 'edge-a'.device", "'orin-nano-8gb'", "a known device profile"],
    ),
    # A user's device under a packaged device's name.
    "duplicate": (
        {"my_devices.yaml": ("orin-nano-8gb:", "a100-80gb:")},
        [],
        ["calibration.extra_devices_file", "'a100-80gb'", "a new device name"],
    ),
    # The user's hyperparameters are typed like the packaged ones'.
    "type": ({}, ["scheduler.low_power.max_idle_w=lots"], ["max_idle_w", "lots"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_user_mistakes_are_one_line_errors(case, tmp_path, monkeypatch, capsys):
    changes, extra, needles = BAD[case]
    user = write_user_dir(tmp_path, changes)
    code, _, stderr, out = run_main(user, [*ARGS, *extra], monkeypatch, capsys)
    assert code == 2, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr, (needle, stderr)
    if case != "type":  # Hydra's own message for a wrong type spans a few lines
        assert len([line for line in stderr.splitlines() if line.strip()]) == 1, stderr
    assert not (out / "metrics.json").exists()


def test_readme_shows_these_files():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    section = readme.split("## Extending", 1)[1].split("\n## ", 1)[0]
    for name, text in FILES.items():
        indented = "\n".join(f"    {line}" if line else "" for line in text.rstrip().split("\n"))
        assert indented in section, name
        assert f"`{Path(name).name}`" in section or f"`{name}`" in section, name
    for arg in ARGS[:4]:
        assert arg in section, arg
