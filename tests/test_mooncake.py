"""The Mooncake trace layout (perllm_opt/workload/mooncake.py): the packaged slice read line by
line against the file, the layout told from the Azure CSV by content, every malformed line
named, and ``workload=mooncake`` replaying the trace's own prompts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from support import REPO

from perllm_opt.cli.config_store import compose_config, to_app_config
from perllm_opt.config import ServiceTypeConfig, WorkloadConfig
from perllm_opt.errors import InputError
from perllm_opt.rng import RngStreams
from perllm_opt.workload.generator import generate_requests
from perllm_opt.workload.mooncake import BLOCK_TOKENS, MooncakeTrace, load_mooncake_trace
from perllm_opt.workload.trace_table import Trace
from perllm_opt.workload.traces import load_trace, resolve_trace_path, trace_format_of

PACKAGED = REPO / "perllm_opt" / "data" / "traces" / "mooncake_conv_2025_600s.jsonl"


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _jsonl(tmp_path, rows, name="t.jsonl") -> str:
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(p)


def _row(t_ms=0, prompt=600, output=20, blocks=None):
    blocks = list(range(math.ceil(prompt / 512))) if blocks is None else blocks
    return {"timestamp": t_ms, "input_length": prompt, "output_length": output, "hash_ids": blocks}


@pytest.fixture(scope="module")
def mooncake():
    return load_trace("mooncake-conv-2025-600s")


def test_packaged_slice_matches_the_file(mooncake):
    rows = _lines(PACKAGED)
    assert (
        isinstance(mooncake, MooncakeTrace)
        and resolve_trace_path("mooncake-conv-2025-600s") == PACKAGED
    )
    # The first 600 s of the trace: 1,750 requests, times in ms read as seconds, in order.
    assert len(rows) == len(mooncake.offset_s) == 1_750
    np.testing.assert_allclose(mooncake.offset_s, [r["timestamp"] / 1e3 for r in rows])
    assert mooncake.offset_s[0] == 0.0 and mooncake.duration_s == pytest.approx(597.0)
    assert np.all(np.diff(mooncake.offset_s) >= 0)
    np.testing.assert_array_equal(mooncake.prompt_tokens, [r["input_length"] for r in rows])
    np.testing.assert_array_equal(mooncake.output_tokens, [r["output_length"] for r in rows])
    # Long prompts (README: thousands to tens of thousands of tokens), outputs of hundreds.
    assert 3_000 < np.median(mooncake.prompt_tokens) < 20_000
    assert 100 < np.median(mooncake.output_tokens) < 1_000
    # Every prompt's 512-token blocks, kept in order; shared prefixes share ids.
    for k in (0, 1, 777, 1_749):
        np.testing.assert_array_equal(mooncake.blocks.of(k), rows[k]["hash_ids"])
    sizes = np.diff(mooncake.blocks.offsets)
    np.testing.assert_array_equal(sizes, np.ceil(mooncake.prompt_tokens / BLOCK_TOKENS))
    assert mooncake.blocks.of(0)[0] == mooncake.blocks.of(1)[0]  # a shared system prompt


def test_layout_told_by_content(tmp_path):
    azure = resolve_trace_path("azure-conv-2023")
    assert trace_format_of(azure) == "azure" and trace_format_of(PACKAGED) == "mooncake"
    assert type(load_trace(azure)) is Trace
    # A JSONL file named .csv is still read as JSONL; the key forces a layout.
    odd = tmp_path / "really_jsonl.csv"
    odd.write_bytes(b"\xef\xbb\xbf\n  " + PACKAGED.read_bytes()[:2000].rsplit(b"\n", 1)[0])
    assert isinstance(load_trace(odd), MooncakeTrace)
    with pytest.raises(InputError, match=r"really_jsonl\.csv line 1"):
        load_trace(odd, "azure")
    with pytest.raises(InputError, match=r"t.jsonl line 1: got 'TIMESTAMP,"):
        load_trace(
            _jsonl(tmp_path, ["TIMESTAMP,ContextTokens,GeneratedTokens", "0,1,2"]), "mooncake"
        )
    with pytest.raises(InputError, match=r"workload\.trace_format: got 'parquet'"):
        load_trace(PACKAGED, "parquet")


def test_out_of_order_lines_are_sorted_with_their_blocks(tmp_path, caplog):
    rows = [_row(2000, 600), _row(0, 1100), _row(1000, 30)]
    rows[0]["hash_ids"] = [7, 8]
    trace = load_mooncake_trace(_jsonl(tmp_path, rows))
    assert "timestamps out of order" in caplog.text
    np.testing.assert_allclose(trace.offset_s, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(trace.prompt_tokens, [1100, 30, 600])
    assert [trace.blocks.of(k).tolist() for k in range(3)] == [[0, 1, 2], [0], [7, 8]]


def test_blank_lines_extra_keys_and_no_hash_ids(tmp_path):
    rows = [
        {"timestamp": 0, "input_length": 5, "output_length": 2, "turn": 1},
        "",
        {"timestamp": 1500.5, "input_length": 9, "output_length": 3},
    ]
    trace = load_mooncake_trace(_jsonl(tmp_path, rows))
    assert trace.blocks is None
    np.testing.assert_allclose(trace.offset_s, [0.0, 1.5005])


@pytest.mark.parametrize(
    "line,what",
    [
        ("{not json", "got '{not json', expected a JSON object"),
        ("[1, 2]", "got 'list', expected a JSON object"),
        ('{"timestamp": 5, "input_length": 9}', "missing ['output_length']"),
        ({**_row(), "timestamp": -1}, "timestamp: got -1"),
        ({**_row(), "timestamp": "soon"}, "timestamp: got 'soon'"),
        ('{"timestamp": NaN, "input_length": 9, "output_length": 1}', "timestamp: got nan"),
        ({**_row(), "input_length": 0, "hash_ids": []}, "input_length: got 0"),
        ({**_row(), "input_length": 7.5}, "input_length: got 7.5"),
        ({**_row(), "output_length": True}, "output_length: got True"),
        ({**_row(), "output_length": "20"}, "output_length: got '20'"),
        ({**_row(prompt=1100), "hash_ids": [1, 2]}, "hash_ids: got '2 blocks for 1100 input"),
        ({**_row(), "hash_ids": "0,1"}, "hash_ids: got '0,1'"),
        ({**_row(prompt=100), "hash_ids": [-4]}, "hash_ids: got -4"),
        ({"timestamp": 9, "input_length": 5, "output_length": 2}, "hash_ids: got 'absent'"),
    ],
)
def test_malformed_lines_name_their_line(tmp_path, line, what):
    path = _jsonl(tmp_path, [_row(0), _row(3), line, _row(9)])
    with pytest.raises(InputError, match=r"t\.jsonl line 3") as err:
        load_mooncake_trace(path)
    assert what in str(err.value)


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "got 'no requests'"),
        (b"\n\n", "got 'no requests'"),
        (b'{"timestamp": 5, "input_length": 1, "output_length": 1}\n' * 3, "all at one time"),
        (
            b'{"timestamp": 0, "input_length": 1, "output_length": 1, "note": "caf\xe9"}\n',
            "expected a UTF-8 JSONL file",
        ),
    ],
)
def test_unusable_files(tmp_path, content, match):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=match):
        load_mooncake_trace(path)
    with pytest.raises(InputError, match=r"workload\.trace_path: got"):
        load_trace(tmp_path / "none.jsonl")


def test_workload_replays_the_trace(mooncake):
    """``workload=mooncake``: the slice at its own rate, prompts as long as the trace's (the
    services' ranges take them), with its own service types."""
    app = to_app_config(compose_config(["workload=mooncake", "horizon_s=120"]))
    assert app.workload.trace_native_rate and app.workload.trace_format == "auto"
    assert {s.prompt_max_tokens for s in app.services} == {131_072}
    req = generate_requests(app.workload, app.services, 3, 120.0, RngStreams(0))
    sel = mooncake.offset_s < 120.0
    np.testing.assert_allclose(req.arrival_s, mooncake.offset_s[sel])
    np.testing.assert_array_equal(req.prompt_tokens, mooncake.prompt_tokens[sel])
    np.testing.assert_array_equal(req.output_tokens, mooncake.output_tokens[sel])
    # Scaled to 6 requests/s the first 120 s take about 245 s of the trace.
    fast = generate_requests(
        WorkloadConfig(kind="trace", trace_path="mooncake-conv-2025-600s", rate_rps=6.0),
        [ServiceTypeConfig(prompt_max_tokens=200_000, output_max_tokens=4_000)],
        1,
        120.0,
        RngStreams(0),
    )
    scale = 6.0 / mooncake.mean_rate_rps
    assert len(fast) == int((mooncake.offset_s < 120.0 * scale).sum())
