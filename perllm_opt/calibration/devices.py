"""A device profile from llama-bench measurements, in the format of ``data/devices.yaml``.

What llama-bench measures (``perllm_opt/calibration/llama_bench.py``) fills the per-model speeds:

- ``prefill_tok_s`` = ``avg_ts`` of the fastest prompt-processing test (``pp``, no prefilled
  context) of the model, labelled [F] with the file and row it came from;
- ``decode_floor_s_per_token`` = 1 / ``avg_ts`` of the fastest text-generation test (``tg``,
  no prefilled context): llama-bench generates at batch 1, the floor of the model
  (docs/model.md), labelled [D] (derived from the measurement by that formula).

Everything else is not measured this way and is labelled as ``devices.yaml`` labels it: a
value the user states (``--memory-gb 64``: [F], the user being the source), or an estimate
[E] with its range, either given (``--idle-power-w 9 6 12``) or accepted from a template
device (``--like cpu-xeon-4214r``, whose own range goes with it). The saturated decode rate
``decode_tok_s`` is an estimate: a gain times the measured batch-1 rate, the gain given or
the template's own for that model (its ``decode_tok_s x decode_floor_s_per_token``).

Benchmarked models are mapped to the project's models by
:mod:`perllm_opt.calibration.model_map`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import yaml

from perllm_opt.calibration.llama_bench import BenchRow
from perllm_opt.calibration.model_map import ModelRule, fastest, map_models, precision_of
from perllm_opt.errors import InputError, require
from perllm_opt.system.catalog import DeviceProfile, ModelPerf, ModelSpec


@dataclass(frozen=True)
class Given:
    """A device value the benchmark does not measure, and where it comes from.

    Attributes
    ----------
    value : float
        The value.
    low, high : float or None
        Its range when it is an estimate ([E]); both None for a value stated as known ([F]).
    origin : str
        Where it comes from, e.g. ``"given with --idle-power-w"``.
    """

    value: float
    low: float | None = None
    high: float | None = None
    origin: str = ""

    def __post_init__(self) -> None:
        require(
            (self.low is None) == (self.high is None),
            f"range of {self.origin or 'a value'}",
            (self.low, self.high),
            "both ends of the range or neither",
        )
        if self.low is not None and self.high is not None:
            require(
                self.low <= self.value <= self.high,
                f"range of {self.origin or 'a value'}",
                [self.low, self.value, self.high],
                "low <= value <= high",
            )

    @property
    def estimated(self) -> bool:
        """Whether this is an estimate with a range (else a stated value)."""
        return self.low is not None

    def label(self, name: str) -> str:
        """Its source line, e.g. ``"idle_power_w 9 [E, range 6-12: given with ...]"``."""
        if self.estimated:
            span = f"{_num(self.low)}-{_num(self.high)}"
            return f"{name} {_num(self.value)} [E, range {span}: {self.origin}]"
        return f"{name} {_num(self.value)} [F: {self.origin}]"


@dataclass(frozen=True)
class MeasuredModel:
    """One project model on the measured device: the two tests it is calibrated from."""

    model: str
    pp: BenchRow
    tg: BenchRow
    matched_by: str
    decode_gain: Given

    @property
    def prefill_tok_s(self) -> float:
        """Prompt tokens per second: the pp test's mean rate."""
        return self.pp.avg_ts

    @property
    def decode_floor_s_per_token(self) -> float:
        """Seconds per output token at batch 1: 1 / the tg test's mean rate."""
        return _sig(1.0 / self.tg.avg_ts)

    @property
    def decode_tok_s(self) -> float:
        """Saturated decode rate: the gain times the batch-1 rate."""
        return _sig(self.decode_gain.value * self.tg.avg_ts)

    def perf(self) -> ModelPerf:
        """The per-model speeds as the catalogue holds them."""
        return ModelPerf(self.prefill_tok_s, self.decode_floor_s_per_token, self.decode_tok_s)


