"""Results of llama.cpp's ``llama-bench``, read from its CSV, JSON or JSONL output.

``llama-bench -o csv`` prints a header row and one row per test, every value quoted;
``-o json`` an array of objects; ``-o jsonl`` one object per line (llama.cpp
``tools/llama-bench/README.md``, and ``test::get_fields`` in ``llama-bench.cpp`` for the
field list). A test is prompt processing (``pp``: ``n_prompt > 0``, ``n_gen = 0``), text
generation (``tg``: ``n_prompt = 0``, ``n_gen > 0``) or both (``pg``, from ``-pg``); newer
versions add ``n_depth``, the tokens already in the KV cache when the test starts (0 when the
field is absent, as in versions before it). ``avg_ts`` and ``stddev_ts`` are the mean and
standard deviation over the repetitions of ``(n_prompt + n_gen) / time``, in tokens per
second.

Only the fields read here are required (:data:`REQUIRED_FIELDS`); the others are kept as
text for the record (:data:`SETTING_FIELDS`). The format is told from the content, not the
file's name; markdown and SQL output, which hold no full record, are refused with a hint.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perllm_opt.errors import InputError

#: Fields every row must have: which model, which test, and its rate.
REQUIRED_FIELDS = (
    "model_filename",
    "model_type",
    "model_n_params",
    "n_prompt",
    "n_gen",
    "avg_ts",
    "stddev_ts",
)
#: Fields kept, as text, to say how a number was measured (each optional).
SETTING_FIELDS = (
    "build_commit",
    "cpu_info",
    "gpu_info",
    "backends",
    "n_threads",
    "n_batch",
    "n_ubatch",
    "n_gpu_layers",
    "type_k",
    "flash_attn",
    "test_time",
)
FORMATS = ("csv", "json", "jsonl")


@dataclass(frozen=True)
class BenchRow:
    """One llama-bench test result.

    Attributes
    ----------
    source : str
        The file it was read from, as given.
    where : str
        Its place in the file: ``"line 3"`` (CSV, JSONL) or ``"item 2"`` (JSON).
    model_filename, model_type : str
        The GGUF file and llama.cpp's description of it, e.g. ``"llama 7B Q4_0"``.
    model_n_params : int
        Parameters of the model.
    n_prompt, n_gen, n_depth : int
        Prompt tokens processed, tokens generated, tokens in the KV cache beforehand.
    avg_ts, stddev_ts : float
        Mean and standard deviation of the rate, tokens per second.
    settings : tuple of (str, str)
        The :data:`SETTING_FIELDS` present, as text.
    """

    source: str
    where: str
    model_filename: str
    model_type: str
    model_n_params: int
    n_prompt: int
    n_gen: int
    n_depth: int
    avg_ts: float
    stddev_ts: float
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def test(self) -> str:
        """``"pp"``, ``"tg"`` or ``"pg"`` (prompt processing, text generation, both)."""
        if self.n_gen == 0:
            return "pp"
        return "tg" if self.n_prompt == 0 else "pg"

    @property
    def label(self) -> str:
        """llama-bench's own name of the test, e.g. ``"pp512"``, ``"tg128 @ d512"``."""
        name = {
            "pp": f"pp{self.n_prompt}",
            "tg": f"tg{self.n_gen}",
            "pg": f"pp{self.n_prompt}+tg{self.n_gen}",
        }[self.test]
        return f"{name} @ d{self.n_depth}" if self.n_depth else name

    def setting(self, name: str) -> str | None:
        """The value of one of :data:`SETTING_FIELDS`, or None when the row has none."""
        return dict(self.settings).get(name)


def detect_format(text: str) -> str:
    """``"json"``, ``"jsonl"`` or ``"csv"``, from the first character that is not blank."""
    head = text.lstrip()
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        return "jsonl"
    return "csv"


def _refuse_other_outputs(text: str, source: str) -> None:
    first = text.lstrip().split("\n", 1)[0].strip()
    if first.startswith("|"):
        raise InputError(
            source,
            first[:60],
            "llama-bench CSV, JSON or JSONL output (this is its markdown table, which lacks "
            "the parameter counts: rerun with -o csv, -o json or -o jsonl)",
        )
    if first.upper().startswith(("CREATE TABLE", "INSERT INTO")):
        raise InputError(
            source,
            first[:60],
            "llama-bench CSV, JSON or JSONL output (this is its SQL: rerun with -o csv, "
            "-o json or -o jsonl)",
        )


def _integer(raw: Any, field: str, where: str, minimum: int) -> int:
    if isinstance(raw, bool):
        raise InputError(where, raw, f"an integer >= {minimum} for {field}")
    if isinstance(raw, int):
        value = raw
    else:
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise InputError(where, raw, f"an integer >= {minimum} for {field}") from None
    if value < minimum:
        raise InputError(where, raw, f"an integer >= {minimum} for {field}")
    return value


