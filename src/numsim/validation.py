"""One set of checks for the numbers users give numsim: seconds and rates, whole counts,
shares. Each returns the value normalized or raises `error` (ValueError unless the caller
names its own, such as ScenarioError) with a message naming the input and the rule."""

from __future__ import annotations

import math
import operator
from numbers import Real
from typing import SupportsIndex


def finite(
    name: str,
    value: object,
    *,
    minimum: float = 0.0,
    inclusive: bool = True,
    maximum: float = math.inf,
    error: type[Exception] = ValueError,
) -> float:
    """A real number (not a bool), finite, >= minimum (> minimum unless `inclusive`), and
    at most `maximum`."""
    if type(value) is float and minimum < value < math.inf and value <= maximum:  # hot path
        return value
    number = _real(value)
    if (
        number is None
        or not math.isfinite(number)
        or not (number >= minimum if inclusive else number > minimum)
        or number > maximum
    ):
        bound = f"{'>=' if inclusive else '>'} {minimum:g}"
        if maximum < math.inf:
            bound += f" and <= {maximum:,g}"
        raise error(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def whole(
    name: str,
    value: object,
    *,
    minimum: int = 0,
    maximum: int | None = None,
    error: type[Exception] = ValueError,
) -> int:
    """A whole number (not a bool, not a float) in minimum..maximum."""
    if type(value) is int and value >= minimum and (maximum is None or value <= maximum):
        return value  # the common case, without protocol checks (a bulk import's hot path)
    number = None
    if not isinstance(value, bool) and isinstance(value, SupportsIndex):  # not a float
        number = operator.index(value)
    if number is None or number < minimum or (maximum is not None and number > maximum):
        rule = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum:,}"
        raise error(f"{name} must be a whole number {rule}, got {value!r}")
    return number


def share(
    name: str, value: object, *, strict: bool = False, error: type[Exception] = ValueError
) -> float:
    """A fraction in [0, 1], or in (0, 1) if `strict`."""
    number = _real(value)
    if number is None or not (0 < number < 1 if strict else 0 <= number <= 1):
        where = "strictly between 0 and 1" if strict else "between 0 and 1"
        raise error(f"{name} must be {where}, got {value!r}")
    return number


def _real(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    return float(value)
