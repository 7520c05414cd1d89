"""Holding-time distributions, described as data and sampled with a seeded RNG."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real

from ..validation import finite

KINDS = ("exponential", "lognormal", "constant", "uniform", "empirical")


@dataclass(frozen=True, slots=True)
class Distribution:
    """A distribution of seconds.

    - ``exponential``: `mean` seconds.
    - ``lognormal``: `mean` seconds and `sigma`, the standard deviation of log(x).
    - ``constant``: always `mean` seconds.
    - ``uniform``: between `low` and `high` seconds.
    - ``empirical``: drawn from `values` (seconds), e.g. a call log's holding times.
    """

    kind: str = "exponential"
    mean: float | None = None
    sigma: float | None = None
    low: float | None = None
    high: float | None = None
    values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"unknown distribution {self.kind!r}; choose one of {', '.join(KINDS)}"
            )
        needs = {
            "exponential": ("mean",),
            "lognormal": ("mean", "sigma"),
            "constant": ("mean",),
            "uniform": ("low", "high"),
            "empirical": ("values",),
        }[self.kind]
        for name in needs:
            value = getattr(self, name)
            if name == "values":
                values = tuple(float(v) for v in value)
                if not values or any(not (v >= 0 and math.isfinite(v)) for v in values):
                    raise ValueError("empirical values must be a non-empty list of seconds >= 0")
                object.__setattr__(self, "values", values)
            else:
                object.__setattr__(self, name, finite(f"{self.kind} distribution's {name}", value))
        if self.kind in ("exponential", "lognormal") and self.mean == 0:
            raise ValueError(f"{self.kind} distribution needs mean > 0")
        if self.kind == "uniform" and self.low > self.high:  # type: ignore[operator]
            raise ValueError("uniform distribution needs low <= high")

    @classmethod
    def parse(cls, value: object, what: str) -> Distribution:
        """A Distribution, a number (constant seconds), or a mapping like
        {kind = "lognormal", mean = 180, sigma = 0.8}."""
        if isinstance(value, Distribution):
            return value
        if isinstance(value, Real) and not isinstance(value, bool):
            return cls("constant", mean=finite(what, value))
        if isinstance(value, Mapping):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise ValueError(
                    f"{what}: unknown distribution field(s) {', '.join(sorted(unknown))}"
                )
            try:
                return cls(**value)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{what}: {error}") from None
        raise ValueError(f"{what} must be seconds or a distribution mapping, got {value!r}")

    @property
    def expected(self) -> float:
        """The mean, in seconds."""
        if self.kind == "uniform":
            return (self.low + self.high) / 2  # type: ignore[operator]
        if self.kind == "empirical":
            return sum(self.values) / len(self.values)
        return self.mean  # type: ignore[return-value]

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A zero-argument function drawing one value."""
        if self.kind == "exponential":
            # random.expovariate's own arithmetic, one call fewer per draw (the same draws)
            rate = 1.0 / self.mean  # type: ignore[operator]
            uniform01, log = rng.random, math.log
            return lambda: -log(1.0 - uniform01()) / rate
        if self.kind == "lognormal":
            sigma, mean = self.sigma, self.mean
            assert sigma is not None and mean is not None  # checked when it was made
            mu = math.log(mean) - sigma * sigma / 2
            lognormvariate = rng.lognormvariate
            return lambda: lognormvariate(mu, sigma)
        if self.kind == "constant":
            value = self.mean
            return lambda: value  # type: ignore[return-value]
        if self.kind == "uniform":
            low, high, uniform = self.low, self.high, rng.uniform
            return lambda: uniform(low, high)  # type: ignore[arg-type]
        values: Sequence[float] = self.values
        choice = rng.choice
        return lambda: choice(values)
