"""Device profiles from llama-bench output (perllm_opt/calibration/llama_bench.py,
perllm_opt/calibration/devices.py, ``perllm-opt-calibrate``).

The sample files tests/data/llama_bench_sample.{csv,json,jsonl} hold the same six tests in
llama-bench's three machine-readable formats (tests/data/README.md: samples, not
measurements): for Llama-2-7B Q4_0 pp512 71.84 +- 0.63 tok/s, tg128 13.27 +- 0.05 tok/s,
plus a pp512 at depth 512 (58.95) and a pp512+tg128 test (36.25), both of which the
profile must ignore; for Llama-2-13B Q4_0 pp512 37.21 and tg128 7.02 tok/s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import yaml
from support import DATA, REPO, small_config

from perllm_opt.calibration.devices import Given, Template, calibrate
from perllm_opt.calibration.llama_bench import parse_llama_bench, read_llama_bench
from perllm_opt.calibration.model_map import ModelRule, precision_of
from perllm_opt.cli import calibrate as cli
from perllm_opt.config import CalibrationConfig, TopologyConfig
from perllm_opt.errors import InputError
from perllm_opt.instance.build import build_instance
from perllm_opt.system.catalog import load_catalog

SAMPLES = {fmt: DATA / f"llama_bench_sample.{fmt}" for fmt in ("csv", "json", "jsonl")}
#: A box like the sample's: stated memory, estimated powers with their ranges.
OPTS = ["--memory-gb", "64", "--idle-power-w", "9", "6", "12", "--active-power-w", "60", "45", "80"]


def _template(catalog, name="cpu-xeon-4214r"):
    raw = yaml.safe_load((REPO / "perllm_opt/data/devices.yaml").read_text())
    return Template(catalog.devices[name], raw["devices"][name], "devices.yaml")


def _calibrated(catalog, path, **kw):
    kw.setdefault("template", _template(catalog))
    return calibrate("minipc", read_llama_bench(path), catalog.models, **kw)


def _csv(tmp_path, rows, header=None, name="bench.csv"):
    """A CSV file in llama-bench's layout (header row, every value quoted)."""
    header = header or list(rows[0])
    lines = [",".join(header)] + [",".join(f'"{r[h]}"' for h in header) for r in rows]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _sample_records():
    return json.loads(SAMPLES["json"].read_text())


def test_the_three_formats_read_alike():
    rows = {fmt: read_llama_bench(p) for fmt, p in SAMPLES.items()}
    strip = {fmt: [replace(r, source="", where="") for r in rs] for fmt, rs in rows.items()}
    assert strip["csv"] == strip["json"] == strip["jsonl"]
    assert [r.label for r in rows["csv"]] == [
        "pp512",
        "tg128",
        "pp512 @ d512",
        "pp512+tg128",
        "pp512",
        "tg128",
    ]
    assert [r.where for r in rows["csv"]][:2] == ["line 2", "line 3"]
    assert [r.where for r in rows["json"]][:2] == ["item 1", "item 2"]
    assert [r.where for r in rows["jsonl"]][:2] == ["line 1", "line 2"]