@dataclass(frozen=True)
class CalibratedDevice:
    """A device profile calibrated from llama-bench, with the source of every value."""

    name: str
    description: str
    memory_gb: Given
    idle_power_w: Given
    active_power_w: Given
    precision: str
    precision_origin: str
    share_levels: tuple[float, ...]
    share_origin: str
    measured: tuple[MeasuredModel, ...]

    def profile(self) -> DeviceProfile:
        """The profile as :mod:`perllm_opt.system.catalog` holds it (validated on construction)."""
        return DeviceProfile(
            name=self.name,
            memory_gb=self.memory_gb.value,
            idle_power_w=self.idle_power_w.value,
            active_power_w=self.active_power_w.value,
            precision=self.precision,
            share_levels=self.share_levels,
            models={m.model: m.perf() for m in self.measured},
            description=self.description,
        )

    def sources(self) -> list[str]:
        """One line per value, labelled as ``devices.yaml`` labels them."""
        lines = []
        for m in self.measured:
            pp, tg = m.pp, m.tg
            floor_sd = tg.stddev_ts / tg.avg_ts**2
            lines.append(
                f"{m.model}: llama-bench model '{pp.model_type}' "
                f"({PurePath(pp.model_filename).name}, {pp.model_n_params / 1e9:.3f} B params), "
                f"{m.matched_by}"
            )
            lines.append(
                f"{m.model}: prefill_tok_s {_num(m.prefill_tok_s)} [F, measured: llama-bench "
                f"{pp.label} {pp.avg_ts:.2f} ± {pp.stddev_ts:.2f} tok/s, {pp.source} "
                f"{pp.where}{_settings(pp)}]"
            )
            lines.append(
                f"{m.model}: decode_floor_s_per_token {_num(m.decode_floor_s_per_token)} "
                f"[D from F: 1 / llama-bench {tg.label} {tg.avg_ts:.2f} ± {tg.stddev_ts:.2f} "
                f"tok/s (± {floor_sd:.2g} s), {tg.source} {tg.where}{_settings(tg)}]"
            )
            g = m.decode_gain
            lines.append(
                f"{m.model}: decode_tok_s {_num(m.decode_tok_s)} [E, range x{_num(g.low)}-"
                f"x{_num(g.high)} of the batch-1 rate: {_num(g.value)} x {tg.avg_ts:.2f} tok/s, "
                f"gain {g.origin}]"
            )
        lines.append(self.memory_gb.label("memory_gb"))
        lines.append(
            f"{self.idle_power_w.label('idle_power_w')}; "
            f"{self.active_power_w.label('active_power_w')}"
        )
        lines.append(f"precision {self.precision} {self.precision_origin}")
        lines.append(f"share_levels {list(self.share_levels)}: {self.share_origin}")
        return lines

    def ranges(self) -> dict[str, Any]:
        """The ``range`` entry: every estimate's range."""
        out: dict[str, Any] = {}
        for name in ("memory_gb", "idle_power_w", "active_power_w"):
            given: Given = getattr(self, name)
            if given.estimated:
                out[name] = [given.low, given.high]
        spans = {(m.decode_gain.low, m.decode_gain.high) for m in self.measured}
        if len(spans) == 1:
            lo, hi = spans.pop()
            out["decode_tok_s"] = f"x{_num(lo)} - x{_num(hi)} of batch-1 rate"
        else:
            out["decode_tok_s"] = ", ".join(
                f"x{_num(m.decode_gain.low)} - x{_num(m.decode_gain.high)} of batch-1 rate "
                f"({m.model})"
                for m in self.measured
            )
        return out

    def entry(self) -> dict[str, Any]:
        """The device's mapping in the format of ``data/devices.yaml``."""
        return {
            "description": self.description,
            "memory_gb": self.memory_gb.value,
            "idle_power_w": self.idle_power_w.value,
            "active_power_w": self.active_power_w.value,
            "precision": self.precision,
            "share_levels": list(self.share_levels),
            "models": {
                m.model: {
                    "prefill_tok_s": m.prefill_tok_s,
                    "decode_floor_s_per_token": m.decode_floor_s_per_token,
                    "decode_tok_s": m.decode_tok_s,
                }
                for m in self.measured
            },
            "sources": self.sources(),
            "range": self.ranges(),
        }


