"""The model and device catalogue (perllm_opt/system/catalog.py): published values, overrides and
the errors for broken calibration files."""

from __future__ import annotations

import pytest
import yaml
from support import HAND_DEVICES, HAND_MODELS

from perllm_opt.errors import InputError
from perllm_opt.system.catalog import load_catalog


def test_kv_bytes_from_published_architectures(catalog):
    # fp16 KV per token = 2 (K and V) x layers x KV heads x head dim x 2 bytes.
    assert catalog.models["llama2-7b"].kv_bytes_per_token == 2 * 32 * 32 * 128 * 2  # 524,288
    assert catalog.models["llama2-13b"].kv_bytes_per_token == 2 * 40 * 40 * 128 * 2
    # LLaMA-33B: 60 layers, d_model 6656.
    assert catalog.models["llama-33b"].kv_bytes_per_token == 2 * 60 * 6656 * 2


def test_weights_follow_parameter_counts(catalog):
    for spec in catalog.models.values():
        # fp16: 2 bytes per parameter.
        assert spec.weights_gb["fp16"] == pytest.approx(2 * spec.params_b, rel=1e-3)
        assert spec.weights_gb["q4_0"] < spec.weights_gb["fp16"] / 3
    assert catalog.weight_gb("a100-80gb", "llama2-7b") == 13.48
    assert catalog.weight_gb("cpu-xeon-4214r", "llama2-7b") == 3.82


def test_device_profiles(catalog):
    cpu = catalog.devices["cpu-xeon-4214r"]
    # Decode floor 3.82 GB / (0.45 x 115.2 GB/s) = 0.0737 s/token (devices.yaml sources).
    assert cpu.models["llama2-7b"].decode_floor_s_per_token == pytest.approx(
        3.82 / (0.45 * 115.2), rel=1e-3
    )
    # 0.6 TFLOPS / (2 x 6.74e9 params) = 44.5 tokens/s.
    assert cpu.models["llama2-7b"].prefill_tok_s == pytest.approx(0.6e12 / (2 * 6.74e9), rel=1e-2)
    a100 = catalog.devices["a100-80gb"]
    assert (a100.memory_gb, a100.active_power_w, a100.precision) == (80, 400, "fp16")
    for dev in catalog.devices.values():
        assert 0 <= dev.idle_power_w <= dev.active_power_w
        assert all(0 < s <= 1 for s in dev.share_levels)
        for perf in dev.models.values():
            # Batching never makes a saturated device slower than batch-1 decoding.
            assert 1.0 / perf.decode_tok_s <= perf.decode_floor_s_per_token + 1e-12
    # Bigger models are slower on every device.
    for dev in catalog.devices.values():
        m = dev.models
        assert (
            m["llama2-7b"].prefill_tok_s
            > m["llama2-13b"].prefill_tok_s
            > m["llama-33b"].prefill_tok_s
        )


def test_overrides(catalog):
    c = load_catalog(
        overrides={
            "a100-80gb": {"idle_power_w": 60, "share_levels": [0.5, 1.0]},
            "cpu-xeon-4214r": {"speed_scale": 2},
            "rtx-4090": {"models": {"llama2-7b": {"decode_tok_s": 1000}}},
        }
    )
    assert c.devices["a100-80gb"].idle_power_w == 60.0
    assert c.devices["a100-80gb"].share_levels == (0.5, 1.0)
    base = catalog.devices["cpu-xeon-4214r"].models["llama2-13b"]
    fast = c.devices["cpu-xeon-4214r"].models["llama2-13b"]
    assert fast.prefill_tok_s == pytest.approx(2 * base.prefill_tok_s)
    assert fast.decode_tok_s == pytest.approx(2 * base.decode_tok_s)
    assert fast.decode_floor_s_per_token == pytest.approx(base.decode_floor_s_per_token / 2)
    assert c.devices["rtx-4090"].models["llama2-7b"].decode_tok_s == 1000.0
    # Untouched entries stay.
    assert (
        c.devices["rtx-4090"].models["llama2-13b"]
        == catalog.devices["rtx-4090"].models["llama2-13b"]
    )


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"tpu": {"idle_power_w": 1}}, r"calibration\.overrides"),
        ({"a100-80gb": {"colour": 1}}, r"calibration\.overrides\.a100-80gb"),
        ({"a100-80gb": {"models": {"gpt": {"decode_tok_s": 1}}}}, r"overrides\.a100-80gb\.models"),
        ({"a100-80gb": {"models": {"llama2-7b": {"speed": 1}}}}, r"models\.llama2-7b"),
        ({"a100-80gb": {"speed_scale": 0}}, r"speed_scale"),
        ({"a100-80gb": {"idle_power_w": 500}}, r"idle_power_w"),  # above active power
        ({"a100-80gb": {"share_levels": [0.5, 0.5]}}, r"share_levels"),
        ({"a100-80gb": {"share_levels": [1.5]}}, r"share_levels"),
    ],
)
def test_bad_overrides(overrides, match):
    with pytest.raises(InputError, match=match):
        load_catalog(overrides=overrides)


