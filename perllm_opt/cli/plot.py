"""``perllm-opt-plot DIR``: figures and a one-file HTML report for a run or a sweep.

A run directory (it holds ``metrics.json``): regret over time against both references,
outcomes, energy split and latency percentiles (:mod:`paper.run_figures`). A sweep
directory (runs below it, collected as ``perllm-opt-collect`` does, without writing its
tables): every metric against every swept key with 95% intervals over seeds, and the runs
that failed or could not be read, named. Figures go to ``DIR/figures/`` as PNG and PDF;
``DIR/report.html`` holds the tables, the figures (embedded), the config, the optimum's
status and certified gap, and the timings, with no external link or script.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from perllm_opt.cli.files import write_atomic
from perllm_opt.errors import InputError
from perllm_opt.evaluation.collect import collect

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;font-size:12px;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
    "th{background:#eee}td:first-child,th:first-child{text-align:left}"
    "img{max-width:100%;display:block;margin:1em 0}pre{background:#f6f6f6;padding:1em;"
    "font-size:11px;overflow-x:auto}.warn{color:#a33}"
)


def _figures_to(figs: dict, folder: Path, pdf: bool) -> dict[str, bytes]:
    """Save each figure as PNG (and PDF) in ``folder`` as the paper's figures are saved;
    returns the PNG bytes by name (for the report)."""
    from paper.cli import save_figure

    folder.mkdir(parents=True, exist_ok=True)
    exts = ("png", "pdf") if pdf else ("png",)
    return {
        name: save_figure(fig, folder, name, exts)[0].read_bytes() for name, fig in figs.items()
    }


def _table_html(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _csv_table(path: Path) -> str:
    """The CSV file's cells exactly as written (the report's table is ``metrics.csv``)."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return _table_html(rows[0], rows[1:]) if rows else ""


def _page(title: str, sections: list[str]) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>" + "".join(sections) + "</body></html>\n"
    )


def _images(pngs: dict[str, bytes]) -> str:
    return "".join(
        f"<h3>{html.escape(name)}</h3><img alt='{html.escape(name)}' "
        f"src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"
        for name, png in pngs.items()
    )


def _optimum_line(metrics: list[dict[str, Any]]) -> str:
    opt = next((r for r in metrics if r.get("scheduler") == "optimal"), None)
    if opt is None:
        return "<p>No optimum in this run (<code>optimal=false</code>).</p>"
    served, bound = opt.get("served"), opt.get("served_bound")
    gap = opt.get("certified_gap")
    text = f"status <b>{html.escape(str(opt.get('status')))}</b>, on time {served}"
    if isinstance(bound, int | float) and bound == bound:
        text += f", proven at most {bound:.0f}"
    if isinstance(gap, int | float) and gap == gap:
        text += f", certified gap {100 * gap:.2f}% of on-time requests"
    return f"<p>Optimum: {text}.</p>"


def run_report(run_dir: Path, pdf: bool = True) -> Path:
    """Figures and ``report.html`` of one run directory; returns the report's path."""
    from paper.run_figures import run_figures

    try:
        metrics = json.loads((run_dir / "metrics.json").read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            str(run_dir / "metrics.json"), f"unreadable JSON ({exc})", "a run's metrics"
        ) from None
    if not isinstance(metrics, list) or not all(isinstance(r, dict) for r in metrics):
        raise InputError(str(run_dir / "metrics.json"), type(metrics).__name__, "a list of rows")
    table = pd.DataFrame(metrics)
    series_path = run_dir / "regret_series.csv"
    series = pd.read_csv(series_path) if series_path.is_file() else pd.DataFrame()
    pngs = _figures_to(run_figures(table, series), run_dir / "figures", pdf)
    sections = [_optimum_line(metrics), "<h2>Results (metrics.csv)</h2>"]
    if (run_dir / "metrics.csv").is_file():
        sections.append(_csv_table(run_dir / "metrics.csv"))
    sections += ["<h2>Figures</h2>", _images(pngs)]
    timings = run_dir / "timings.json"
    if timings.is_file():
        rows = json.loads(timings.read_text("utf-8")).get("rows", [])
        keys = list(dict.fromkeys(k for r in rows for k in r))
        cells = [[_fmt(r.get(k, "")) for k in keys] for r in rows]
        sections += ["<h2>Timings (s)</h2>", _table_html(keys, cells)]
    config = run_dir / "resolved_config.yaml"
    if config.is_file():
        sections += ["<h2>Config</h2>", f"<pre>{html.escape(config.read_text('utf-8'))}</pre>"]
    report = run_dir / "report.html"
    write_atomic(report, _page(f"perllm-opt run: {run_dir.name}", sections))
    return report


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def sweep_report(sweep_dir: Path, pdf: bool = True) -> tuple[Path, list[str]]:
    """Figures and ``report.html`` of a sweep directory; returns the report's path and the
    runs left out (failed or unreadable), named in the report too."""
    from paper.run_figures import SWEEP_METRICS, sweep_figures

    col = collect(sweep_dir)
    if col.table.empty:
        raise InputError(
            "directory", str(sweep_dir),
            "a run directory (with metrics.json) or a sweep directory with complete runs",
        )  # fmt: skip
    missing = [f"{run}: failed" for run in col.failed]
    missing += [f"{run}: {why}" for run, why in col.unreadable]
    pngs = _figures_to(sweep_figures(col.table, col.swept), sweep_dir / "figures", pdf)
    keys = [k for k in col.swept if k != "seed" and k in col.table and col.table[k].nunique() > 1]
    cols = [m for m, _, _ in SWEEP_METRICS if m in col.table]
    means = col.table.groupby(["scheduler", *keys], dropna=False)[cols].mean().reset_index()
    header = list(means.columns)
    cells = [[_fmt(v) for v in row] for row in means.itertuples(index=False)]
    sections = [
        f"<p>{col.runs} run(s) collected; swept: {html.escape(', '.join(col.swept) or '-')}.</p>"
    ]
    if missing:
        items = "".join(f"<li>{html.escape(m)}</li>" for m in missing)
        sections.append(f"<p class='warn'>Runs left out:</p><ul>{items}</ul>")
    sections += ["<h2>Means over seeds</h2>", _table_html(header, cells)]
    sections += ["<h2>Figures</h2>", _images(pngs)]
    report = sweep_dir / "report.html"
    write_atomic(report, _page(f"perllm-opt sweep: {sweep_dir.name}", sections))
    return report, missing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="perllm-opt-plot", description=__doc__.split("\n")[0])
    ap.add_argument("directory", help="a run directory (with metrics.json) or a sweep directory")
    ap.add_argument("--no-pdf", action="store_true", help="PNG figures only")
    args = ap.parse_args(argv)
    where = Path(args.directory)
    try:
        if not where.is_dir():
            raise InputError("directory", str(where), "an existing directory")
        if (where / "metrics.json").is_file():
            report = run_report(where, pdf=not args.no_pdf)
        else:
            report, missing = sweep_report(where, pdf=not args.no_pdf)
            for m in missing:
                print(f"perllm-opt-plot: left out {m}", file=sys.stderr)
    except InputError as exc:
        print(f"perllm-opt-plot: error: {exc}", file=sys.stderr)
        return 2
    print(f"figures: {report.parent / 'figures'}\nreport: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
