"""Typed config schemas for Hydra, and where the ``conf/`` tree is.

``base_config`` is :class:`~perllm_opt.config.AppConfig`, first in ``conf/config.yaml``'s
defaults, so every group file is merged into, and checked against, the typed schema. Each
scheduler config ``conf/scheduler/<name>.yaml`` starts from a schema
``/schema/scheduler/<name>`` generated from the dataclass its ``_target_`` names: a misspelt
hyperparameter or a value of the wrong type fails when the config loads, naming the key, and
adding a scheduler needs no schema code. The scheduler configs of a user's directory on
``hydra.searchpath`` get their schemas the same way (README, "Extending").
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from perllm_opt.config import AppConfig
from perllm_opt.errors import InputError, require
from perllm_opt.schedulers.factory import scheduler_class

_SIMPLE = {"float": float, "int": int, "bool": bool, "str": str}


def config_dir() -> str:
    """Absolute path of the config tree: the installed copy, else the repository's."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError("perllm-opt config tree (conf/config.yaml) not found")


def scheduler_schema(name: str, target: str) -> type:
    """A dataclass with ``_target_`` and the scheduler class's typed hyperparameters."""
    cls = scheduler_class(target, f"scheduler.{name}")
    hints = typing.get_type_hints(cls)
    specs: list[tuple[str, type, dataclasses.Field]] = [
        ("_target_", str, dataclasses.field(default=target))
    ]
    for f in dataclasses.fields(cls):
        if f.name == "name" or not f.init:
            continue
        hint = hints.get(f.name, f.type)
        hint = _SIMPLE.get(hint, hint) if isinstance(hint, str) else hint
        default = f.default if f.default is not dataclasses.MISSING else dataclasses.MISSING
        specs.append((f.name, hint, dataclasses.field(default=default)))
    return dataclasses.make_dataclass(f"{cls.__name__}Schema", specs)


