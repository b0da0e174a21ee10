"""Input checks shared by the statistics: one error type, messages that name the value."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any

WEIGHT_SUM_TOLERANCE = 1e-6


class StatsInputError(ValueError):
    """Input the statistics cannot be computed from; the message says which value and why."""


def as_count(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise StatsInputError(f"{what} must be an integer count, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise StatsInputError(f"{what} must be an integer count, got {value!r}") from None
    if number < 0:
        raise StatsInputError(f"{what} must not be negative, got {number}")
    return number


def as_real(value: Any, what: str) -> float:
    if isinstance(value, bool | str | bytes):
        raise StatsInputError(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StatsInputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise StatsInputError(f"{what} must be finite, got {number}")
    return number


def as_open_unit(value: Any, what: str) -> float:
    number = as_real(value, what)
    if not 0.0 < number < 1.0:
        raise StatsInputError(f"{what} must be strictly between 0 and 1, got {number}")
    return number


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Allocation weights: at least two variants, each > 0, summing to 1 (within 1e-6)."""
    if len(weights) < 2:
        raise StatsInputError(f"an experiment needs at least two variants, got {len(weights)}")
    checked = {name: as_real(weight, f"weight of {name!r}") for name, weight in weights.items()}
    for name, weight in checked.items():
        if weight <= 0:
            raise StatsInputError(f"weight of {name!r} must be positive, got {weight}")
    total = math.fsum(checked.values())
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise StatsInputError(f"weights must sum to 1, they sum to {total}")
    return checked
