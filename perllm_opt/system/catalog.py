"""Models and device profiles, loaded from the cited data files in ``perllm_opt/data``.

Every number comes from ``data/models.yaml`` or ``data/devices.yaml``, where each carries its
source (see ``docs/calibration.md``). Users may point at their own files, or override single
fields (for calibration sweeps) through ``calibration.overrides`` in the config.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from perllm_opt.errors import InputError, require, require_positive


@dataclass(frozen=True)
class ModelSpec:
    """An LLM: size, KV-cache footprint and weight memory per precision."""

    name: str
    params_b: float
    kv_bytes_per_token: float
    weights_gb: Mapping[str, float]

    def __post_init__(self) -> None:
        require_positive(self.params_b, f"models.{self.name}.params_b")
        require_positive(self.kv_bytes_per_token, f"models.{self.name}.kv_bytes_per_token")
        require(
            bool(self.weights_gb),
            f"models.{self.name}.weights_gb",
            self.weights_gb,
            "a mapping precision -> GB",
        )
        for prec, gb in self.weights_gb.items():
            require_positive(gb, f"models.{self.name}.weights_gb.{prec}")


@dataclass(frozen=True)
class ModelPerf:
    """How one device serves one model at full share of one device."""

    prefill_tok_s: float
    decode_floor_s_per_token: float
    decode_tok_s: float


@dataclass(frozen=True)
class DeviceProfile:
    """A device class (CPU server, Jetson, GPU) with its power, memory and per-model speed."""

    name: str
    memory_gb: float
    idle_power_w: float
    active_power_w: float
    precision: str
    share_levels: tuple[float, ...]
    models: Mapping[str, ModelPerf]
    description: str = ""

    def __post_init__(self) -> None:
        where = f"devices.{self.name}"
        require_positive(self.memory_gb, f"{where}.memory_gb")
        require_positive(self.active_power_w, f"{where}.active_power_w")
        require(self.idle_power_w >= 0, f"{where}.idle_power_w", self.idle_power_w, "a number >= 0")
        require(
            self.idle_power_w <= self.active_power_w,
            f"{where}.idle_power_w",
            self.idle_power_w,
            f"at most active_power_w ({self.active_power_w})",
        )
        require(
            len(self.share_levels) > 0 and all(0 < s <= 1 for s in self.share_levels),
            f"{where}.share_levels",
            list(self.share_levels),
            "a non-empty list of shares in (0, 1]",
        )
        require(
            len(set(self.share_levels)) == len(self.share_levels),
            f"{where}.share_levels",
            list(self.share_levels),
            "distinct values",
        )
        for model, perf in self.models.items():
            for f in fields(ModelPerf):
                require_positive(getattr(perf, f.name), f"{where}.models.{model}.{f.name}")


@dataclass(frozen=True)
class Catalog:
    """All known models and device profiles."""

    models: Mapping[str, ModelSpec]
    devices: Mapping[str, DeviceProfile]

    def weight_gb(self, device: str, model: str) -> float:
        """Weight memory of ``model`` at the precision ``device`` deploys it with."""
        prof = self.devices[device]
        spec = self.models[model]
        if prof.precision not in spec.weights_gb:
            raise InputError(
                f"models.{model}.weights_gb",
                dict(spec.weights_gb),
                f"an entry for precision {prof.precision!r} used by device {device!r}",
            )
        return float(spec.weights_gb[prof.precision])


def _read_yaml(path: Path | None, default_name: str) -> dict[str, Any]:
    if path is None:
        text = resources.files("perllm_opt.data").joinpath(default_name).read_text("utf-8")
        where = f"perllm_opt/data/{default_name}"
    else:
        p = Path(path)
        if not p.is_file():
            raise InputError("calibration file", str(p), "an existing YAML file")
        text = p.read_text("utf-8")
        where = str(p)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(where, "unparsable YAML", f"valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(where, type(data).__name__, "a YAML mapping")
    return data


def _model_from(name: str, raw: Mapping[str, Any]) -> ModelSpec:
    try:
        return ModelSpec(
            name=name,
            params_b=float(raw["params_b"]),
            kv_bytes_per_token=float(raw["kv_bytes_per_token"]),
            weights_gb={str(k): float(v) for k, v in dict(raw["weights_gb"]).items()},
        )
    except KeyError as exc:
        raise InputError(f"models.{name}", sorted(raw), f"a field {exc.args[0]!r}") from None


_DEVICE_FIELDS = ("memory_gb", "idle_power_w", "active_power_w", "precision", "share_levels")
_PERF_FIELDS = tuple(f.name for f in fields(ModelPerf))


def _device_from(name: str, raw: Mapping[str, Any]) -> DeviceProfile:
    missing = [k for k in (*_DEVICE_FIELDS, "models") if k not in raw]
    if missing:
        raise InputError(f"devices.{name}", sorted(raw), f"fields {missing}")
    perf: dict[str, ModelPerf] = {}
    for model, mraw in dict(raw["models"]).items():
        lacking = [k for k in _PERF_FIELDS if k not in mraw]
        if lacking:
            raise InputError(f"devices.{name}.models.{model}", sorted(mraw), f"fields {lacking}")
        perf[str(model)] = ModelPerf(**{k: float(mraw[k]) for k in _PERF_FIELDS})
    return DeviceProfile(
        name=name,
        memory_gb=float(raw["memory_gb"]),
        idle_power_w=float(raw["idle_power_w"]),
        active_power_w=float(raw["active_power_w"]),
        precision=str(raw["precision"]),
        share_levels=tuple(float(s) for s in raw["share_levels"]),
        models=perf,
        description=str(raw.get("description", "")),
    )


def _apply_overrides(
    devices: dict[str, DeviceProfile], overrides: Mapping[str, Mapping[str, Any]]
) -> dict[str, DeviceProfile]:
    """Replace single device fields, e.g. ``{"a100-80gb": {"idle_power_w": 60}}``.

    Per-model fields are given under ``models``: ``{"a100-80gb": {"models": {"llama2-7b":
    {"decode_tok_s": 3000}}}}``; a ``scale`` entry multiplies every per-model speed.
    """
    out = dict(devices)

    def number(field: str, val: Any) -> float:
        try:
            x = float(val)
        except (TypeError, ValueError):
            raise InputError(field, val, "a number") from None
        require(math.isfinite(x) and x >= 0.0, field, val, "a finite number >= 0")
        return x

    for dev, changes in overrides.items():
        if dev not in out:
            raise InputError("calibration.overrides", dev, f"one of the devices {sorted(out)}")
        if not isinstance(changes, Mapping):
            raise InputError(f"calibration.overrides.{dev}", changes, "a mapping of fields")
        prof = out[dev]
        kw: dict[str, Any] = {}
        models = dict(prof.models)
        for key, val in dict(changes).items():
            field = f"calibration.overrides.{dev}.{key}"
            if key in ("memory_gb", "idle_power_w", "active_power_w"):
                kw[key] = number(field, val)
            elif key == "share_levels":
                if isinstance(val, str | bytes) or not hasattr(val, "__iter__"):
                    raise InputError(field, val, "a list of compute shares in (0, 1]")
                kw[key] = tuple(number(field, s) for s in val)
            elif key == "speed_scale":
                s = number(field, val)
                require_positive(s, f"calibration.overrides.{dev}.speed_scale")
                models = {
                    m: ModelPerf(
                        p.prefill_tok_s * s, p.decode_floor_s_per_token / s, p.decode_tok_s * s
                    )
                    for m, p in models.items()
                }
            elif key == "models":
                if not isinstance(val, Mapping) or not all(
                    isinstance(m, Mapping) for m in val.values()
                ):
                    raise InputError(field, val, "a mapping {model: {field: number}}")
                for model, mchanges in val.items():
                    if model not in models:
                        raise InputError(
                            f"calibration.overrides.{dev}.models", model, f"one of {sorted(models)}"
                        )
                    bad = [k for k in mchanges if k not in _PERF_FIELDS]
                    if bad:
                        raise InputError(
                            f"calibration.overrides.{dev}.models.{model}",
                            bad[0],
                            f"one of {list(_PERF_FIELDS)}",
                        )
                    models[model] = replace(
                        models[model],
                        **{
                            k: number(f"calibration.overrides.{dev}.models.{model}.{k}", v)
                            for k, v in mchanges.items()
                        },
                    )
            else:
                raise InputError(
                    f"calibration.overrides.{dev}",
                    key,
                    "one of memory_gb, idle_power_w, active_power_w, share_levels, "
                    "speed_scale, models",
                )
        out[dev] = replace(prof, models=models, **kw)
    return out


def _devices_in(raw: Mapping[str, Any], where: str) -> dict[str, DeviceProfile]:
    entries = raw.get("devices")
    if not isinstance(entries, dict):
        raise InputError(where, sorted(raw), "a top-level 'devices' mapping")
    for name, entry in entries.items():
        if not isinstance(entry, Mapping):
            raise InputError(f"devices.{name}", entry, "a mapping of device fields")
    return {str(k): _device_from(str(k), v) for k, v in entries.items()}


def load_catalog(
    models_path: str | Path | None = None,
    devices_path: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    extra_devices_path: str | Path | None = None,
) -> Catalog:
    """Load the model and device catalogues.

    Parameters
    ----------
    models_path, devices_path : path, optional
        User files in the format of ``perllm_opt/data/*.yaml``; the packaged, cited
        defaults when omitted.
    overrides : mapping, optional
        Per-device field overrides (see :func:`_apply_overrides`).
    extra_devices_path : path, optional
        A file in the format of ``devices.yaml`` whose devices are added to those of
        ``devices_path`` (``calibration.extra_devices_file``); a name already there is an
        error (change a known device with ``overrides``).

    Returns
    -------
    Catalog
    """
    mraw = _read_yaml(Path(models_path) if models_path else None, "models.yaml")
    draw = _read_yaml(Path(devices_path) if devices_path else None, "devices.yaml")
    if not isinstance(mraw.get("models"), dict):
        raise InputError("models file", sorted(mraw), "a top-level 'models' mapping")
    models = {str(k): _model_from(str(k), v) for k, v in mraw["models"].items()}
    devices = _devices_in(draw, "devices file")
    if extra_devices_path:
        where = "calibration.extra_devices_file"
        if not Path(extra_devices_path).is_file():
            raise InputError(where, str(extra_devices_path), "an existing YAML file")
        extra = _devices_in(_read_yaml(Path(extra_devices_path), "devices.yaml"), where)
        for name in extra:
            require(
                name not in devices,
                f"{where} devices",
                name,
                "a new device name (change a known device with calibration.overrides, or "
                "replace the whole file with calibration.devices_file)",
            )
        devices.update(extra)
    if overrides:
        devices = _apply_overrides(devices, overrides)
    for dev in devices.values():
        for model in dev.models:
            if model not in models:
                raise InputError(
                    f"devices.{dev.name}.models",
                    model,
                    f"a model of the models file {sorted(models)}",
                )
    return Catalog(models=models, devices=devices)
