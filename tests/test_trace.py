"""The Azure-format trace loader (perllm_opt/workload/traces.py) and trace workloads."""

from __future__ import annotations

import numpy as np
import pytest
from support import REPO

from perllm_opt.config import ServiceTypeConfig, WorkloadConfig
from perllm_opt.errors import InputError
from perllm_opt.rng import RngStreams
from perllm_opt.workload.generator import generate_requests
from perllm_opt.workload.traces import load_azure_trace, resolve_trace_path, trace_window

PACKAGED = REPO / "perllm_opt" / "data" / "traces" / "azure_llm_2023_conv.csv"
HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def _csv(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text, "utf-8")
    return p


@pytest.fixture(scope="module")
def azure():
    return load_azure_trace(PACKAGED)


def test_real_trace_loads(azure):
    # README: 19,366 requests over about one hour on 2023-11-16.
    assert len(azure.offset_s) == 19_366
    assert len(azure.prompt_tokens) == len(azure.output_tokens) == 19_366
    assert azure.offset_s[0] == 0.0
    assert np.all(np.diff(azure.offset_s) >= 0)
    assert 3000.0 < azure.duration_s < 3700.0
    assert azure.mean_rate_rps == pytest.approx(19_366 / azure.duration_s)
    assert azure.prompt_tokens.min() >= 1 and azure.output_tokens.min() >= 1
    # First rows of the file: 18:15:46.6805900 (374, 44) then 18:15:50.9951690 (396, 109).
    np.testing.assert_array_equal(azure.prompt_tokens[:2], [374, 396])
    np.testing.assert_array_equal(azure.output_tokens[:2], [44, 109])
    assert azure.offset_s[1] == pytest.approx(50.9951690 - 46.6805900, abs=1e-6)
    # Published medians of the conversation trace (docs/calibration, conf/services):
    # 1020 prompt and 129 output tokens.
    assert np.median(azure.prompt_tokens) == pytest.approx(1020, abs=1)
    assert np.median(azure.output_tokens) == pytest.approx(129, abs=1)


def test_packaged_trace_by_name():
    assert resolve_trace_path("azure-conv-2023").is_file()
    assert len(load_azure_trace("azure-conv-2023").offset_s) == 19_366


def test_resolve_plain_path_is_unchanged(tmp_path):
    p = tmp_path / "x.csv"
    assert resolve_trace_path(p) == p
    assert resolve_trace_path(str(p)) == p


def test_datetime_and_numeric_timestamps(tmp_path):
    t = load_azure_trace(
        _csv(
            tmp_path,
            HEADER
            + "2023-11-16 18:15:46.5,10,5\n"
            + "2023-11-16T18:15:48.2500000,20,6\n"
            + "2023-11-16 18:16:46,30,7\n",
        )
    )
    np.testing.assert_allclose(t.offset_s, [0.0, 1.75, 59.5])
    np.testing.assert_array_equal(t.prompt_tokens, [10, 20, 30])
    np.testing.assert_array_equal(t.output_tokens, [5, 6, 7])
    n = load_azure_trace(_csv(tmp_path, HEADER + "100.5,1,2\n103,3,4\n", "n.csv"))
    np.testing.assert_allclose(n.offset_s, [0.0, 2.5])


def test_columns_in_any_order_and_extra_columns(tmp_path):
    t = load_azure_trace(
        _csv(tmp_path, "GeneratedTokens,Extra,ContextTokens,TIMESTAMP\n5,x,10,0\n6,y,20,4\n")
    )
    np.testing.assert_array_equal(t.prompt_tokens, [10, 20])
    np.testing.assert_array_equal(t.output_tokens, [5, 6])
    np.testing.assert_allclose(t.offset_s, [0.0, 4.0])


def test_out_of_order_rows_are_sorted_with_their_tokens(tmp_path):
    t = load_azure_trace(_csv(tmp_path, HEADER + "10,1,2\n5,3,4\n20,5,6\n"))
    np.testing.assert_allclose(t.offset_s, [0.0, 5.0, 15.0])
    np.testing.assert_array_equal(t.prompt_tokens, [3, 1, 5])
    np.testing.assert_array_equal(t.output_tokens, [4, 2, 6])


