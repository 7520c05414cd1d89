"""Selection strategies: which free number a call gets.

A strategy has two parts. Its `order` ranks free numbers inside one group
and is kept by the backend as an index, so a pick never scans the pool:

- ``least_loaded``: fewest calls in progress; among equals, the one that has
  waited longest at that load (spreads calls and their hourly counts).
- ``round_robin``: free numbers queue; a number that takes a call goes to the
  back, so the pool is used in turn.
- ``random``: uniformly among free numbers (seedable).

Its preferences decide which groups of the pool to try first: local presence
tries the destination's area code, then its country, then the whole pool;
sticky caller ID tries the number that last called the destination.
Compliance makes groups too: a destination in India only ever sees the
group of TRAI-registered numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..phone import PhoneInfo

ORDERS = ("least_loaded", "round_robin", "random")
WHOLE_POOL = "*"


@dataclass(frozen=True, slots=True)
class Strategy:
    order: str = "least_loaded"
    local_presence: bool = False
    sticky: bool = False

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"unknown order {self.order!r}; choose one of {', '.join(ORDERS)}")

    @classmethod
    def named(cls, name: str | Strategy) -> Strategy:
        """A strategy by name: least_loaded, round_robin, random, local_presence, sticky."""
        if isinstance(name, Strategy):
            return name
        presets = {
            "least_loaded": cls(),
            "round_robin": cls("round_robin"),
            "random": cls("random"),
            "local_presence": cls(local_presence=True),
            "sticky": cls(sticky=True),
        }
        try:
            return presets[name]
        except (KeyError, TypeError):
            raise ValueError(
                f"unknown strategy {name!r}; choose one of {', '.join(presets)} "
                "or pass a numsim.Strategy"
            ) from None

    def groups(self, info: PhoneInfo, tags: Iterable[str]) -> list[str]:
        """The groups an outbound number belongs to (its index entries)."""
        return [scope + suffix for scope in self._scopes(info) for suffix in _suffixes(tags)]

    def preferences(self, info: PhoneInfo, required_tag: str | None) -> tuple[str, ...]:
        """The groups to try, best first, for a call to the destination `info`."""
        suffix = f"+{required_tag}" if required_tag else ""
        return tuple(scope + suffix for scope in reversed(self._scopes(info)))

    def _scopes(self, info: PhoneInfo) -> list[str]:
        if not self.local_presence:
            return [WHOLE_POOL]
        scopes = [WHOLE_POOL, info.region]
        if info.area_code:
            scopes.append(f"{info.region}:{info.area_code}")
        return scopes


def _suffixes(tags: Iterable[str]) -> list[str]:
    return ["", *(f"+{tag}" for tag in sorted(tags))]
