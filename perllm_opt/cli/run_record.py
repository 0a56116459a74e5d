"""What a run directory holds, checked before it is kept or written over.

A run is *complete* when its result files parse and match their schema, its saved config has
the same value of every results key, and every input file its config names (topology, trace,
device and model files) has the content it had when the run was made: ``inputs.json`` holds
their SHA-256 digests. Pure functions: they read, the entry point writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from perllm_opt.evaluation.collect import check_rows

#: The digests of the input files a run's config named, written with its results.
INPUTS_FILE = "inputs.json"
#: Config keys that name an input file (their files are hashed into the resume key).
INPUT_KEYS = (
    ("topology", "path"),
    ("workload", "trace_path"),
    ("calibration", "models_file"),
    ("calibration", "devices_file"),
    ("calibration", "extra_devices_file"),
)


def _select(cfg: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = cfg
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def file_digest(path: Path) -> str | None:
    """SHA-256 of the file at ``path`` (None if it is not a readable file)."""
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


def input_digests(cfg: Mapping[str, Any]) -> dict[str, str | None]:
    """``{key: SHA-256 of the file it names}`` for every key of :data:`INPUT_KEYS` that
    names one (a packaged trace by its file; a missing file by None)."""
    from perllm_opt.workload.traces import resolve_trace_path

    out: dict[str, str | None] = {}
    for path in INPUT_KEYS:
        value = _select(cfg, path)
        if not value:
            continue
        file = resolve_trace_path(str(value)) if path[-1] == "trace_path" else Path(str(value))
        out[".".join(path)] = file_digest(file)
    out.update(_real_data_digests(cfg))
    return out


def _real_data_digests(cfg: Mapping[str, Any]) -> dict[str, str | None]:
    """The network file of ``topology=zoo`` and the site and user files of ``topology=eua``
    (packaged or in their ``data_dir``; None for one that cannot be found)."""
    from perllm_opt.errors import InputError
    from perllm_opt.system.networks import resolve_network
    from perllm_opt.system.sites import SITES_FILE, USERS_FILE, eua_dir

    preset = _select(cfg, ("topology", "preset"))
    try:
        if preset == "zoo" and _select(cfg, ("topology", "network")):
            data_dir = _select(cfg, ("topology", "zoo", "data_dir"))
            file = resolve_network(str(_select(cfg, ("topology", "network"))), data_dir)
            return {"topology.network": file_digest(file)}
        if preset == "eua":
            base = eua_dir(_select(cfg, ("topology", "eua", "data_dir")))
            return {f"topology.eua.{f}": file_digest(base / f) for f in (SITES_FILE, USERS_FILE)}
    except InputError:
        key = "topology.network" if preset == "zoo" else "topology.eua.data_dir"
        return {key: None}
    return {}


def saved_digests(out_dir: Path) -> dict[str, str | None] | None:
    """The digests saved with the run in ``out_dir``; None if it has none (a run made
    before they were saved) or they do not parse."""
    try:
        data = json.loads((out_dir / INPUTS_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def changed_inputs(out_dir: Path, cfg: Mapping[str, Any]) -> list[str]:
    """The keys whose file changed since the run in ``out_dir`` was made. A run saved
    without digests (made before they were) counts as unchanged only if its config names
    no input file."""
    now = input_digests(cfg)
    before = saved_digests(out_dir)
    if before is None:
        return sorted(now)
    return sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))


def result_problem(out_dir: Path) -> str | None:
    """Why the result files in ``out_dir`` cannot be kept (a phrase), or None when
    ``metrics.json`` is a list of well-typed result rows and ``summary.json`` and
    ``timings.json`` parse as JSON objects."""
    try:
        rows = json.loads((out_dir / "metrics.json").read_text("utf-8"))
        check_rows(rows)
    except (OSError, ValueError) as exc:
        return f"metrics.json: {str(exc).splitlines()[0]}"
    for name in ("summary.json", "timings.json"):
        try:
            data = json.loads((out_dir / name).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            return f"{name}: {str(exc).splitlines()[0]}"
        if not isinstance(data, dict):
            return f"{name}: not a JSON object"
    for name in ("metrics.csv", "per_round.csv"):
        try:
            if not (out_dir / name).read_text("utf-8").strip():
                return f"{name}: empty"
        except (OSError, ValueError) as exc:
            return f"{name}: {str(exc).splitlines()[0]}"
    return None


def differing_keys(
    before: Mapping[str, Any], now: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """Dotted keys whose values differ between two configs (at most a few, for a message)."""
    out: list[str] = []
    for key in sorted(set(before) | set(now), key=str):
        a, b = before.get(key), now.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(differing_keys(a, b, f"{name}."))
        elif a != b:
            out.append(name)
    return out
