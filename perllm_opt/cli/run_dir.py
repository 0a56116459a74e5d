"""Whether a run directory already holds the results of a configuration: what a resumed
sweep skips, and what a single run refuses to write over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from perllm_opt.cli.files import DONE_FILE
from perllm_opt.cli.run_record import changed_inputs, differing_keys, result_problem
from perllm_opt.errors import InputError
from perllm_opt.evaluation.collect import NON_RESULT_KEYS

# NON_RESULT_KEYS (perllm_opt.evaluation.collect): config keys that change how a run looks,
# never its results; a resumed sweep does not redo a run for them (Hydra's own settings, launchers
# included, are not in the task config).


def results_config(cfg_yaml: str) -> dict[str, Any] | None:
    """The config of ``cfg_yaml`` without :data:`NON_RESULT_KEYS`; None if it does not parse."""
    try:
        data = OmegaConf.to_container(OmegaConf.create(cfg_yaml), resolve=False)
    except (OmegaConfBaseException, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {k: v for k, v in data.items() if k not in NON_RESULT_KEYS}


#: Keys added after runs were first saved, each with the value that gives the results of
#: before: a saved run without the key counts as having that value (so upgrading does not
#: redo complete runs whose results the new key leaves alone).
ADDED_KEYS: dict[tuple[str, ...], Any] = {
    ("solver", "window_s"): None,
    ("solver", "lookahead_blocks"): 3,
    ("solver", "lookahead_relaxed"): True,
    ("solver", "improve_passes"): 1,
    ("solver", "checks"): None,
    # The windowed search (issue 23): off before; its settings then did not matter.
    ("solver", "search"): False,
    ("solver", "search_window_s"): 60.0,
    ("solver", "search_passes"): 4,
    ("solver", "search_polish_passes"): 1,
    ("solver", "search_checks"): 50,
    ("solver", "search_warm"): True,
    ("solver", "search_gap"): 0.01,
    ("solver", "whole_max_options"): 20000,
    # The LP bound by blocks (issue 26): every window's LP was whole before.
    ("solver", "lp_max_options"): None,
    ("solver", "lp_block_s"): 120.0,
    # placement=optimize in continuous mode (issue 23): refused before, so no saved run used it.
    ("solver", "placement_moves"): 3,
    ("solver", "placement_nodes"): 8,
    ("calibration", "extra_devices_file"): None,
    # Candidate edge servers per zone (issue 26): every reachable server before.
    ("topology", "nearest_edge_servers"): None,
}


def _with_added_keys(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with every key of :data:`ADDED_KEYS` it lacks set to its earlier value."""
    for path, value in ADDED_KEYS.items():
        node = cfg
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and path[-1] not in node:
            node[path[-1]] = value
    return cfg


def other_config(out_dir: Path, cfg_yaml: str) -> list[str] | None:
    """The results keys in which the run saved in ``out_dir`` differs from ``cfg_yaml``
    ([] for none, keys of :data:`ADDED_KEYS` missing from the saved configuration taking
    their earlier value); None when ``out_dir`` holds no run (no ``metrics.json`` or no
    readable ``resolved_config.yaml``)."""
    saved = out_dir / "resolved_config.yaml"
    if not ((out_dir / DONE_FILE).is_file() and saved.is_file()):
        return None
    try:
        text = saved.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if text == cfg_yaml:
        return []
    before, now = results_config(text), results_config(cfg_yaml)
    if before is None or now is None:
        return None
    return differing_keys(_with_added_keys(before), now)


def stale_reason(out_dir: Path, cfg_yaml: str) -> str | None:
    """Why ``out_dir`` does not hold a complete run of ``cfg_yaml`` (a phrase), or None when
    it does: the same value of every results key, result files that parse and match their
    schema, and input files (topology, trace, devices, models) unchanged since the run."""
    differ = other_config(out_dir, cfg_yaml)
    if differ is None:
        return "no complete run"
    if differ:
        return f"its config differs in {', '.join(differ[:4])}"
    problem = result_problem(out_dir)
    if problem is not None:
        return f"its results do not parse ({problem})"
    cfg = results_config(cfg_yaml) or {}
    changed = changed_inputs(out_dir, cfg)
    if changed:
        return f"the file named by {', '.join(changed)} changed since"
    return None


def is_complete(out_dir: Path, cfg_yaml: str) -> bool:
    """A run directory already holds the results of this configuration
    (:func:`stale_reason` finds nothing to redo)."""
    return stale_reason(out_dir, cfg_yaml) is None


def check_run_dir(out_dir: Path, cfg_yaml: str, overwrite: bool) -> None:
    """Before a single run writes anything: refuse a ``hydra.run.dir`` that names a file, or
    a directory holding a complete run of another config (unless ``overwrite``)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("hydra.run.dir", str(out_dir), "a directory (it names a file)")
    differ = other_config(out_dir, cfg_yaml)
    if differ and not overwrite:
        raise InputError(
            "hydra.run.dir",
            str(out_dir),
            f"a directory without another config's results (it holds a complete run whose "
            f"config differs in {', '.join(differ[:4])}): choose another hydra.run.dir, or "
            "set overwrite=true to replace that run",
        )
