"""Figures of any run or sweep of ``perllm-opt`` (``perllm-opt-plot``), in the paper's style.

Built on :mod:`paper.figures`' helpers (colours, order, 95% intervals, lines): a run's
regret over time against both references, its outcomes, energy split and latency
percentiles; a sweep's metrics against every swept key. Each function takes tables read
from the run's or sweep's own files and returns matplotlib Figures; nothing here writes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from paper.figures import _line, color, mean_ci, ordered

#: Sweep metrics: column, axis label, scale (divide by).
SWEEP_METRICS = (
    ("served", "on-time requests", 1.0),
    ("energy_j", "energy (kJ)", 1e3),
    ("energy_per_served_j", "energy per on-time request (J)", 1.0),
    ("regret_requests", "regret (requests short of the optimum)", 1.0),
    ("latency_p95_s", "95th-percentile latency (s)", 1.0),
)


def _figure(width: float = 7.0, height: float = 3.6, ncols: int = 1):
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, np.atleast_1d(axes)


def fig_run_regret(series: pd.DataFrame, metrics: pd.DataFrame) -> Figure | None:
    """Cumulative regret against time: against the clairvoyant optimum (with the certified
    interval at the horizon: the true regret lies between the mark and the bar's top),
    and pseudo-regret against the known-means oracle. None without an optimum."""
    if series.empty or "regret_requests" not in series:
        return None
    fig, (left, right) = _figure(ncols=2, width=9.0)
    opt = metrics[metrics.scheduler == "optimal"]
    slack = 0.0
    if not opt.empty and {"served_bound", "served"} <= set(opt.columns):
        slack = float(opt["served_bound"].iloc[0] - opt["served"].iloc[0])
        slack = slack if np.isfinite(slack) else 0.0
    names = [n for n in ordered(series.scheduler.unique()) if n != "optimal"]
    for name in names:
        s = series[series.scheduler == name].sort_values("time_s")
        kw = {"color": color(name), "label": name, "lw": 2.2 if name == "cs_ucb" else 1.0}
        left.plot(s["time_s"], s["regret_requests"], **kw)
        if slack > 0 and len(s):
            end = s.iloc[-1]
            left.errorbar(
                [end["time_s"]], [end["regret_requests"] + slack / 2], yerr=[[slack / 2]],
                color=color(name), capsize=2, lw=1.0,
            )  # fmt: skip
        if "pseudo_regret_requests" in s and s["pseudo_regret_requests"].notna().any():
            right.plot(s["time_s"], s["pseudo_regret_requests"], **kw)
    title = "against the clairvoyant optimum"
    if slack > 0:
        title += f"\n(bars: certified interval, {slack:.0f} requests)"
    left.set(xlabel="time (s)", ylabel="cumulative regret (requests)", title=title)
    right.set(
        xlabel="time (s)", ylabel="cumulative pseudo-regret (expected requests)",
        title="against the known-means oracle",
    )  # fmt: skip
    right.axhline(0.0, color="grey", lw=0.5)
    left.legend(fontsize=7, ncol=2)
    return fig


def _stacked(metrics: pd.DataFrame, parts, ylabel: str, title: str, scale: float) -> Figure:
    """Per scheduler, the columns ``parts`` ((column, label, colour), ...) stacked."""
    fig, (ax,) = _figure()
    names = ordered(metrics.scheduler)
    m = metrics.set_index("scheduler").reindex(names)
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    for col, label, shade in parts:
        v = pd.to_numeric(m.get(col, pd.Series(0, index=m.index)), errors="coerce").fillna(0)
        ax.bar(x, v.to_numpy() / scale, 0.7, bottom=bottom, label=label, color=shade)
        bottom += v.to_numpy() / scale
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=7)
    return fig


def fig_run_outcomes(metrics: pd.DataFrame) -> Figure:
    """On-time, late and refused requests per scheduler (stacked)."""
    parts = (("served", "on time", "#4c72b0"), ("late", "late", "#dd8452"))
    parts += (("refused", "refused", "#bbbbbb"),)
    return _stacked(metrics, parts, "requests", "outcome of every request", 1.0)


def fig_run_energy(metrics: pd.DataFrame) -> Figure:
    """Energy split (transmission, inference, idle) per scheduler, in kJ (stacked)."""
    parts = (
        ("energy_tran_j", "transmission", "#55a868"),
        ("energy_infer_j", "inference", "#c44e52"),
        ("energy_idle_j", "idle", "#8172b3"),
    )
    return _stacked(metrics, parts, "energy (kJ)", "energy by part", 1e3)


def fig_run_latency(metrics: pd.DataFrame) -> Figure:
    """Latency percentiles (p50, p95, p99) of the served requests per scheduler."""
    fig, (ax,) = _figure()
    names = ordered(metrics.scheduler)
    m = metrics.set_index("scheduler").reindex(names)
    x = np.arange(len(names))
    cols = ("latency_p50_s", "latency_p95_s", "latency_p99_s")
    step = 0.8 / len(cols)
    for k, (col, shade) in enumerate(zip(cols, ("#8da0cb", "#4c72b0", "#223366"), strict=True)):
        v = pd.to_numeric(m[col], errors="coerce").to_numpy()
        ax.bar(x - 0.4 + (k + 0.5) * step, v, step, label=col.split("_")[1], color=shade)
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set(ylabel="latency (s)", title="latency percentiles of served requests")
    ax.legend(fontsize=7)
    return fig


def run_figures(metrics: pd.DataFrame, series: pd.DataFrame) -> dict[str, Figure]:
    """Every figure of one run, by file stem."""
    out = {
        "outcomes": fig_run_outcomes(metrics),
        "energy": fig_run_energy(metrics),
        "latency": fig_run_latency(metrics),
    }
    regret = fig_run_regret(series, metrics)
    if regret is not None:
        out = {"regret": regret, **out}
    return out


def _numeric(values: pd.Series) -> bool:
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def sweep_figures(table: pd.DataFrame, swept: list[str]) -> dict[str, Figure]:
    """Each metric against every swept key that takes several values (``seed`` is what the
    intervals are over): the mean and 95% interval over the other keys' runs, one line per
    scheduler."""
    out: dict[str, Figure] = {}
    keys = [k for k in swept if k != "seed" and k in table and table[k].nunique() > 1]
    for key in keys:
        metrics = [m for m in SWEEP_METRICS if m[0] in table]
        fig, axes = _figure(ncols=len(metrics), width=3.2 * len(metrics), height=3.4)
        numeric = _numeric(table[key])
        data = table.copy()
        if numeric:
            data[key] = pd.to_numeric(data[key])
        levels = sorted(data[key].unique(), key=lambda v: (isinstance(v, str), v))
        for ax, (col, label, scale) in zip(axes, metrics, strict=True):
            stats = mean_ci(data, ["scheduler", key], col)
            for name in ordered(stats.scheduler):
                s = stats[stats.scheduler == name]
                if not numeric:
                    s = s.assign(**{key: [levels.index(v) for v in s[key]]})
                _line(ax, s.sort_values(key), key, name, scale)
            ax.set(xlabel=key, ylabel=label)
            if not numeric:
                ax.set_xticks(range(len(levels)), [str(v) for v in levels])
        axes[0].legend(fontsize=6, ncol=2)
        fig.suptitle(f"against {key} (mean and 95% interval over seeds)", fontsize=9)
        out[f"sweep_{key.replace('.', '_')}"] = fig
    return out
