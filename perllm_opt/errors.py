"""Errors for bad user input: each names the field, the value and what was expected."""

from __future__ import annotations

from typing import Any


class InputError(ValueError):
    """A user-supplied value (config, file, graph) is invalid.

    The entry points print the message without a traceback.

    Parameters
    ----------
    field : str
        Where the value came from, e.g. ``"workload.rate_rps"`` or ``"trace.csv line 12"``.
    value : Any
        The offending value.
    expected : str
        What would have been accepted.
    """

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field}: got {value!r}, expected {expected}")


def require(condition: bool, field: str, value: Any, expected: str) -> None:
    """Raise :class:`InputError` unless ``condition`` holds."""
    if not condition:
        raise InputError(field, value, expected)


def require_positive(value: float, field: str) -> None:
    """Raise unless ``value`` is a finite number > 0."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    require(ok and value == value and value != float("inf"), field, value, "a finite number > 0")


def require_non_negative(value: float, field: str) -> None:
    """Raise unless ``value`` is a finite number >= 0."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    require(ok and value != float("inf"), field, value, "a finite number >= 0")


def require_int(value: Any, field: str, least: int, expected: str) -> None:
    """Raise unless ``value`` is an integer (not a bool) of at least ``least``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= least
    require(ok, field, value, expected)