def _write(tmp_path, models=None, devices=None):
    m = tmp_path / "models.yaml"
    d = tmp_path / "devices.yaml"
    m.write_text(yaml.safe_dump(models if models is not None else HAND_MODELS), "utf-8")
    d.write_text(yaml.safe_dump(devices if devices is not None else HAND_DEVICES), "utf-8")
    return m, d


def test_user_files(tmp_path):
    c = load_catalog(*_write(tmp_path))
    assert set(c.models) == {"tiny"} and set(c.devices) == {"edgebox", "cloudbox"}
    assert c.weight_gb("cloudbox", "tiny") == 2.0


def _devices(**change):
    import copy

    d = copy.deepcopy(HAND_DEVICES)
    box = d["devices"]["edgebox"]
    for k, v in change.items():
        if v is None:
            box.pop(k)
        else:
            box[k] = v
    return d


@pytest.mark.parametrize(
    ("devices", "match"),
    [
        (_devices(memory_gb=None), r"devices\.edgebox"),
        (_devices(memory_gb=-1), r"devices\.edgebox\.memory_gb"),
        (_devices(idle_power_w=60.0), r"devices\.edgebox\.idle_power_w"),
        (_devices(share_levels=[]), r"devices\.edgebox\.share_levels"),
        (_devices(models={"tiny": {"prefill_tok_s": 1}}), r"devices\.edgebox\.models\.tiny"),
        (
            _devices(
                models={
                    "tiny": {"prefill_tok_s": 1, "decode_floor_s_per_token": 0, "decode_tok_s": 1}
                }
            ),
            r"decode_floor_s_per_token",
        ),
        (
            _devices(
                models={
                    "huge": {"prefill_tok_s": 1, "decode_floor_s_per_token": 1, "decode_tok_s": 1}
                }
            ),
            r"huge",
        ),
    ],
)
def test_bad_device_files(tmp_path, devices, match):
    with pytest.raises(InputError, match=match):
        load_catalog(*_write(tmp_path, devices=devices))


@pytest.mark.parametrize(
    ("models", "match"),
    [
        ({"models": {"tiny": {"params_b": 1, "weights_gb": {"q4_0": 1}}}}, r"models\.tiny"),
        (
            {
                "models": {
                    "tiny": {"params_b": 1, "kv_bytes_per_token": 0, "weights_gb": {"q4_0": 1}}
                }
            },
            r"kv_bytes",
        ),
        (
            {"models": {"tiny": {"params_b": 1, "kv_bytes_per_token": 1, "weights_gb": {}}}},
            r"weights_gb",
        ),
        ({"other": {}}, "models"),
    ],
)
def test_bad_model_files(tmp_path, models, match):
    with pytest.raises(InputError, match=match):
        load_catalog(*_write(tmp_path, models=models))


def test_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="calibration file"):
        load_catalog(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed", "utf-8")
    with pytest.raises(InputError, match="YAML"):
        load_catalog(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n", "utf-8")
    with pytest.raises(InputError, match="mapping"):
        load_catalog(scalar)


def test_missing_precision(tmp_path):
    models = {
        "models": {"tiny": {"params_b": 1, "kv_bytes_per_token": 1, "weights_gb": {"q4_0": 0.5}}}
    }
    c = load_catalog(*_write(tmp_path, models=models))
    with pytest.raises(InputError, match="fp16"):
        c.weight_gb("cloudbox", "tiny")