def searchpath_dirs(overrides: Sequence[str]) -> list[Path]:
    """The directories a ``hydra.searchpath=[...]`` override among ``overrides`` adds
    (``file://`` entries and plain paths; ``pkg://`` entries are skipped)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    dirs: list[Path] = []
    for text in overrides:
        if not text.lstrip("+~").startswith("hydra.searchpath="):
            continue
        try:
            (override,) = parser.parse_overrides([text])
        except HydraException:
            continue  # Hydra reports it when it composes
        value = override.value()
        for entry in value if isinstance(value, list) else [value]:
            if not isinstance(entry, str):
                continue
            scheme, sep, rest = entry.partition("://")
            if not sep:
                dirs.append(Path(entry))
            elif scheme == "file":
                dirs.append(Path(rest))
    return dirs


def register_configs(extra_dirs: Sequence[str | Path] = ()) -> None:
    """Store ``base_config`` and one schema per ``conf/scheduler/*.yaml`` and per
    ``<dir>/scheduler/*.yaml`` of ``extra_dirs`` (a user's config directories, as on
    ``hydra.searchpath``).

    Raises
    ------
    InputError
        For a scheduler config that is not valid YAML, or whose ``_target_`` does not import.
    """
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=AppConfig)
    # In Hydra's order: the package's tree first, so a user's file of the same name (which
    # Hydra does not read) gets no schema.
    seen: set[str] = set()
    for d in [Path(config_dir()), *(Path(d) for d in extra_dirs)]:
        for path in sorted(Path(d, "scheduler").glob("*.yaml")):
            if path.stem in seen:
                continue
            seen.add(path.stem)
            _register_scheduler_schema(cs, path)


def _register_scheduler_schema(cs: ConfigStore, path: Path) -> None:
    try:
        spec = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(str(path), "unparsable YAML", f"valid YAML ({exc})") from None
    if not isinstance(spec, dict):
        raise InputError(str(path), type(spec).__name__, "a YAML mapping with a '_target_'")
    target = spec.get("_target_")
    if target:
        cs.store(group="schema/scheduler", name=path.stem, node=scheduler_schema(path.stem, target))


def unknown_keys(cfg: Any, schema: type, prefix: str = "") -> list[str]:
    """Dotted keys of ``cfg`` that no field of the dataclass ``schema`` (or of the dataclasses
    its fields hold) declares: keys added with ``+key=value`` that nothing would read."""
    hints = typing.get_type_hints(schema)
    names = {f.name for f in dataclasses.fields(schema)}
    out: list[str] = []
    for key in cfg.keys() if hasattr(cfg, "keys") else ():
        if key == "hydra":
            continue
        if key not in names:
            out.append(f"{prefix}{key}")
            continue
        hint = hints.get(str(key))
        if dataclasses.is_dataclass(hint) and hasattr(cfg[key], "keys"):
            out.extend(unknown_keys(cfg[key], hint, f"{prefix}{key}."))
    return out


def to_app_config(cfg: DictConfig) -> AppConfig:
    """Typed, validated config (runs every ``__post_init__`` check).

    Parameters
    ----------
    cfg : DictConfig
        A composed ``conf/config.yaml`` (:func:`compose_config`, or the Hydra app's).

    Returns
    -------
    AppConfig

    Raises
    ------
    InputError
        For a value the schema or a ``__post_init__`` check refuses.
    """
    extra = unknown_keys(cfg, AppConfig)
    if extra:
        raise InputError(
            extra[0],
            OmegaConf.select(cfg, extra[0], default=None),
            "a key the configuration has (it was added with +, and nothing reads it: check "
            "its spelling; see conf/config.yaml)",
        )
    try:
        obj = OmegaConf.to_object(cfg)
        # Scheduler entries as plain dicts: their schema classes are generated at start-up
        # and do not survive the trip to a sweep's worker processes.
        obj.scheduler = OmegaConf.to_container(cfg.scheduler, resolve=True)
    except OmegaConfBaseException as exc:
        raise InputError("config", str(exc).splitlines()[0], "a valid configuration") from None
    assert isinstance(obj, AppConfig)
    return obj


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """Compose ``conf/config.yaml`` with command-line style ``overrides`` (no run directory),
    as the main command would: for tests, notebooks and the paper pipeline."""
    from hydra import compose, initialize_config_dir

    register_configs(searchpath_dirs(list(overrides or [])))
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("config", overrides=list(overrides or []))


def load_config(overrides: Sequence[str] = (), searchpath: Sequence[str | Path] = ()) -> AppConfig:
    """The typed configuration of a run, composed as ``perllm-opt`` would compose it.

    ``conf/config.yaml`` with command-line style ``overrides``, without Hydra's command line
    or a run directory: for notebooks and scripts (docs/api.md).

    Parameters
    ----------
    overrides : sequence of str
        Overrides as on the command line, e.g. ``["horizon_s=60", "workload.rate_rps=2",
        "schedulers=[cs_ucb,greedy_energy]"]``.
    searchpath : sequence of path
        A user's config directories (each holding e.g. ``scheduler/`` and ``topology/``), as
        ``hydra.searchpath`` on the command line (README, "Extending").

    Returns
    -------
    AppConfig
        Checked for sense: a bad value raises :class:`~perllm_opt.errors.InputError`.

    Raises
    ------
    InputError
        For ``overrides`` given as one string, or a value that makes no sense.
    hydra.errors.HydraException
        For a misspelt key, a wrong type or an unknown config name (Hydra's message names
        it).
    """
    if isinstance(overrides, str):
        raise InputError("overrides", overrides, "a list of strings such as ['horizon_s=60']")
    extra = list(overrides)
    if searchpath:
        for d in searchpath:
            require(Path(d).is_dir(), "searchpath", str(d), "an existing config directory")
        # Quoted: a path may hold spaces or commas (a quote in a path is not supported).
        dirs = ",".join(f"'file://{Path(d).resolve()}'" for d in searchpath)
        extra.append(f"hydra.searchpath=[{dirs}]")
    return to_app_config(compose_config(extra))
