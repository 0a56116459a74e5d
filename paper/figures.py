"""Figures from saved results only (tables produced by ``perllm_opt.evaluation.collect``).

Each ``fig_*`` function takes tidy tables and returns a matplotlib Figure; nothing here
simulates or writes files (``paper.cli`` saves them). Error bars are 95% Student-t
confidence intervals over seeds (or trace windows).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter, ScalarFormatter

from perllm_opt.evaluation.collect import t975

#: Display order; schedulers not listed go last, alphabetically.
ORDER = (
    "optimal",
    "cs_ucb",
    "cs_ucb_static",
    "cs_ucb_no_price",
    "oracle_milp",
    "oracle_greedy",
    "greedy_energy",
    "greedy_latency",
    "ucb1",
    "epsilon_greedy",
    "thompson",
    "linucb",
    "bwk",
    "random",
    "round_robin",
    "edge_only",
    "cloud_only",
    "cs_ucb_greedy",
)
LEARNERS = ("cs_ucb", "ucb1", "epsilon_greedy", "thompson", "linucb", "bwk")
_PALETTE = plt.get_cmap("tab20").colors


def color(name: str) -> tuple[float, ...]:
    """A fixed colour per scheduler across all figures."""
    idx = ORDER.index(name) if name in ORDER else len(ORDER) + sum(map(ord, name)) % 8
    return _PALETTE[(idx * 2) % 20] if idx < 10 else _PALETTE[(idx * 2 + 1) % 20]


def ordered(names) -> list[str]:
    names = list(dict.fromkeys(names))
    return [n for n in ORDER if n in names] + sorted(n for n in names if n not in ORDER)


def mean_ci(table: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Mean and 95% confidence half-width of ``metric`` over the rows of each group."""
    rows = []
    for key, sub in table.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        x = pd.to_numeric(sub[metric], errors="coerce").to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        mean = float(x.mean()) if len(x) else math.nan
        ci = t975(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x)) if len(x) > 1 else 0.0
        rows.append({**dict(zip(by, key, strict=True)), "mean": mean, "ci": ci, "n": len(x)})
    return pd.DataFrame(rows)