@dataclass(frozen=True)
class Template:
    """The ``--like`` device: its validated profile and its raw entry (for the ranges)."""

    profile: DeviceProfile
    raw: Mapping[str, Any]
    where: str

    def range_of(self, field: str) -> tuple[float, float] | None:
        """Its numeric range of ``field``, None when the file gives none."""
        rng = self.raw.get("range")
        span = rng.get(field) if isinstance(rng, Mapping) else None
        if (
            isinstance(span, list | tuple)
            and len(span) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in span)
        ):
            return float(span[0]), float(span[1])
        return None


def _sig(x: float) -> float:
    """``x`` to 6 significant digits (what the profile keeps of a measurement)."""
    return float(f"{x:.6g}")


def _num(x: float | None) -> str:
    return f"{x:.6g}" if x is not None else "?"


def _settings(row: BenchRow) -> str:
    parts = [
        f"{k} {row.setting(k)}"
        for k in ("n_threads", "n_gpu_layers", "backends")
        if row.setting(k) is not None
    ]
    return f"; {', '.join(parts)}" if parts else ""


def _given_or_template(
    name: str,
    given: Given | None,
    template: Template | None,
    option: str,
) -> Given:
    if given is not None:
        return given
    if template is None:
        raise InputError(
            option, "not given", f"{name} for this device, or --like DEVICE to take it from"
        )
    value = float(getattr(template.profile, name))
    span = template.range_of(name)
    if span is None:
        raise InputError(
            f"--like {template.profile.name}",
            f"{name} {_num(value)} with no range in {template.where}",
            f"an estimate with a range to take; give {option} for this device",
        )
    lo, hi = min(span[0], value), max(span[1], value)
    return Given(
        value,
        lo,
        hi,
        f"as {template.profile.name} (--like, {template.where}); not measured by llama-bench",
    )


def calibrate(
    device: str,
    rows: Sequence[BenchRow],
    models: Mapping[str, ModelSpec],
    *,
    template: Template | None = None,
    rules: Sequence[ModelRule] = (),
    memory_gb: Given | None = None,
    idle_power_w: Given | None = None,
    active_power_w: Given | None = None,
    decode_gain: Given | None = None,
    share_levels: Sequence[float] | None = None,
    precision: str | None = None,
    description: str | None = None,
) -> CalibratedDevice:
    """The profile of ``device`` from its llama-bench results.

    Parameters
    ----------
    device : str
        Name of the new profile.
    rows : sequence of BenchRow
        llama-bench results (every file's).
    models : mapping
        The project's models, by name.
    template : Template, optional
        The ``--like`` device: memory, powers, share levels and the decode gain not given
        are taken from it, with its ranges.
    rules : sequence of ModelRule
        Explicit model mappings (see :func:`map_models`).
    memory_gb, idle_power_w, active_power_w : Given, optional
        Values for the device (stated, or estimates with a range).
    decode_gain : Given, optional
        Saturated decode rate / batch-1 rate, for every model (an estimate with a range).
    share_levels : sequence of float, optional
        The compute shares a request may reserve.
    precision : str, optional
        Weight precision (a key of the models' ``weights_gb``); by default read from the
        benchmarked models' ``model_type``.
    description : str, optional
        By default, the machine llama-bench reports.

    Returns
    -------
    CalibratedDevice

    Raises
    ------
    InputError
        For a model that maps to no project model or lacks a pp or tg test, a precision the
        models have no weights for, a value neither given nor in the template with a range,
        and a profile the catalogue refuses (e.g. idle power above active power).
    """
    require(bool(device.strip()), "--device", device, "a non-empty device name")
    require(bool(rows), "llama-bench files", "no results", "at least one result")
    if decode_gain is not None:
        require(decode_gain.value >= 1, "--decode-gain", decode_gain.value, "a gain >= 1")
    measured = _measured(rows, models, rules, decode_gain, template)
    used = [r for m in measured for r in (m.pp, m.tg)]
    prec, prec_origin = _precision(used, precision, measured, models)
    levels, share_origin = _share_levels(share_levels, template)
    if description is None:
        description = _description(used[0], prec)
    out = CalibratedDevice(
        name=device,
        description=description,
        memory_gb=_given_or_template("memory_gb", memory_gb, template, "--memory-gb"),
        idle_power_w=_given_or_template("idle_power_w", idle_power_w, template, "--idle-power-w"),
        active_power_w=_given_or_template(
            "active_power_w", active_power_w, template, "--active-power-w"
        ),
        precision=prec,
        precision_origin=prec_origin,
        share_levels=levels,
        share_origin=share_origin,
        measured=tuple(measured),
    )
    out.profile()  # the catalogue's own checks (idle <= active, shares in (0, 1], ...)
    return out