def test_profile_values_are_the_sample_rows(catalog):
    dev = _calibrated(catalog, SAMPLES["csv"])
    m7, m13 = dev.measured
    assert (m7.model, m13.model) == ("llama2-7b", "llama2-13b")
    # pp512 at depth 0, not the depth-512 (58.95) or the pp+tg (36.25) test.
    assert m7.prefill_tok_s == 71.84 and m7.pp.where == "line 2"
    # 1 / avg_ts of the tg128 rows, kept to 6 significant digits.
    assert m7.decode_floor_s_per_token == 0.075358 == float(f"{1 / 13.27:.6g}")
    assert m13.prefill_tok_s == 37.21
    assert m13.decode_floor_s_per_token == 0.14245 == float(f"{1 / 7.02:.6g}")
    # Saturated decode: the template's gain for the model, 44.5 x 0.0737 = 3.28 (3 digits).
    assert m7.decode_gain.value == 3.28 and (m7.decode_gain.low, m7.decode_gain.high) == (
        1.64,
        6.56,
    )
    assert m7.decode_tok_s == pytest.approx(3.28 * 13.27, rel=1e-6)
    assert m13.decode_gain.value == 3.23  # 23.1 x 0.1397
    # Not measured: the template's values and ranges (devices.yaml's cpu-xeon-4214r).
    assert (dev.memory_gb.value, dev.memory_gb.low, dev.memory_gb.high) == (128, 64, 256)
    assert (dev.idle_power_w.value, dev.active_power_w.value) == (80, 200)
    assert dev.precision == "q4_0" and dev.share_levels == (0.25, 0.5, 1.0)
    entry = dev.entry()
    assert entry["range"]["idle_power_w"] == [60.0, 100.0]
    src = "\n".join(entry["sources"])
    assert "prefill_tok_s 71.84 [F, measured: llama-bench pp512 71.84 ± 0.63 tok/s" in src
    assert "llama_bench_sample.csv line 3" in src  # the tg row of the floor
    assert "idle_power_w 80 [E, range 60-100: as cpu-xeon-4214r" in src


def test_the_three_formats_give_one_profile(catalog):
    profiles = {fmt: _calibrated(catalog, p).profile() for fmt, p in SAMPLES.items()}
    assert profiles["csv"] == profiles["json"] == profiles["jsonl"]


def test_cli_writes_a_catalogue_the_project_loads_and_runs(tmp_path, capsys):
    out, graph = tmp_path / "my_devices.yaml", tmp_path / "my_edge.json"
    argv = [str(SAMPLES["jsonl"]), "--device", "minipc", "--like", "cpu-xeon-4214r", *OPTS]
    assert cli.main([*argv, "-o", str(out), "--graph-out", str(graph)]) == 0
    assert f"perllm-opt calibration.devices_file={out} topology=file" in capsys.readouterr().out
    cat = load_catalog(devices_path=out)
    box = cat.devices["minipc"]
    assert (box.memory_gb, box.idle_power_w, box.active_power_w) == (64, 9, 60)
    assert box.models["llama2-7b"].prefill_tok_s == 71.84
    # The packaged devices come along, so the paper topology's cloud is there.
    assert set(load_catalog().devices) < set(cat.devices)
    raw = yaml.safe_load(out.read_text())["devices"]["minipc"]
    assert raw["range"] == {
        "idle_power_w": [6.0, 12.0],
        "active_power_w": [45.0, 80.0],
        "decode_tok_s": "x1.64 - x6.56 of batch-1 rate (llama2-7b), "
        "x1.61 - x6.46 of batch-1 rate (llama2-13b)",
    }
    assert "memory_gb 64 [F: stated with --memory-gb]" in raw["sources"]
    # calibration.devices_file with the written graph builds an instance on the new device.
    inst = build_instance(
        small_config(
            horizon_s=30.0,
            topology=TopologyConfig(preset=None, path=str(graph)),
            calibration=CalibrationConfig(devices_file=str(out)),
        )
    )
    assert inst.topology.server_device.count("minipc") == 3
    assert inst.catalog.devices["minipc"] == box


def test_a_device_alone_is_added_by_extra_devices_file(tmp_path, capsys):
    """``--no-base`` writes the device alone; its graph is checked, and runs, beside the
    packaged devices through ``calibration.extra_devices_file``."""
    out, graph = tmp_path / "my_device.yaml", tmp_path / "my_edge.json"
    argv = [str(SAMPLES["csv"]), "--device", "minipc", "--like", "cpu-xeon-4214r", *OPTS]
    assert cli.main([*argv, "--no-base", "-o", str(out), "--graph-out", str(graph)]) == 0
    assert f"perllm-opt calibration.extra_devices_file={out} topology" in capsys.readouterr().out
    assert set(load_catalog(devices_path=out).devices) == {"minipc"}
    inst = build_instance(
        small_config(
            horizon_s=30.0,
            topology=TopologyConfig(preset=None, path=str(graph)),
            calibration=CalibrationConfig(extra_devices_file=str(out)),
        )
    )
    assert inst.topology.server_device.count("minipc") == 3


