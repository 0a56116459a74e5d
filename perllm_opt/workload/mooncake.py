"""Loader for the Mooncake trace layout (Qin et al., "Mooncake: Trading More Storage for Less
Computation", USENIX FAST 2025).

One JSON object per line: ``timestamp`` (ms since the trace's start), ``input_length`` and
``output_length`` (tokens) and ``hash_ids``, the ids of the prompt's 512-token blocks (equal
ids, equal prefixes: kept for a model of prefix reuse). Every problem is reported with its
line number; nothing is silently dropped. Other keys are ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perllm_opt.errors import InputError
from perllm_opt.workload.trace_table import Trace, time_order

#: Tokens per block of ``hash_ids`` (the Mooncake trace's block size).
BLOCK_TOKENS = 512
REQUIRED = ("timestamp", "input_length", "output_length")


@dataclass(frozen=True, eq=False)
class PrefixBlocks:
    """Each request's block ids, packed: request ``i`` has ``ids[offsets[i]:offsets[i+1]]``."""

    ids: np.ndarray
    offsets: np.ndarray

    def of(self, request: int) -> np.ndarray:
        """The block ids of ``request``'s prompt, in prompt order."""
        return self.ids[self.offsets[request] : self.offsets[request + 1]]


@dataclass(frozen=True, eq=False)
class MooncakeTrace(Trace):
    """A :class:`~perllm_opt.workload.trace_table.Trace` with each prompt's blocks (None if
    the file has no ``hash_ids``), in the trace's time order."""

    blocks: PrefixBlocks | None = None


def _whole(value: Any, key: str, where: str, minimum: int) -> int:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value == int(value) and value >= minimum):
        raise InputError(f"{where} {key}", value, f"a whole number >= {minimum}")
    return int(value)


def _parse_line(text: str, where: str) -> tuple[float, int, int, list[int] | None]:
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        text = text.strip()
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InputError(where, shown, f"a JSON object ({exc.msg})") from None
    if not isinstance(row, dict):
        raise InputError(where, type(row).__name__, "a JSON object")
    missing = [k for k in REQUIRED if k not in row]
    if missing:
        raise InputError(where, sorted(row), f"keys {list(REQUIRED)} (missing {missing})")
    stamp = row["timestamp"]
    if not (
        isinstance(stamp, int | float)
        and not isinstance(stamp, bool)
        and math.isfinite(stamp)
        and stamp >= 0
    ):
        raise InputError(f"{where} timestamp", stamp, "a finite number of ms >= 0")
    prompt = _whole(row["input_length"], "input_length", where, 1)
    output = _whole(row["output_length"], "output_length", where, 1)
    blocks = row.get("hash_ids")
    if blocks is None:
        return float(stamp) / 1e3, prompt, output, None
    if not isinstance(blocks, list):
        raise InputError(f"{where} hash_ids", blocks, "a list of block ids")
    ids = [_whole(b, "hash_ids", where, 0) for b in blocks]
    need = -(-prompt // BLOCK_TOKENS)
    if len(ids) != need:
        raise InputError(
            f"{where} hash_ids",
            f"{len(ids)} blocks for {prompt} input tokens",
            f"{need} ({BLOCK_TOKENS}-token blocks covering input_length)",
        )
    return float(stamp) / 1e3, prompt, output, ids


def load_mooncake_trace(path: str | Path) -> MooncakeTrace:
    """Read a Mooncake-layout JSONL trace.

    Raises
    ------
    InputError
        For a missing, empty or non-UTF-8 file, a line that is not a JSON object, a missing
        key, a negative or non-numeric time, token counts that are not whole numbers >= 1,
        ``hash_ids`` that do not cover the prompt in 512-token blocks or are on some lines
        only (each with its line number), and arrivals that all share one timestamp.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("workload.trace_path", str(p), "an existing JSONL file")
    times: list[float] = []
    prompts: list[int] = []
    outputs: list[int] = []
    blocks: list[list[int] | None] = []
    try:
        with p.open(encoding="utf-8-sig") as fh:
            for line, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                where = f"{p.name} line {line}"
                t, prompt, output, ids = _parse_line(text, where)
                if blocks and (ids is None) != (blocks[0] is None):
                    raise InputError(
                        f"{where} hash_ids",
                        "absent" if ids is None else ids[:4],
                        "hash_ids on every line or on none",
                    )
                times.append(t)
                prompts.append(prompt)
                outputs.append(output)
                blocks.append(ids)
    except UnicodeDecodeError as exc:
        raise InputError(
            "workload.trace_path", str(p), f"a UTF-8 JSONL file (not UTF-8: {exc.reason})"
        ) from None
    if not times:
        raise InputError(f"{p}", "no requests", "at least one JSON line")
    t = np.asarray(times)
    order = time_order(t, p, "timestamp")
    packed = None
    if blocks[0] is not None:
        ordered = [blocks[k] or [] for k in order.tolist()]
        lengths = np.asarray([len(b) for b in ordered], dtype=np.int64)
        packed = PrefixBlocks(
            ids=np.fromiter((i for b in ordered for i in b), dtype=np.int64, count=lengths.sum()),
            offsets=np.concatenate(([0], np.cumsum(lengths))),
        )
    t = t[order]
    return MooncakeTrace(
        source=str(p),
        offset_s=t - t[0],
        prompt_tokens=np.asarray(prompts, dtype=np.int64)[order],
        output_tokens=np.asarray(outputs, dtype=np.int64)[order],
        blocks=packed,
    )