def _measured(
    rows: Sequence[BenchRow],
    models: Mapping[str, ModelSpec],
    rules: Sequence[ModelRule],
    decode_gain: Given | None,
    template: Template | None,
) -> list[MeasuredModel]:
    """Each benchmarked project model (smallest first) with its fastest pp and tg results
    and its decode gain."""
    mapped = map_models(rows, models, rules)
    measured: list[MeasuredModel] = []
    for name in sorted(mapped, key=lambda m: models[m].params_b):
        how, rs = mapped[name]
        pp, tg = fastest(rs, "pp", name), fastest(rs, "tg", name)
        measured.append(MeasuredModel(name, pp, tg, how, _decode_gain(name, decode_gain, template)))
    return measured


def _decode_gain(name: str, decode_gain: Given | None, template: Template | None) -> Given:
    """The decode gain of model ``name``: the one given, else the ``--like`` device's
    (its decode rate times its decode floor, with a range of x0.5-x2, at least 1)."""
    if decode_gain is not None:
        return decode_gain
    if template is not None and name in template.profile.models:
        perf = template.profile.models[name]
        g = float(f"{perf.decode_tok_s * perf.decode_floor_s_per_token:.3g}")
        require(
            g >= 1,
            f"--like {template.profile.name}",
            f"decode gain {g} for {name}",
            "a gain >= 1; give --decode-gain",
        )
        return Given(
            g,
            max(1.0, float(f"{g / 2:.3g}")),
            float(f"{2 * g:.3g}"),
            f"of {template.profile.name}'s {name} (--like: its decode_tok_s "
            f"{_num(perf.decode_tok_s)} x decode_floor {_num(perf.decode_floor_s_per_token)} "
            f"s; range x0.5-x2 of it, at least 1)",
        )
    where = f"--like {template.profile.name}" if template else "--decode-gain"
    raise InputError(
        where,
        f"no decode gain for {name}",
        "--decode-gain GAIN [LOW HIGH] (saturated decode rate / batch-1 rate), or a "
        "--like device that serves this model",
    )


def _precision(
    used: Sequence[BenchRow],
    precision: str | None,
    measured: Sequence[MeasuredModel],
    models: Mapping[str, ModelSpec],
) -> tuple[str, str]:
    """The weight precision (given, or read from the benchmarked models' ``model_type``)
    and where it came from; every measured model must have weights in it."""
    kinds = sorted({r.model_type for r in used})
    if precision is None:
        found = sorted({precision_of(r.model_type) for r in used})
        if len(found) != 1:
            raise InputError(
                "llama-bench model_type",
                sorted({r.model_type for r in used}),
                "models of one weight precision (one device deploys one), or --precision",
            )
        prec = found[0]
        prec_origin = f"[F: llama-bench model_type {', '.join(kinds)}]"
    else:
        prec = precision
        prec_origin = f"[F: stated with --precision; llama-bench model_type {', '.join(kinds)}]"
    for m in measured:
        have = sorted(models[m.model].weights_gb)
        if prec not in have:
            raise InputError(
                f"precision for {m.model} ('{m.pp.model_type}')",
                prec,
                f"a precision of its weights_gb in models.yaml, one of {have} "
                f"(--precision NAME to name the closest)",
            )
    return prec, prec_origin