def test_blank_lines_are_skipped(tmp_path):
    t = load_azure_trace(_csv(tmp_path, HEADER + "0,1,2\n\n5,3,4\n"))
    assert len(t.offset_s) == 2


@pytest.mark.parametrize(
    ("body", "line", "what"),
    [
        ("0,1,2\n1,2\n", 3, "fields"),  # wrong field count
        ("0,1,2\n1,2,3,4\n", 3, "fields"),
        ("0,1,2\n1,-5,3\n", 3, "ContextTokens"),  # negative
        ("0,1,2\n1,5,-3\n", 3, "GeneratedTokens"),
        ("0,1,2\n1,,3\n", 3, "ContextTokens"),  # missing
        ("0,1,2\n,4,3\n", 3, "TIMESTAMP"),
        ("0,1,2\n1,abc,3\n", 3, "ContextTokens"),  # non-numeric
        ("0,1,2\n1,4,2.5\n", 3, "GeneratedTokens"),  # not whole
        ("0,1,2\n1,4,0\n", 3, "GeneratedTokens"),  # no output at all
        ("0,1,2\n-1,4,3\n", 3, "TIMESTAMP"),  # negative time
        ("0,1,2\nyesterday,4,3\n", 3, "TIMESTAMP"),
        ("0,1,2\n2023-11-16 18:15:46.12x,4,3\n", 3, "TIMESTAMP"),
        ("0,1,2\n1,nan,3\n", 3, "ContextTokens"),
        ("0,1,2\n1,4,inf\n", 3, "GeneratedTokens"),
        ("0,1,2\n\n\n1,4\n", 5, "fields"),  # blank lines still count
    ],
)
def test_malformed_rows_name_their_line(tmp_path, body, line, what):
    with pytest.raises(InputError) as err:
        load_azure_trace(_csv(tmp_path, HEADER + body))
    msg = str(err.value)
    assert f"t.csv line {line}" in msg
    assert what in msg


def test_empty_file(tmp_path):
    with pytest.raises(InputError, match="empty file"):
        load_azure_trace(_csv(tmp_path, ""))


def test_header_only(tmp_path):
    with pytest.raises(InputError, match="no requests"):
        load_azure_trace(_csv(tmp_path, HEADER))


@pytest.mark.parametrize("missing", ["TIMESTAMP", "ContextTokens", "GeneratedTokens"])
def test_missing_column(tmp_path, missing):
    cols = [c for c in ("TIMESTAMP", "ContextTokens", "GeneratedTokens") if c != missing]
    with pytest.raises(InputError) as err:
        load_azure_trace(_csv(tmp_path, ",".join(cols) + "\n1,2\n"))
    assert "line 1" in str(err.value)
    assert missing in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"workload\.trace_path"):
        load_azure_trace(tmp_path / "nope.csv")


def test_byte_order_mark_is_accepted(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + (HEADER + "0,1,2\n3,4,5\n").encode())
    assert len(load_azure_trace(p).offset_s) == 2


# -- trace_window ----------------------------------------------------------------------------


@pytest.fixture
def even(tmp_path):
    """1000 requests, one per second at t = 0..999 (mean rate 1000 / 999 per second)."""
    rows = "".join(f"{k},{k + 1},{2 * k + 1}\n" for k in range(1000))
    return load_azure_trace(_csv(tmp_path, HEADER + rows, "even.csv"))


def test_window_bounds(even):
    arrival, prompt, output = trace_window(even, 100.0, 50.0)
    # Trace time [100, 150): requests 100..149, shifted to start at 0.
    np.testing.assert_allclose(arrival, np.arange(50.0))
    np.testing.assert_array_equal(prompt, np.arange(101, 151))
    np.testing.assert_array_equal(output, 2 * np.arange(100, 150) + 1)


def test_window_scale_two_doubles_the_rate(even):
    a1, _, _ = trace_window(even, 0.0, 100.0, 1.0)
    a2, p2, _ = trace_window(even, 0.0, 100.0, 2.0)
    assert len(a1) == 100
    assert len(a2) == 200  # trace time [0, 200) squeezed into 100 s
    np.testing.assert_allclose(a2, np.arange(200) / 2.0)
    np.testing.assert_array_equal(p2, np.arange(1, 201))
    assert a2.max() < 100.0