def _number(raw: Any, field: str, where: str, positive: bool) -> float:
    bound = "> 0" if positive else ">= 0"
    if isinstance(raw, bool):
        raise InputError(where, raw, f"a finite number {bound} for {field}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InputError(where, raw, f"a finite number {bound} for {field}") from None
    ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise InputError(where, raw, f"a finite number {bound} for {field}")
    return value


def _row(record: Mapping[str, Any], source: str, where: str) -> BenchRow:
    """A :class:`BenchRow` from one record of the file (a CSV row or a JSON object)."""
    missing = [f for f in REQUIRED_FIELDS if f not in record]
    if missing:
        lacking = "" if len(missing) == len(REQUIRED_FIELDS) else f"missing {missing}; "
        raise InputError(
            f"{source} {where}",
            sorted(record)[:12],
            f"a llama-bench result with the fields {list(REQUIRED_FIELDS)} "
            f"({lacking}write it with llama-bench -o csv, json or jsonl)",
        )

    def at(field: str) -> str:
        return f"{source} {where} {field}"

    n_prompt = _integer(record["n_prompt"], "n_prompt", at("n_prompt"), 0)
    n_gen = _integer(record["n_gen"], "n_gen", at("n_gen"), 0)
    if n_prompt == 0 and n_gen == 0:
        raise InputError(
            at("n_prompt"), record["n_prompt"], "n_prompt > 0 or n_gen > 0 (a pp or tg test)"
        )
    n_depth = 0
    if record.get("n_depth") not in (None, ""):
        n_depth = _integer(record["n_depth"], "n_depth", at("n_depth"), 0)
    for field in ("model_filename", "model_type"):
        if not isinstance(record[field], str) or not record[field].strip():
            raise InputError(at(field), record[field], "a non-empty string")
    settings = tuple(
        (f, str(record[f]))
        for f in SETTING_FIELDS
        if f in record and record[f] is not None and str(record[f]) != ""
    )
    return BenchRow(
        source=source,
        where=where,
        model_filename=record["model_filename"],
        model_type=record["model_type"].strip(),
        model_n_params=_integer(
            record["model_n_params"], "model_n_params", at("model_n_params"), 1
        ),
        n_prompt=n_prompt,
        n_gen=n_gen,
        n_depth=n_depth,
        avg_ts=_number(record["avg_ts"], "avg_ts", at("avg_ts"), positive=True),
        stddev_ts=_number(record["stddev_ts"], "stddev_ts", at("stddev_ts"), positive=False),
        settings=settings,
    )


def _records_csv(text: str, source: str) -> list[tuple[str, Mapping[str, Any]]]:
    reader = csv.reader(io.StringIO(text))
    rows = [(k, r) for k, r in enumerate(reader, start=1) if any(c.strip() for c in r)]
    if not rows:
        raise InputError(source, "an empty file", "llama-bench CSV, JSON or JSONL output")
    header_line, header = rows[0]
    missing = [f for f in REQUIRED_FIELDS if f not in header]
    if missing:
        lacking = "" if len(missing) == len(REQUIRED_FIELDS) else f" (missing {missing})"
        raise InputError(
            f"{source} line {header_line} (CSV header)",
            ",".join(header)[:80],
            f"llama-bench output (-o csv, json or jsonl) with the fields "
            f"{list(REQUIRED_FIELDS)}{lacking}",
        )
    out = []
    for line, values in rows[1:]:
        if len(values) != len(header):
            raise InputError(
                f"{source} line {line}",
                f"{len(values)} values",
                f"{len(header)} values, one per field of the header",
            )
        out.append((f"line {line}", dict(zip(header, values, strict=True))))
    return out


def _records_json(text: str, source: str) -> list[tuple[str, Mapping[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            source, f"invalid JSON ({exc})", "llama-bench -o json output (an array of objects)"
        ) from None
    if not isinstance(data, list):
        raise InputError(source, type(data).__name__, "llama-bench -o json output (an array)")
    out = []
    for k, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise InputError(f"{source} item {k}", item, "a JSON object (one llama-bench test)")
        out.append((f"item {k}", item))
    return out


def _records_jsonl(text: str, source: str) -> list[tuple[str, Mapping[str, Any]]]:
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):  # one object, maybe over several lines: checked as a record
        return [("line 1", whole)]
    out = []
    for k, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{source} line {k}",
                line[:60],
                f"one JSON object per line, as llama-bench -o jsonl writes ({exc})",
            ) from None
        if not isinstance(item, dict):
            raise InputError(f"{source} line {k}", item, "a JSON object (one llama-bench test)")
        out.append((f"line {k}", item))
    return out


def parse_llama_bench(text: str, source: str) -> tuple[BenchRow, ...]:
    """Every test result in ``text``, llama-bench output in CSV, JSON or JSONL.

    Parameters
    ----------
    text : str
        The file's content.
    source : str
        The file's name, used in the results and in error messages.

    Returns
    -------
    tuple of BenchRow
        In the file's order; at least one.

    Raises
    ------
    InputError
        For text that is not llama-bench output (naming the file, where, the value and what
        was expected): no rows, a missing field, a value that is not a number.
    """
    _refuse_other_outputs(text, source)
    fmt = detect_format(text)
    reader = {"csv": _records_csv, "json": _records_json, "jsonl": _records_jsonl}[fmt]
    records = reader(text, source)
    if not records:
        raise InputError(source, f"no test results ({fmt})", "at least one llama-bench result")
    return tuple(_row(rec, source, where) for where, rec in records)


def read_llama_bench(path: str | Path) -> tuple[BenchRow, ...]:
    """The test results in the llama-bench output file ``path`` (see :func:`parse_llama_bench`)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("llama-bench file", str(p), "an existing file")
    try:
        text = p.read_text("utf-8")
    except UnicodeDecodeError:
        raise InputError(str(p), "bytes that are not UTF-8 text", "llama-bench output") from None
    return parse_llama_bench(text, str(path))