def test_the_module_runs_and_exits_2_on_bad_input(tmp_path):
    path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    cmd = [sys.executable, "-m", "perllm_opt.cli.calibrate", "--device", "b", "-o", "d.yaml"]
    cmd += ["--like", "cpu-xeon-4214r"]

    def run(bench):
        return subprocess.run(
            [*cmd, str(bench)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60
        )

    bad = run(REPO / "README.md")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("perllm-opt-calibrate: error: ") and bad.stderr.count("\n") == 1
    assert not (tmp_path / "d.yaml").exists()
    ok = run(SAMPLES["csv"])
    assert ok.returncode == 0, ok.stderr
    assert "b" in load_catalog(devices_path=tmp_path / "d.yaml").devices


def test_a_measured_profile_can_replace_a_packaged_one(tmp_path, capsys):
    # Named as the paper preset's edge device, the measured profile serves that preset.
    out = tmp_path / "d.yaml"
    argv = [str(SAMPLES["csv"]), "--device", "cpu-xeon-4214r", "--like", "cpu-xeon-4214r"]
    assert cli.main([*argv, "-o", str(out)]) == 0
    assert "now uses it" in capsys.readouterr().out
    assert out.read_text().count("\n  cpu-xeon-4214r:\n") == 1
    cat = load_catalog(devices_path=out)
    assert cat.devices["cpu-xeon-4214r"].models["llama2-7b"].prefill_tok_s == 71.84
    assert set(cat.devices) == set(load_catalog().devices)


def test_cli_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "d.yaml"
    out.write_text("keep me\n")
    argv = [str(SAMPLES["csv"]), "--device", "b", "--like", "cpu-xeon-4214r", "-o", str(out)]
    assert cli.main(argv) == 2
    assert out.read_text() == "keep me\n"
    assert "--force to overwrite" in capsys.readouterr().err
    assert cli.main([*argv, "--force", "--no-base"]) == 0
    assert set(load_catalog(devices_path=out).devices) == {"b"}
    # Never over a llama-bench file, even with --force.
    bench = tmp_path / "b.csv"
    bench.write_bytes(SAMPLES["csv"].read_bytes())
    assert cli.main([str(bench), "--device", "b", "--like", "rtx-4090", "-o", str(bench)]) == 2
    assert bench.read_bytes() == SAMPLES["csv"].read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--like", "nope"], "--like: got 'nope', expected a device of"),
        # rtx-4090's 24 GB is a datasheet value, not an estimate with a range to take.
        (["--like", "rtx-4090"], "memory_gb 24 with no range"),
        (["--memory-gb", "64"], "--decode-gain: got 'no decode gain for llama2-7b'"),
        (["--like", "cpu-xeon-4214r", "--idle-power-w", "9", "6"], "VALUE, or VALUE LOW HIGH"),
        (["--like", "cpu-xeon-4214r", "--idle-power-w", "9", "10", "12"], "LOW <= VALUE <= HIGH"),
        (["--like", "cpu-xeon-4214r", "--idle-power-w", "300"], "at most active_power_w (200"),
        (
            ["--like", "cpu-xeon-4214r", "--decode-gain", "0.5"],
            "--decode-gain: got 0.5, expected a gain >= 1",
        ),
        (["--like", "cpu-xeon-4214r", "--precision", "q8_0"], "got 'q8_0', expected a precision"),
        (["--like", "cpu-xeon-4214r", "--model", "llama-70b=*7b*"], "--model: got 'llama-70b'"),
    ],
)
def test_cli_bad_options_exit_2_with_one_line(tmp_path, capsys, argv, message):
    out = tmp_path / "d.yaml"
    assert cli.main([str(SAMPLES["csv"]), "--device", "b", "-o", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("perllm-opt-calibrate: error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_not_llama_bench_output(tmp_path, capsys):
    other = tmp_path / "trace.csv"
    other.write_text("arrival_s,prompt_tokens\n0.0,100\n")
    out = tmp_path / "x.yaml"
    code = cli.main([str(other), "--device", "b", "--like", "cpu-xeon-4214r", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert (
        f"{other} line 1 (CSV header): got 'arrival_s,prompt_tokens', expected llama-bench" in err
    )
    # A JSON object of another program, and llama-bench's markdown table (no parameter counts).
    with pytest.raises(InputError, match=r"g\.json line 1: got \['links', 'nodes'\]"):
        parse_llama_bench('{\n "nodes": [],\n "links": []\n}\n', "g.json")
    md = "| model | size | params | backend | test | t/s |\n| --- | --- |\n"
    with pytest.raises(InputError, match=r"markdown table.*rerun with -o csv"):
        parse_llama_bench(md, "bench.md")
    with pytest.raises(InputError, match="an empty file"):
        parse_llama_bench("\n", "empty.csv")
    with pytest.raises(InputError, match=r"x\.json: got 'invalid JSON"):
        parse_llama_bench('[{"model_type": ', "x.json")


def test_missing_and_bad_fields_are_named(tmp_path):
    recs = _sample_records()
    no_ts = [{k: v for k, v in r.items() if k != "avg_ts"} for r in recs]
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in no_ts) + "\n")
    with pytest.raises(InputError) as err:
        read_llama_bench(path)
    assert str(err.value).startswith(f"{path} line 1: got [")
    assert "(missing ['avg_ts']; write it with llama-bench" in str(err.value)
    # CSV: the header names the missing field.
    path = _csv(tmp_path, recs, header=[h for h in recs[0] if h != "n_gen" and "samples" not in h])
    with pytest.raises(InputError, match=r"line 1 \(CSV header\).*\(missing \['n_gen'\]\)"):
        read_llama_bench(path)
    # A value that is not a number: file, row, field, value, expectation.
    bad = [dict(r) for r in recs]
    bad[1]["avg_ts"] = "fast"
    path = _csv(tmp_path, bad, header=[h for h in recs[0] if not h.startswith("samples")])
    with pytest.raises(InputError) as err:
        read_llama_bench(path)
    assert str(err.value) == (
        f"{path} line 3 avg_ts: got 'fast', expected a finite number > 0 for avg_ts"
    )
    bad[1]["avg_ts"], bad[1]["n_gen"] = 13.27, -1
    path = _csv(tmp_path, bad, header=[h for h in recs[0] if not h.startswith("samples")])
    with pytest.raises(InputError, match=r"line 3 n_gen: got '-1', expected an integer >= 0"):
        read_llama_bench(path)


def test_the_fastest_zero_depth_tests_are_used(tmp_path, catalog):
    recs = [r for r in _sample_records() if r["model_type"] == "llama 7B Q4_0"]
    slower = dict(recs[0], n_prompt=128, avg_ts=65.0)  # another pp test, slower
    recs[2]["avg_ts"] = 90.0  # pp512 at depth 512: faster here, but not at depth 0
    recs[3]["avg_ts"] = 99.0  # pp512+tg128: neither a pp nor a tg test
    path = tmp_path / "b.json"
    path.write_text(json.dumps([slower, *recs]))
    (m,) = _calibrated(catalog, path).measured
    assert (m.prefill_tok_s, m.pp.where, m.tg.where) == (71.84, "item 2", "item 3")


def test_a_model_without_pp_or_tg_rows(tmp_path, catalog):
    recs = [r for r in _sample_records() if r["n_gen"] == 0]  # pp tests only
    path = tmp_path / "pp.json"
    path.write_text(json.dumps(recs))
    with pytest.raises(InputError, match=r"'llama 7B Q4_0' \(llama2-7b\): got \['pp512', 'pp512 @"):
        _calibrated(catalog, path)
    # Only a tg at depth: no zero-depth tg test either.
    recs = [r for r in _sample_records() if r["model_type"] == "llama 7B Q4_0"]
    for r in recs:
        r["n_depth"] = 512 if r["n_gen"] else 0
    path.write_text(json.dumps(recs))
    with pytest.raises(InputError, match=r"a tg test .* with n_depth 0"):
        _calibrated(catalog, path)


def test_model_mapping(tmp_path, catalog):
    recs = [r for r in _sample_records() if r["model_type"] == "llama 7B Q4_0"]
    for r in recs:
        r.update(model_type="qwen2 7B Q4_0", model_n_params=7615616512)
        r["model_filename"] = "models/Qwen2.5-7B-Instruct-Q4_0.gguf"
    path = tmp_path / "qwen.json"
    path.write_text(json.dumps(recs))
    # 7.6 B parameters are no model of models.yaml: an error, not a guess.
    with pytest.raises(InputError, match=r"item 1 model_n_params: got 7615616512, expected"):
        _calibrated(catalog, path)
    rule = ModelRule.parse("llama2-7b=*qwen2.5-7b*")
    dev = _calibrated(catalog, path, rules=[rule])
    assert [m.model for m in dev.measured] == ["llama2-7b"]
    assert dev.measured[0].matched_by == "mapped by --model llama2-7b=*qwen2.5-7b*"
    with pytest.raises(InputError, match="NAME=PATTERN"):
        ModelRule.parse("llama2-7b")
    # Two benchmarked models onto one project model.
    both = [*_sample_records()[:2], *recs]
    path.write_text(json.dumps(both))
    with pytest.raises(InputError, match="one benchmarked model per project model"):
        _calibrated(catalog, path, rules=[rule])


def test_older_schema_without_n_depth(tmp_path, catalog):
    # llama-bench before n_depth (and before backends): the README's older CSV fields.
    header = [
        "build_commit", "build_number", "cuda", "opencl", "metal", "gpu_blas", "blas",
        "cpu_info", "gpu_info", "model_filename", "model_type", "model_size", "model_n_params",
        "n_batch", "n_threads", "f16_kv", "n_gpu_layers", "main_gpu", "mul_mat_q",
        "tensor_split", "n_prompt", "n_gen", "test_time", "avg_ns", "stddev_ns", "avg_ts",
        "stddev_ts",
    ]  # fmt: skip
    base = dict.fromkeys(header, "0") | {
        "model_filename": "models/7B/ggml-model-q4_0.gguf",
        "model_type": "llama 7B mostly Q4_0",
        "model_n_params": "6738415616",
    }
    rows = [
        base | {"n_prompt": "512", "n_gen": "0", "avg_ts": "2368.80", "stddev_ts": "93.24"},
        base | {"n_prompt": "0", "n_gen": "128", "avg_ts": "131.42", "stddev_ts": "0.59"},
    ]
    path = _csv(tmp_path, rows, header=header)
    rtx = _template(catalog, "rtx-4090")
    dev = _calibrated(catalog, path, template=rtx, memory_gb=Given(24, origin="stated"))
    (m,) = dev.measured
    assert (m.prefill_tok_s, m.pp.n_depth) == (2368.80, 0)
    assert m.decode_floor_s_per_token == pytest.approx(1 / 131.42, rel=1e-5)
    assert dev.precision == "q4_0"  # "mostly Q4_0" of older versions


def test_precision_of_model_types():
    assert precision_of("llama 7B Q4_0") == "q4_0"
    assert precision_of("llama 7B mostly Q4_0") == "q4_0"
    assert precision_of("llama 13B F16") == "fp16"
    assert precision_of("qwen2 7B Q4_K - Medium") == "q4_k_medium"