def _share_levels(
    share_levels: Sequence[float] | None, template: Template | None
) -> tuple[tuple[float, ...], str]:
    """The compute shares a request may reserve (given, or the ``--like`` device's) and
    where they came from."""
    if share_levels is not None:
        levels = tuple(float(s) for s in share_levels)
        return levels, "given with --share-levels (a scheduling choice, not a measurement)"
    if template is not None:
        return template.profile.share_levels, (
            f"as {template.profile.name} (--like): the compute shares a request may reserve, "
            f"a scheduling choice"
        )
    raise InputError("--share-levels", "not given", "share levels, or --like DEVICE")


def _description(first: BenchRow, prec: str) -> str:
    """The machine llama-bench reports (CPU, GPU, build, backends) and the precision."""
    parts = [first.setting("cpu_info"), first.setting("gpu_info")]
    machine = ", ".join(p for p in parts if p) or "an unnamed machine"
    build = first.setting("build_commit")
    backends = first.setting("backends")
    return (
        f"Measured with llama-bench{f' (build {build})' if build else ''}: {machine}"
        f"{f', backends {backends}' if backends else ''}; {prec}"
    )


def _dumper() -> type[yaml.SafeDumper]:
    """A YAML dumper that writes numbers-only lists and mappings inline, as devices.yaml does."""

    class Dumper(yaml.SafeDumper):
        pass

    def numeric(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    def seq(d: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
        flow = all(numeric(x) for x in data)
        return d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    def mapping(d: yaml.SafeDumper, data: dict[Any, Any]) -> yaml.Node:
        flow = bool(data) and all(numeric(v) for v in data.values())
        return d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flow)

    def text(d: yaml.SafeDumper, data: str) -> yaml.Node:
        # Double quotes where YAML would otherwise double every apostrophe.
        style = '"' if "'" in data else None
        return d.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, text)
    Dumper.add_representer(list, seq)
    Dumper.add_representer(tuple, seq)
    Dumper.add_representer(dict, mapping)
    return Dumper


def devices_yaml(
    device: CalibratedDevice,
    base: Mapping[str, Any],
    base_where: str | None,
    bench_files: Sequence[str],
) -> str:
    """The text of a devices file: ``device`` first, then the devices of ``base``.

    Parameters
    ----------
    device : CalibratedDevice
        The new profile.
    base : mapping
        Raw device entries to copy (their own sources and ranges with them); one named as
        ``device`` is replaced.
    base_where : str or None
        Where ``base`` came from, for the header; None when it is empty.
    bench_files : sequence of str
        The llama-bench files, for the header.

    Returns
    -------
    str
        YAML that :func:`perllm_opt.system.catalog.load_catalog` reads as a devices file.
    """
    others = {k: v for k, v in base.items() if k != device.name}
    header = [
        f"# Device profiles: {device.name} calibrated by perllm-opt-calibrate from llama-bench",
        f"# output ({', '.join(bench_files)}).",
        "# Labels as in perllm_opt/data/devices.yaml: [F] found in the cited source (here the",
        "# llama-bench file, or the user for a value stated on the command line), [D] derived",
        "# from [F] data (formula given), [R] recalled, [E] estimate (its range under `range`).",
    ]
    if others:
        header.append(
            f"# The other devices are copied from {base_where} (without its comments), so that"
        )
        header.append("# this file is a complete catalogue for calibration.devices_file.")
    if device.name in base:
        header.append(f"# {device.name} replaces the profile of that name in {base_where}.")
    body = yaml.dump(
        {"devices": {device.name: device.entry(), **others}},
        Dumper=_dumper(),
        sort_keys=False,
        allow_unicode=True,
        width=1_000_000,
    )
    return "\n".join(header) + "\n" + body