def with_optimum(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Each row joined with the same run's ``optimal`` row (columns ``<metric>_opt``)."""
    opt = table[table.scheduler == "optimal"][["run", *metrics]]
    return table.merge(opt.rename(columns={m: f"{m}_opt" for m in metrics}), on="run")


def _line(ax, stats: pd.DataFrame, x: str, name: str, scale: float = 1.0) -> None:
    """One scheduler's mean with 95% error bars against ``x`` (CS-UCB drawn bold)."""
    ax.errorbar(
        stats[x],
        stats["mean"] / scale,
        yerr=stats["ci"] / scale,
        marker="o",
        ms=3,
        capsize=2,
        color=color(name),
        label=name,
        lw=2.2 if name == "cs_ucb" else 1.0,
    )


def _bars(
    ax, groups: list, names: list[str], stats: pd.DataFrame, group_col: str, width: float = 0.8
) -> None:
    step = width / max(len(names), 1)
    x = np.arange(len(groups))
    for k, name in enumerate(names):
        sub = stats[stats.scheduler == name].set_index(group_col).reindex(groups)
        ax.bar(
            x - width / 2 + (k + 0.5) * step,
            sub["mean"],
            step,
            yerr=sub["ci"],
            color=color(name),
            label=name,
            capsize=2,
            edgecolor="black",
            linewidth=0.3,
            hatch="//" if name == "optimal" else None,
        )
    ax.set_xticks(x, [str(g) for g in groups])


def fig_throughput(table: pd.DataFrame) -> Figure:
    """Fig. 1: throughput (on-time completions/s) of every scheduler per model deployment,
    one panel per topology."""
    t = table.assign(
        deployment=table.get("deployment", "default"), topology=table.get("topology", "paper")
    )
    tops = sorted(t["topology"].unique())
    names = ordered(t["scheduler"].unique())
    fig, axes = plt.subplots(
        1,
        len(tops),
        figsize=(5.5 * len(tops) + 2.5, 3.8),
        layout="constrained",
        sharey=True,
        squeeze=False,
    )
    for ax, top in zip(axes[0], tops, strict=True):
        sub = t[t["topology"] == top]
        groups = sorted(sub["deployment"].unique())
        _bars(
            ax,
            groups,
            names,
            mean_ci(sub, ["deployment", "scheduler"], "throughput_rps"),
            "deployment",
        )
        ax.set_xlabel("model deployment")
        ax.set_title(f"topology {top}")
    axes[0][0].set_ylabel("throughput (on-time requests/s)")
    axes[0][-1].legend(ncols=1, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def fig_energy(
    table: pd.DataFrame, deployment: str | None = "edge_small", topology: str | None = "paper"
) -> Figure:
    """Fig. 2: energy split into transmission, inference and idle (left), and energy per
    on-time request with CS-UCB's reduction against each scheduler (right), at one
    deployment and topology (PerLLM's set-up by default)."""
    t = table
    if deployment and "deployment" in t and (t["deployment"] == deployment).any():
        t = t[t["deployment"] == deployment]
    if topology and "topology" in t and (t["topology"] == topology).any():
        t = t[t["topology"] == topology]
    names = ordered(t["scheduler"].unique())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    for kind, hatch in (("energy_tran_j", "xx"), ("energy_infer_j", None), ("energy_idle_j", "..")):
        stats = mean_ci(t, ["scheduler"], kind).set_index("scheduler").reindex(names)
        vals = stats["mean"].to_numpy() / 1e3
        ax1.bar(
            x,
            vals,
            bottom=bottom,
            label=kind.split("_")[1],
            hatch=hatch,
            color=[color(n) for n in names],
            edgecolor="black",
            linewidth=0.3,
            alpha=1.0 if hatch is None else 0.55,
        )
        bottom += np.nan_to_num(vals)
    total = mean_ci(t, ["scheduler"], "energy_j").set_index("scheduler").reindex(names)
    ax1.errorbar(
        x, total["mean"] / 1e3, yerr=total["ci"] / 1e3, fmt="none", ecolor="black", capsize=2
    )
    ax1.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax1.set_ylabel("energy (kJ)")
    ax1.set_title("Energy by kind")
    kinds = [
        Patch(facecolor="white", edgecolor="black", hatch=h, label=k)
        for k, h in (("transmission", "xx"), ("inference", None), ("idle", ".."))
    ]
    ax1.legend(handles=kinds, fontsize=7, loc="upper right")
    per = mean_ci(t, ["scheduler"], "energy_per_served_j").set_index("scheduler").reindex(names)
    ax2.bar(
        x,
        per["mean"] / 1e3,
        yerr=per["ci"] / 1e3,
        color=[color(n) for n in names],
        capsize=2,
        edgecolor="black",
        linewidth=0.3,
    )
    if "cs_ucb" in per.index:
        ref = per.loc["cs_ucb", "mean"]
        for k, n in enumerate(names):
            v = per.loc[n, "mean"]
            if n != "cs_ucb" and np.isfinite(v) and v > 0:
                ax2.annotate(
                    f"{100 * (1 - ref / v):+.0f}%",
                    (k, v / 1e3),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    ax2.set_yscale("log")
    ax2.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax2.set_ylabel("energy per on-time request (kJ, log)")
    ax2.set_title("Energy per on-time request (CS-UCB's reduction vs each)")
    return fig


def fig_bandwidth(table: pd.DataFrame) -> Figure:
    """Fig. 3: share of requests meeting their requirement against WAN bandwidth, fixed
    (solid) and fluctuating (dashed)."""
    t = table.copy()
    if "dynamics.bandwidth_links" not in t:
        t["dynamics.bandwidth_links"] = "fluctuating"
    key = "topology.wan_bandwidth_mbps"
    fig, ax = plt.subplots(figsize=(7.5, 4), layout="constrained")
    for name in ordered(t["scheduler"].unique()):
        for mode, style in (("none", "-"), ("fluctuating", "--")):
            sub = t[(t.scheduler == name) & (t["dynamics.bandwidth_links"] == mode)]
            if sub.empty:
                continue
            s = mean_ci(sub, [key], "served_fraction").sort_values(key)
            ax.errorbar(
                s[key],
                s["mean"],
                yerr=s["ci"],
                ls=style,
                marker="o",
                ms=3,
                color=color(name),
                capsize=2,
                label=name
                if mode == "none" or "none" not in set(t["dynamics.bandwidth_links"])
                else None,
            )
    ax.set_xscale("log")
    ax.set_xlabel("nominal WAN bandwidth (Mbps, log)")
    ax.set_ylabel("share of requests on time")
    ax.set_title("Requirement met vs bandwidth (solid: fixed, dashed: fluctuating)")
    ax.legend(fontsize=7, ncols=2)
    return fig


SERIES_COLUMNS = (
    "run",
    "seed",
    "dynamics",
    "scheduler",
    "time_s",
    "regret",
    "pseudo_regret",
    "served",
    "requests",
)


def _dynamics_label(run: Path) -> str:
    """The dynamics preset a sweep's run was given (``dynamics=<name>`` in its directory
    name), else ``default``; with `` @ <rate> req/s`` appended when the sweep also set the
    load (``workload.rate_rps=<rate>``), so that each (preset, load) is its own setting."""
    parts = dict(p.split("=", 1) for p in run.name.split(",") if "=" in p)
    label = parts.get("dynamics", "default")
    if "workload.rate_rps" in parts:
        label += f" @ {float(parts['workload.rate_rps']):g} req/s"
    return label


def preset_of(label: str) -> str:
    """The dynamics preset of a setting label (``misprofiled @ 2 req/s`` -> ``misprofiled``)."""
    return label.split(" @ ", 1)[0]


def regret_table(sweep_dir: str | Path) -> pd.DataFrame:
    """Per run, scheduler and round (or bin): cumulative ``regret`` in requests against the
    clairvoyant optimum, cumulative ``pseudo_regret`` in requests against the known-means
    oracle, and cumulative ``served`` and ``requests``, from each run's
    ``regret_series.csv``."""
    frames = []
    for path in sorted(Path(sweep_dir).rglob("regret_series.csv")):
        run = path.parent
        cfg = yaml.safe_load((run / "resolved_config.yaml").read_text("utf-8"))
        cum = pd.read_csv(path)
        frames.append(
            pd.DataFrame(
                {
                    "run": run.name,
                    "seed": cfg["seed"],
                    "dynamics": _dynamics_label(run),
                    "scheduler": cum["scheduler"],
                    "time_s": cum["time_s"],
                    "regret": cum["regret_requests"],
                    "pseudo_regret": cum["pseudo_regret_requests"],
                    "served": cum["served"],
                    "requests": cum["requests"],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=list(SERIES_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _mean_band(ax, table: pd.DataFrame, metric: str, name: str) -> pd.DataFrame:
    """Mean over seeds of ``metric`` against time, with its 95% band; returns the stats."""
    s = mean_ci(table[table.scheduler == name], ["time_s"], metric).sort_values("time_s")
    ax.plot(
        s["time_s"], s["mean"], color=color(name), label=name, lw=2.2 if name == "cs_ucb" else 1.2
    )
    ax.fill_between(
        s["time_s"], s["mean"] - s["ci"], s["mean"] + s["ci"], color=color(name), alpha=0.15
    )
    return s


def fig_regret(regret: pd.DataFrame) -> Figure:
    """Fig. 4: cumulative regret in requests against the clairvoyant optimum over time
    (the optimum knows every output length, slowdown and bandwidth), with a sqrt(T)
    reference through CS-UCB's final value."""
    fig, ax = plt.subplots(figsize=(7.5, 4), layout="constrained")
    regret = regret[regret.scheduler != "optimal"]
    for name in ordered(regret["scheduler"].unique()):
        s = _mean_band(ax, regret, "regret", name)
        if name == "cs_ucb" and len(s):
            t_end, r_end = float(s["time_s"].iloc[-1]), float(s["mean"].iloc[-1])
            grid = np.linspace(0, t_end, 200)
            ax.plot(grid, r_end * np.sqrt(grid / t_end), "k:", label=r"$c\sqrt{T}$ reference")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("cumulative regret (requests short of the optimum)")
    ax.set_title("Regret against the clairvoyant optimum")
    ax.legend(fontsize=7, ncols=2)
    return fig


def fig_pseudo_regret(regret: pd.DataFrame) -> Figure:
    """Fig. 8: cumulative pseudo-regret in requests against the known-means oracle
    (log-log), with sqrt(T) and linear references through CS-UCB's final value. Means
    that are not positive are left out of the log scale."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    regret = regret[~regret.scheduler.isin(["optimal", "oracle_milp"])]
    for name in ordered(regret["scheduler"].unique()):
        s = mean_ci(regret[regret.scheduler == name], ["time_s"], "pseudo_regret")
        s = s.sort_values("time_s")
        s = s[s["mean"] > 0]
        ax.plot(
            s["time_s"],
            s["mean"],
            color=color(name),
            label=name,
            lw=2.2 if name == "cs_ucb" else 1.2,
        )
        if name == "cs_ucb" and len(s):
            t_end, r_end = float(s["time_s"].iloc[-1]), float(s["mean"].iloc[-1])
            grid = np.geomspace(float(s["time_s"].iloc[0]), t_end, 100)
            ax.plot(grid, r_end * np.sqrt(grid / t_end), "k:", label=r"$\propto\sqrt{T}$")
            ax.plot(grid, r_end * grid / t_end, "k--", lw=0.8, label=r"$\propto T$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time (s, log)")
    ax.set_ylabel("cumulative pseudo-regret (expected requests, log)")
    ax.set_title("Pseudo-regret against the known-means oracle (stationary, rounds mode)")
    ax.legend(fontsize=7, ncols=2)
    return fig


def learning_curves(series: pd.DataFrame, window_s: float = 300.0) -> pd.DataFrame:
    """On-time share per ``window_s`` window (at most an eighth of the horizon, at least a
    bin) from the
    cumulative per-bin series, one row per (run, dynamics, scheduler, window end)."""
    rows = []
    if len(series):
        t = series["time_s"]
        window_s = max(min(window_s, float(t.max()) / 8.0), float(t.min()))
    for (run, dyn, name), sub in series.groupby(["run", "dynamics", "scheduler"]):
        sub = sub.sort_values("time_s")
        t = sub["time_s"].to_numpy(dtype=float)
        edges = np.arange(window_s, t.max() + 1e-9, window_s)
        at = np.searchsorted(t, edges - 1e-9)
        served = np.concatenate([[0.0], sub["served"].to_numpy(dtype=float)[at]])
        total = np.concatenate([[0.0], sub["requests"].to_numpy(dtype=float)[at]])
        share = np.diff(served) / np.maximum(np.diff(total), 1.0)
        rows.append(
            pd.DataFrame(
                {"run": run, "dynamics": dyn, "scheduler": name, "time_s": edges, "share": share}
            )
        )
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def fig_learning(series: pd.DataFrame, drift_at_s: float | None = None) -> Figure:
    """Fig. 9: learning curves, the on-time share per 5-minute window (shorter on short
    horizons) against time, one panel per setting (dynamics preset, and load when the sweep
    set it; a dotted line at the drift)."""
    curves = learning_curves(series)
    presets = sorted(curves["dynamics"].unique()) if len(curves) else ["none"]
    fig, axes = plt.subplots(
        1, len(presets), figsize=(5.5 * len(presets), 4), layout="constrained", sharey=True
    )
    axes = np.atleast_1d(axes)
    for ax, preset in zip(axes, presets, strict=True):
        sub = curves[curves.dynamics == preset] if len(curves) else curves
        for name in ordered(sub["scheduler"].unique()) if len(sub) else []:
            s = mean_ci(sub[sub.scheduler == name], ["time_s"], "share").sort_values("time_s")
            _line(ax, s, "time_s", name)
        if preset_of(preset) == "drift" and drift_at_s is not None:
            ax.axvline(drift_at_s, color="black", lw=0.8, ls=":")
        ax.set_title(f"dynamics={preset}")
        ax.set_xlabel("time (s, end of window)")
    axes[0].set_ylabel("share of requests on time")
    axes[0].legend(fontsize=7)
    return fig


def fig_optimality_gap(table: pd.DataFrame) -> Figure:
    """Fig. 5: energy gap (energy per on-time request / the optimum's) and throughput
    relative to the optimum, across loads."""
    key = "workload.rate_rps"
    t = with_optimum(table, ["throughput_rps"])
    t = t[t.scheduler != "optimal"].assign(
        throughput_ratio=lambda d: d["throughput_rps"] / d["throughput_rps_opt"]
    )
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for name in ordered(t["scheduler"].unique()):
        sub = t[t.scheduler == name]
        for ax, metric in ((ax1, "energy_gap"), (ax2, "throughput_ratio")):
            _line(ax, mean_ci(sub, [key], metric).sort_values(key), key, name)
    ax1.axhline(1.0, color="black", lw=0.6)
    ax1.set_yscale("log")
    ax1.set_xlabel("load (requests/s)")
    ax1.set_ylabel("energy gap (per on-time request, log)")
    ax1.set_title("Energy per on-time request / optimum's")
    ax2.axhline(1.0, color="black", lw=0.6)
    ax2.set_xlabel("load (requests/s)")
    ax2.set_ylabel("throughput / optimum's")
    ax2.set_title("Throughput relative to the optimum")
    ax2.legend(fontsize=7, ncols=2)
    return fig


def fig_trace(table: pd.DataFrame) -> Figure:
    """Fig. 6: trace-driven run (Azure LLM inference trace 2023): throughput and energy per
    on-time request per scheduler, over trace windows."""
    names = ordered(table["scheduler"].unique())
    x = np.arange(len(names))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for ax, metric, scale, label in (
        (ax1, "throughput_rps", 1.0, "throughput (on-time requests/s)"),
        (ax2, "energy_per_served_j", 1e3, "energy per on-time request (kJ, log)"),
    ):
        s = mean_ci(table, ["scheduler"], metric).set_index("scheduler").reindex(names)
        ax.bar(
            x,
            s["mean"] / scale,
            yerr=s["ci"] / scale,
            capsize=2,
            color=[color(n) for n in names],
            edgecolor="black",
            linewidth=0.3,
        )
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel(label)
    ax2.set_yscale("log")
    ax1.set_title("Azure LLM trace 2023: throughput")
    ax2.set_title("Azure LLM trace 2023: energy per on-time request")
    return fig


#: Slot settings of experiment ``slots``, in drawing order, with their round length (s).
SLOT_LENGTHS = {"rounds_5": 5, "rounds_10": 10, "rounds_20": 20, "rounds_30": 30, "rounds_60": 60}
SLOT_SCHEDULERS = ("optimal", "cs_ucb", "oracle_greedy", "greedy_energy", "thompson", "random")


def slot_table(table: pd.DataFrame) -> pd.DataFrame:
    """Experiment ``slots`` with ``regret_requests`` (on-time requests short of the same
    run's optimum) added."""
    t = with_optimum(table, ["served"])
    return t.assign(regret_requests=lambda d: d["served_opt"] - d["served"])


def fig_slots(table: pd.DataFrame) -> Figure:
    """Fig. 7: on-time requests, energy per on-time request and regret (requests short of
    the optimum) against the round length of rounds mode, one column per load; continuous
    mode (the default service model) as dashed reference lines."""
    t = slot_table(table)
    key = "workload.rate_rps"
    rates = sorted(t[key].unique())
    metrics = (
        ("served", 1.0, "on-time requests"),
        ("energy_per_served_j", 1e3, "energy per on-time request (kJ)"),
        ("regret_requests", 1.0, "requests short of the optimum"),
    )
    fig, axes = plt.subplots(
        len(metrics),
        len(rates),
        figsize=(4.2 * len(rates), 9),
        layout="constrained",
        squeeze=False,
    )
    names = [n for n in SLOT_SCHEDULERS if n in set(t["scheduler"])]
    for c, rate in enumerate(rates):
        sub = t[t[key] == rate]
        for r, (metric, scale, label) in enumerate(metrics):
            ax = axes[r, c]
            for name in names:
                if metric == "regret_requests" and name == "optimal":
                    continue
                s = sub[sub.scheduler == name]
                rounds = s[s["slot"].isin(list(SLOT_LENGTHS))].assign(
                    round_s=lambda d: d["slot"].map(SLOT_LENGTHS)
                )
                st = mean_ci(rounds, ["round_s"], metric).sort_values("round_s")
                _line(ax, st, "round_s", name, scale)
                cont = pd.to_numeric(s[s["slot"] == "continuous"][metric], errors="coerce")
                if cont.notna().any():
                    ax.axhline(cont.mean() / scale, color=color(name), ls="--", lw=1.0)
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(list(SLOT_LENGTHS.values()), [str(v) for v in SLOT_LENGTHS.values()])
            ax.set_xlabel("round length of rounds mode (s)")
            ax.set_ylabel(label)
            if r == 0:
                ax.set_title(f"{rate:g} requests/s (dashed: continuous mode)")
            if metric == "energy_per_served_j":
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(ScalarFormatter())
                ax.yaxis.set_minor_formatter(NullFormatter())
    axes[0, -1].legend(fontsize=7)
    return fig
