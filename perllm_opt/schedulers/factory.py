"""Build a scheduler from its config entry (``_target_`` plus hyperparameters)."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from perllm_opt.errors import InputError
from perllm_opt.schedulers.base import Scheduler


def scheduler_class(target: str, where: str) -> type[Scheduler]:
    """Import the class named by ``target`` (``package.module.Class``)."""
    module_name, _, cls_name = str(target).rpartition(".")
    if not (module_name and cls_name):
        raise InputError(
            f"{where}._target_",
            target,
            "a class path module.Class such as perllm_opt.schedulers.cs_ucb.CSUCB",
        )
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError, ValueError) as exc:
        # The reason, too: a module of the user's not on PYTHONPATH, a dependency it lacks,
        # a misspelt class name.
        hint = "; is its directory on PYTHONPATH?" if isinstance(exc, ModuleNotFoundError) else ""
        raise InputError(
            f"{where}._target_",
            target,
            "an importable Scheduler class such as perllm_opt.schedulers.cs_ucb.CSUCB "
            f"({exc}{hint})",
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, Scheduler)):
        raise InputError(f"{where}._target_", target, "a subclass of Scheduler")
    return cls


def make_scheduler(name: str, spec: Mapping[str, Any] | Any) -> Scheduler:
    """Instantiate scheduler ``name`` from ``spec``, rejecting unknown hyperparameters.

    Parameters
    ----------
    name : str
        The scheduler's config name (``conf/scheduler/<name>.yaml``), e.g. ``cs_ucb``.
    spec : mapping
        ``_target_`` (the class path) and hyperparameters, e.g. ``config.scheduler[name]``
        of a loaded config.

    Returns
    -------
    Scheduler
        Not yet reset: the simulator resets it at the start of every run.

    Raises
    ------
    InputError
        For a missing or unimportable ``_target_``, an unknown key, or an invalid value
        (the scheduler's own validation).
    """
    where = f"scheduler.{name}"
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        spec = dataclasses.asdict(spec)  # a typed schema object from the Hydra config
    if "_target_" not in spec:
        raise InputError(where, dict(spec), "a mapping with a '_target_' class path")
    cls = scheduler_class(spec["_target_"], where)
    params = {k: v for k, v in spec.items() if k != "_target_"}
    known = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    for key in params:
        if key not in known:
            raise InputError(
                f"{where}.{key}",
                params[key],
                f"a hyperparameter of {cls.__name__}: {sorted(known - {'name'})}",
            )
    params.setdefault("name", name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise InputError(where, params, f"valid hyperparameters ({exc})") from None


def load_scheduler_spec(path: str | Path) -> dict[str, Any]:
    """A ``conf/scheduler/<name>.yaml`` as a plain spec for :func:`make_scheduler`, outside
    Hydra (notebooks, tests). Of Hydra's ``defaults`` list only the entries naming another
    scheduler file (``/scheduler/<other>@_here_``, as CS-UCB's ablations inherit its tuned
    values) are followed, as Hydra would: the other file's spec first, this file's keys
    over it; schema entries are dropped."""
    import yaml

    path = Path(path)
    spec = yaml.safe_load(path.read_text("utf-8")) or {}
    merged: dict[str, Any] = {}
    for entry in spec.pop("defaults", None) or []:
        if isinstance(entry, str) and entry.startswith("/scheduler/"):
            other = entry.removeprefix("/scheduler/").split("@")[0]
            merged.update(load_scheduler_spec(path.with_name(f"{other}.yaml")))
    merged.update(spec)
    return merged
