"""Traces: the Azure LLM inference trace format (Patel et al., Splitwise, ISCA 2024), and the
choice between it and the Mooncake JSONL layout (perllm_opt/workload/mooncake.py).

The CSV has a header ``TIMESTAMP,ContextTokens,GeneratedTokens``; ``TIMESTAMP`` is a date
and time such as ``2023-11-16 18:15:46.6805900`` (or a number of seconds). Every problem is
reported with its line number; nothing is silently dropped.
"""

from __future__ import annotations

import csv
import logging
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from perllm_opt.errors import InputError
from perllm_opt.workload.mooncake import load_mooncake_trace
from perllm_opt.workload.trace_table import Trace, time_order

log = logging.getLogger(__name__)

COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")

#: Traces shipped with the package, by the name a config may use instead of a path.
PACKAGED_TRACES = {
    "azure-conv-2023": "azure_llm_2023_conv.csv",
    "mooncake-conv-2025-600s": "mooncake_conv_2025_600s.jsonl",
}
#: Trace layouts (``workload.trace_format``); ``auto`` tells them apart by content.
TRACE_FORMATS = ("auto", "azure", "mooncake")


def resolve_trace_path(path: str | Path) -> Path:
    """A packaged trace's file for its name (``azure-conv-2023``), else ``path`` itself."""
    name = str(path)
    if name in PACKAGED_TRACES:
        from importlib import resources

        return Path(
            str(
                resources.files("perllm_opt.data")
                .joinpath("traces")
                .joinpath(PACKAGED_TRACES[name])
            )
        )
    return Path(path)


def trace_format_of(path: Path) -> str:
    """``mooncake`` if the file's first non-blank character opens a JSON object, else
    ``azure`` (a CSV header)."""
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "mooncake" if head.startswith(b"{") else "azure"


def load_trace(path: str | Path, trace_format: str = "auto") -> Trace:
    """Read a trace in the layout ``trace_format`` (``auto``: told by its content)."""
    if trace_format not in TRACE_FORMATS:
        raise InputError("workload.trace_format", trace_format, f"one of {list(TRACE_FORMATS)}")
    p = resolve_trace_path(path)
    if not p.is_file():
        raise InputError(
            "workload.trace_path",
            str(p),
            f"an existing trace file (Azure CSV or Mooncake JSONL) or one of "
            f"{sorted(PACKAGED_TRACES)}",
        )
    if trace_format == "auto":
        trace_format = trace_format_of(p)
    if trace_format == "mooncake":
        return load_mooncake_trace(p)
    return load_azure_trace(p)


def _parse_time(text: str, where: str) -> float:
    text = text.strip()
    if not text:
        raise InputError(f"{where} TIMESTAMP", text, "a date-time or a number of seconds")
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value) or value < 0:
            raise InputError(f"{where} TIMESTAMP", text, "a finite, non-negative number")
        return value
    base, _, frac = text.partition(".")
    try:
        stamp = datetime.strptime(base, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        try:
            stamp = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise InputError(
                f"{where} TIMESTAMP", text, "a date-time like '2023-11-16 18:15:46.6805900'"
            ) from None
    if frac and not frac.isdigit():
        raise InputError(
            f"{where} TIMESTAMP", text, "a date-time like '2023-11-16 18:15:46.6805900'"
        )
    # A naive time stamp is read as UTC so offsets never depend on the machine's time zone
    # (or jump at a daylight-saving change).
    return stamp.replace(tzinfo=UTC).timestamp() + (float("0." + frac) if frac else 0.0)


def _parse_count(text: str, column: str, where: str, minimum: int) -> int:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where} {column}", text, "a whole number of tokens") from None
    if not math.isfinite(value) or value != int(value) or value < minimum:
        raise InputError(f"{where} {column}", text, f"a whole number >= {minimum}")
    return int(value)


def load_azure_trace(path: str | Path) -> Trace:
    """Read an Azure-format LLM trace.

    Raises
    ------
    InputError
        For a missing, empty or non-UTF-8 file, a missing column, a row with the wrong number
        of fields, missing, non-numeric or negative values (each with its line number), and
        arrivals that all share one timestamp.
    """
    p = resolve_trace_path(path)
    if not p.is_file():
        raise InputError(
            "workload.trace_path",
            str(p),
            f"an existing CSV file or one of {sorted(PACKAGED_TRACES)}",
        )
    times: list[float] = []
    prompts: list[int] = []
    outputs: list[int] = []
    try:
        _read_rows(p, times, prompts, outputs)
    except UnicodeDecodeError as exc:
        raise InputError(
            "workload.trace_path", str(p), f"a UTF-8 CSV file (not UTF-8: {exc.reason})"
        ) from None
    if not times:
        raise InputError(f"{p}", "a header but no requests", "at least one data row")
    t = np.asarray(times)
    order = time_order(t, p, "TIMESTAMP")
    t = t[order]
    return Trace(
        source=str(p),
        offset_s=t - t[0],
        prompt_tokens=np.asarray(prompts, dtype=np.int64)[order],
        output_tokens=np.asarray(outputs, dtype=np.int64)[order],
    )


def _read_rows(p: Path, times: list[float], prompts: list[int], outputs: list[int]) -> None:
    """Parse the CSV rows of ``p`` into the three lists (InputError per bad row)."""
    with p.open(newline="", encoding="utf-8-sig") as fh:  # tolerate a byte-order mark
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise InputError(f"{p}", "an empty file", f"a header line {','.join(COLUMNS)}")
        header = [h.strip() for h in header]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise InputError(f"{p} line 1", header, f"columns {list(COLUMNS)} (missing {missing})")
        idx = [header.index(c) for c in COLUMNS]
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            where = f"{p.name} line {line}"
            if len(row) != len(header):
                raise InputError(where, row, f"{len(header)} fields like the header")
            times.append(_parse_time(row[idx[0]], where))
            prompts.append(_parse_count(row[idx[1]], "ContextTokens", where, minimum=1))
            outputs.append(_parse_count(row[idx[2]], "GeneratedTokens", where, minimum=1))


def trace_window(
    trace: Trace, start_s: float, horizon_s: float, rate_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut ``horizon_s`` seconds of arrivals out of ``trace``, compressed by ``rate_scale``.

    The window covers trace time ``[start_s, start_s + horizon_s * rate_scale)``; arrival
    times are mapped to ``(offset - start_s) / rate_scale`` so a scale of 2 doubles the rate.

    Returns
    -------
    arrival_s, prompt_tokens, output_tokens : ndarray
    """
    if not rate_scale > 0:
        raise InputError("trace rate scale", rate_scale, "a number > 0")
    if start_s >= trace.duration_s:
        raise InputError(
            "workload.trace_start_s",
            start_s,
            f"a start inside the trace (duration {trace.duration_s:.1f} s)",
        )
    end = start_s + horizon_s * rate_scale
    if end > trace.duration_s:
        log.warning(
            "trace window ends at %.1f s but the trace lasts %.1f s: the last %.1f s "
            "of the horizon have no arrivals",
            end,
            trace.duration_s,
            (end - trace.duration_s) / rate_scale,
        )
    sel = (trace.offset_s >= start_s) & (trace.offset_s < end)
    arrival = (trace.offset_s[sel] - start_s) / rate_scale
    return arrival, trace.prompt_tokens[sel], trace.output_tokens[sel]
