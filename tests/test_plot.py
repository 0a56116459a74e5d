"""``perllm-opt-plot`` and ``plot=true``: a run's and a sweep's figures and one-file report
(perllm_opt/cli/plot.py, paper/run_figures.py)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from perllm_opt.cli.plot import main as plot_main

RUN = ["horizon_s=30", "schedulers=[cs_ucb,random]", "progress=false"]
RUN_FIGURES = ("regret", "outcomes", "energy", "latency")


def perllm_opt(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perllm_opt.cli.main", *args],
        capture_output=True, text=True, cwd=cwd, timeout=600,
        env={**os.environ, "PERLLM_JOBS": "2"},
    )  # fmt: skip


class _Cells(HTMLParser):
    """Every table's rows of cell texts, every tag's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(report: Path) -> _Cells:
    p = _Cells()
    p.feed(report.read_text("utf-8"))
    return p


def self_contained(report: Path) -> None:
    """No script, no external link: every src or href is embedded data."""
    page = parse(report)
    assert "script" not in page.tags and "link" not in page.tags
    for name, value in page.attrs:
        if name in ("src", "href"):
            assert value and value.startswith("data:"), (name, value)
    assert "http" not in report.read_text("utf-8").replace("http-equiv", "")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("plotrun") / "run"
    proc = perllm_opt(*RUN, "plot=true", f"hydra.run.dir={d}", cwd=d.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return d


def test_a_run_with_plot_true_writes_every_figure_and_a_self_contained_report(run_dir):
    for name in RUN_FIGURES:
        for ext in ("png", "pdf"):
            assert (run_dir / "figures" / f"{name}.{ext}").stat().st_size > 1000
    report = run_dir / "report.html"
    self_contained(report)
    text = report.read_text("utf-8")
    assert text.count("data:image/png;base64,") == len(RUN_FIGURES)
    assert "certified gap" in text and "seed: 0" in text  # the optimum's line, the config


def test_the_reports_table_is_metrics_csv(run_dir):
    with (run_dir / "metrics.csv").open(newline="", encoding="utf-8") as fh:
        want = [[c for c in row] for row in csv.reader(fh)]
    tables = parse(run_dir / "report.html").tables
    assert want in tables
    assert len(want) == 4  # header, the optimum and two schedulers


def test_plotting_a_run_again_from_its_directory(run_dir, capsys):
    (run_dir / "report.html").unlink()
    assert plot_main([str(run_dir), "--no-pdf"]) == 0
    assert (run_dir / "report.html").is_file()
    assert "report:" in capsys.readouterr().out


def test_a_sweep_with_a_failed_run_plots_the_others_and_names_it(tmp_path, capsys):
    d = tmp_path / "sweep"
    proc = perllm_opt(
        "-m", "optimal=false", *RUN, "seed=0,1", "workload.rate_rps=1,2,-1",
        f"hydra.sweep.dir={d}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1  # the -1 runs fail
    assert plot_main([str(d)]) == 0
    err = capsys.readouterr().err
    assert err.count("left out") == 2 and "workload.rate_rps=-1" in err
    for ext in ("png", "pdf"):
        assert (d / "figures" / f"sweep_workload_rate_rps.{ext}").stat().st_size > 1000
    assert not list((d / "figures").glob("sweep_seed*"))  # seeds make the intervals
    report = d / "report.html"
    self_contained(report)
    text = report.read_text("utf-8")
    assert "Runs left out" in text and "workload.rate_rps=-1" in text
    means = parse(report).tables[0]
    assert means[0][:2] == ["scheduler", "workload.rate_rps"]
    assert len(means) == 1 + 2 * 2  # two schedulers at the two rates that ran


@pytest.mark.parametrize("make", ["empty", "missing", "corrupt"])
def test_a_directory_that_is_neither_is_a_one_line_error(tmp_path, capsys, make):
    target = tmp_path / "x"
    if make != "missing":
        target.mkdir()
    if make == "corrupt":
        (target / "metrics.json").write_text("{not json", "utf-8")
    assert plot_main([str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("perllm-opt-plot: error:") and "x" in err[0]
    assert not (target / "report.html").exists()
