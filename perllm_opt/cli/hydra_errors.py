"""Hydra's report of a config it cannot compose, held back and condensed into one
``perllm-opt: error:`` line like every other user mistake."""

from __future__ import annotations

import sys
from typing import Any


class HeldStderr:
    """Stands in for ``sys.stderr`` until Hydra has composed the config: what is written is
    held, so that Hydra's several-line report of a config it cannot compose can be replaced
    by one ``perllm-opt: error:`` line; :meth:`release` writes what was held and passes the
    rest through."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.held: list[str] | None = []

    def write(self, text: str) -> int:
        if self.held is None:
            return self.target.write(text)
        self.held.append(text)
        return len(text)

    def release(self) -> None:
        """Write what was held; pass everything through from now on."""
        if self.held is not None:
            self.target.write("".join(self.held))
            self.held = None

    def flush(self) -> None:
        if self.held is None:
            self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


def release_stderr() -> None:
    """Let stderr through (called once the config is composed: the run or sweep starts)."""
    release = getattr(sys.stderr, "release", None)
    if callable(release):
        release()


#: Lines of Hydra's report that say where to look, not what is wrong.
_HYDRA_NOISE = (
    "Set the environment variable HYDRA_FULL_ERROR",
    "See https://hydra.cc",
    "Config search path:",
    "provider=",
    "object_type=",
)


def condense_hydra_error(text: str) -> str:
    """Hydra's several-line report of a config it could not compose, as one phrase that
    starts with the key it names (``full_key``) and lists the options it offers."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), "")
    parts: list[str] = []
    options: list[str] = []
    listing = False
    for ln in lines:
        if ln.startswith("full_key:") or ln.startswith(_HYDRA_NOISE):
            listing = False
            continue
        if ln.startswith("Available options in"):
            listing = True
            parts.append(ln.rstrip(":"))
            continue
        if listing and " " not in ln:
            options.append(ln)
            continue
        listing = False
        parts.append(ln.rstrip("."))
    if options:
        parts[-1 if parts[-1].startswith("Available") else len(parts) - 1] += ": " + ", ".join(
            options
        )
    message = "; ".join(parts) or "the config could not be composed"
    return f"{key}: {message}" if key else message