def test_window_half_rate(even):
    a, _, _ = trace_window(even, 10.0, 100.0, 0.5)
    # Trace time [10, 60): 50 requests, spread over 100 s.
    np.testing.assert_allclose(a, (np.arange(10, 60) - 10) / 0.5)


def test_window_errors(even):
    with pytest.raises(InputError, match=r"workload\.trace_start_s"):
        trace_window(even, 999.0, 10.0)
    with pytest.raises(InputError, match="scale"):
        trace_window(even, 0.0, 10.0, 0.0)
    with pytest.raises(InputError, match="scale"):
        trace_window(even, 0.0, 10.0, -1.0)


def test_window_past_the_end_keeps_what_exists(even):
    a, _, _ = trace_window(even, 950.0, 100.0)
    np.testing.assert_allclose(a, np.arange(50.0))


def test_trace_workload_scaled_to_the_rate(tmp_path):
    rows = "".join(f"{k},{50 + k % 7},{10 + k % 5}\n" for k in range(1000))
    path = _csv(tmp_path, HEADER + rows, "w.csv")
    svc = [
        ServiceTypeConfig(
            name="a",
            prompt_min_tokens=52,
            prompt_max_tokens=54,
            output_min_tokens=11,
            output_max_tokens=13,
        )
    ]
    wl = WorkloadConfig(kind="trace", trace_path=str(path), rate_rps=2.0)
    req = generate_requests(wl, svc, 2, 100.0, RngStreams(0))
    # scale = 2 / (1000 / 999): trace time [0, 199.8) -> 200 requests in 100 s.
    assert len(req) == 200
    assert req.arrival_s.max() < 100.0
    np.testing.assert_allclose(np.diff(req.arrival_s), 1 / (2.0 * 999 / 1000), rtol=1e-9)
    # Token counts come from the trace, clipped to the service type's [min, max].
    raw_prompt = 50 + np.arange(200) % 7
    np.testing.assert_array_equal(req.prompt_tokens, np.clip(raw_prompt, 52, 54))
    np.testing.assert_array_equal(req.output_tokens, np.clip(10 + np.arange(200) % 5, 11, 13))
    native = generate_requests(
        WorkloadConfig(
            kind="trace", trace_path=str(path), trace_native_rate=True, trace_start_s=10
        ),
        svc,
        2,
        100.0,
        RngStreams(0),
    )
    np.testing.assert_allclose(native.arrival_s, np.arange(100.0))


def test_real_trace_workload_rate(tmp_path):
    """The real trace scaled to 2 requests/s gives about 2 requests/s."""
    wl = WorkloadConfig(kind="trace", trace_path=str(PACKAGED), rate_rps=2.0)
    req = generate_requests(wl, [ServiceTypeConfig()], 3, 600.0, RngStreams(0))
    assert 0.75 * 1200 < len(req) < 1.25 * 1200
    native = generate_requests(
        WorkloadConfig(kind="trace", trace_path=str(PACKAGED), trace_native_rate=True),
        [ServiceTypeConfig()],
        3,
        600.0,
        RngStreams(0),
    )
    azure = load_azure_trace(PACKAGED)
    assert len(native) == int((azure.offset_s < 600.0).sum())


@pytest.fixture
def new_york_time(monkeypatch):
    """Run with the process's local time zone set to America/New_York."""
    import time

    if not hasattr(time, "tzset"):  # pragma: no cover - Windows
        pytest.skip("time.tzset unavailable")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_timestamps_do_not_depend_on_the_local_time_zone(tmp_path, new_york_time):
    # 00:59 to 02:01 on 2023-11-05 is 62 minutes of trace time, whatever the local zone.
    t = load_azure_trace(
        _csv(tmp_path, HEADER + "2023-11-05 00:59:00,1,1\n2023-11-05 02:01:00,1,1\n")
    )
    np.testing.assert_allclose(t.offset_s, [0.0, 3720.0])
