"""``perllm-opt-calibrate FILE... --device NAME -o OUT``: a device profile from llama-bench.

Reads llama.cpp ``llama-bench`` output (``-o csv``, ``-o json`` or ``-o jsonl``) and writes
a devices file in the format of ``perllm_opt/data/devices.yaml``: the new device, measured
(prefill from the pp tests, the batch-1 decode floor from the tg tests), then the devices of
``--base`` (the packaged ones by default), so that ``perllm-opt
calibration.devices_file=OUT`` runs with it. ``--graph-out`` also writes the paper topology
with its edge servers on the new device. What llama-bench does not measure (memory, powers,
share levels, the saturated decode rate) is given on the command line or taken from
``--like DEVICE`` with its range (perllm_opt/calibration/devices.py, docs/calibration.md).

Nothing is overwritten without ``--force``. Bad input ends with a one-line error naming the
file, the field, the value and what was expected, and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

from perllm_opt.calibration.devices import Given, Template, calibrate, devices_yaml
from perllm_opt.calibration.llama_bench import read_llama_bench
from perllm_opt.calibration.model_map import ModelRule
from perllm_opt.errors import InputError
from perllm_opt.system.catalog import load_catalog
from perllm_opt.system.presets import paper_graph
from perllm_opt.system.topology import topology_from_graph

PROG = "perllm-opt-calibrate"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Write a device profile (devices.yaml format) from llama-bench output.",
        epilog="Example: perllm-opt-calibrate bench.csv --device my-box --like cpu-xeon-4214r "
        "--memory-gb 64 --idle-power-w 9 6 12 --active-power-w 60 45 80 -o my_devices.yaml "
        "--graph-out my_edge.json",
    )
    ap.add_argument("files", nargs="+", metavar="FILE", help="llama-bench output: CSV, JSON, JSONL")
    ap.add_argument("--device", required=True, metavar="NAME", help="name of the new profile")
    ap.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="the devices YAML to write"
    )
    ap.add_argument(
        "--like",
        metavar="DEVICE",
        help="a device of --base to take what is not given from (with its ranges)",
    )
    ap.add_argument(
        "--base",
        metavar="FILE",
        help="devices to copy into OUT beside the new one (default: the packaged devices.yaml)",
    )
    ap.add_argument(
        "--no-base",
        action="store_true",
        help="write the new device alone, for calibration.extra_devices_file (which adds it "
        "to the packaged devices)",
    )
    ap.add_argument(
        "--models-file", metavar="FILE", help="models.yaml to map to (default: the packaged one)"
    )
    ap.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATTERN",
        help="map benchmarked models whose model_type or file name matches the glob PATTERN "
        "to model NAME (default: by parameter count)",
    )
    for opt, what in (
        ("--memory-gb", "memory for weights and KV cache, GB"),
        ("--idle-power-w", "power with the models loaded and no work, W"),
        ("--active-power-w", "power at full utilisation, W"),
    ):
        ap.add_argument(
            opt,
            nargs="+",
            type=str,
            metavar="V",
            help=f"{what}: VALUE (stated as known) or VALUE LOW HIGH (an estimate and its range)",
        )
    ap.add_argument(
        "--decode-gain",
        nargs="+",
        type=str,
        metavar="G",
        help="saturated decode rate / batch-1 rate, GAIN [LOW HIGH] (an estimate; range "
        "x0.5-x2 of GAIN when not given); default: the --like device's for each model",
    )
    ap.add_argument(
        "--share-levels",
        metavar="S,S,...",
        help="compute shares, e.g. 0.25,0.5,1 (default: --like's)",
    )
    ap.add_argument(
        "--precision", metavar="NAME", help="weight precision (default: from model_type)"
    )
    ap.add_argument("--description", metavar="TEXT", help="default: the machine llama-bench names")
    ap.add_argument(
        "--graph-out",
        metavar="FILE",
        help="also write the paper topology (node-link JSON) with its edge servers on the device",
    )
    ap.add_argument("--force", action="store_true", help="overwrite OUT and --graph-out")
    return ap


def _numbers(values: Sequence[str], option: str) -> list[float]:
    out = []
    for v in values:
        try:
            out.append(float(v))
        except ValueError:
            raise InputError(option, v, "a number") from None
    return out


def _given(values: Sequence[str] | None, option: str) -> Given | None:
    """``VALUE`` (stated) or ``VALUE LOW HIGH`` (estimate) of a device option."""
    if values is None:
        return None
    nums = _numbers(values, option)
    if len(nums) == 1:
        return Given(nums[0], origin=f"stated with {option}")
    if len(nums) == 3:
        value, low, high = nums
        if not low <= value <= high:
            raise InputError(option, list(values), "VALUE LOW HIGH with LOW <= VALUE <= HIGH")
        return Given(value, low, high, f"given with {option}")
    raise InputError(option, list(values), "VALUE, or VALUE LOW HIGH")


def _gain(values: Sequence[str] | None) -> Given | None:
    if values is None:
        return None
    nums = _numbers(values, "--decode-gain")
    if nums[0] < 1:
        raise InputError("--decode-gain", nums[0], "a gain >= 1 (batching is never slower)")
    if len(nums) == 1:
        g = nums[0]
        return Given(g, max(1.0, g / 2), 2 * g, "given with --decode-gain (range x0.5-x2 of it)")
    if len(nums) == 3:
        g, low, high = nums
        if not 1 <= low <= g <= high:
            raise InputError(
                "--decode-gain", list(values), "GAIN LOW HIGH with 1 <= LOW <= GAIN <= HIGH"
            )
        return Given(g, low, high, "given with --decode-gain")
    raise InputError("--decode-gain", list(values), "GAIN, or GAIN LOW HIGH")


def _base(path: str | None) -> tuple[dict[str, Any], str]:
    """The raw device entries of the base file (already read once by the catalogue loader)."""
    if path is None:
        text = resources.files("perllm_opt.data").joinpath("devices.yaml").read_text("utf-8")
        return dict(yaml.safe_load(text)["devices"]), "perllm_opt/data/devices.yaml"
    return dict(yaml.safe_load(Path(path).read_text("utf-8"))["devices"]), path


def _refuse_overwrite(path: Path, force: bool, inputs: Sequence[str], option: str) -> None:
    if any(path.resolve() == Path(f).resolve() for f in inputs):
        raise InputError(option, str(path), "a path that is not one of the llama-bench files")
    if path.exists() and not force:
        raise InputError(option, str(path), "a path with no file yet (--force to overwrite it)")


def _write(path: Path, text: str) -> None:
    # Imported here: the main program's module brings Hydra, which bad input never needs.
    from perllm_opt.cli.files import write_atomic

    try:
        write_atomic(path, text)
    except OSError as exc:
        raise InputError(
            str(path), exc.strerror or str(exc), "a path that can be written"
        ) from None


def run(argv: Sequence[str] | None = None) -> int:
    """The command: parse ``argv``, calibrate, check with the project's loader, write."""
    args = _parser().parse_args(argv)
    out = Path(args.output)
    graph_out = Path(args.graph_out) if args.graph_out else None
    _refuse_overwrite(out, args.force, args.files, "--output")
    if graph_out is not None:
        _refuse_overwrite(graph_out, args.force, args.files, "--graph-out")
    if args.no_base and args.base:
        raise InputError("--no-base", args.base, "either --base FILE or --no-base, not both")

    catalog = load_catalog(args.models_file, args.base)
    base, base_where = _base(args.base)
    template = None
    if args.like is not None:
        if args.like not in catalog.devices:
            raise InputError(
                "--like", args.like, f"a device of {base_where}: {sorted(catalog.devices)}"
            )
        template = Template(catalog.devices[args.like], base[args.like], base_where)
    levels = None
    if args.share_levels is not None:
        levels = _numbers([s for s in args.share_levels.split(",") if s.strip()], "--share-levels")
    rows = [row for f in args.files for row in read_llama_bench(f)]
    device = calibrate(
        args.device,
        rows,
        catalog.models,
        template=template,
        rules=[ModelRule.parse(m) for m in args.model],
        memory_gb=_given(args.memory_gb, "--memory-gb"),
        idle_power_w=_given(args.idle_power_w, "--idle-power-w"),
        active_power_w=_given(args.active_power_w, "--active-power-w"),
        decode_gain=_gain(args.decode_gain),
        share_levels=levels,
        precision=args.precision,
        description=args.description,
    )
    text = devices_yaml(
        device, {} if args.no_base else base, None if args.no_base else base_where, args.files
    )

    # The file must load through the project's own loader, and hold what was calibrated.
    with tempfile.TemporaryDirectory() as tmp:
        check = Path(tmp) / "devices.yaml"
        check.write_text(text, "utf-8")
        written = load_catalog(args.models_file, check)
        # Alone, the file is meant for calibration.extra_devices_file: beside --base.
        usable = load_catalog(args.models_file, args.base, None, check) if args.no_base else written
    if written.devices[device.name] != device.profile():
        raise AssertionError("the written profile differs from the calibrated one")
    graph_text = None
    if graph_out is not None:
        graph = paper_graph(edge_device=device.name)
        topology_from_graph(graph, usable)
        graph_text = json.dumps(nx.node_link_data(graph, edges="links"), indent=2) + "\n"

    _write(out, text)
    speeds = "; ".join(
        f"{m.model}: prefill {m.prefill_tok_s:g} tok/s, decode floor "
        f"{m.decode_floor_s_per_token:g} s/token"
        for m in device.measured
    )
    others = len(written.devices) - 1
    print(f"wrote {out}: device {device.name} ({speeds}) and {others} other devices")
    key = "extra_devices_file" if args.no_base else "devices_file"
    run_cmd = f"perllm-opt calibration.{key}={out}"
    if graph_text is not None and graph_out is not None:
        _write(graph_out, graph_text)
        print(f"wrote {graph_out}: the paper topology with edge servers on {device.name}")
        run_cmd += f" topology=file topology.path={graph_out}"
    elif device.name in base and not args.no_base:
        run_cmd += f"  # every topology naming {device.name} (a preset too) now uses it"
    else:
        run_cmd += " topology=file topology.path=GRAPH  # a graph whose servers use it"
    print(f"run: {run_cmd}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: :func:`run`, with bad input as a one-line error and exit code 2."""
    try:
        return run(argv)
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
