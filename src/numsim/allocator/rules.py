"""Rules that need no shared state: destination limit settings, calling hours, compliance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from ..numbers import OutboundNumber
from ..validation import finite, whole

HOUR = 3600.0
DAY = 86400.0

# Destination country -> the flag a number needs to call it (regional compliance):
# TRAI for India; STIR/SHAKEN for the US (FCC) and Canada (CRTC), which share +1.
DEFAULT_COMPLIANCE: Mapping[str, str] = {"IN": "trai", "US": "stir_shaken", "CA": "stir_shaken"}
COMPLIANCE_TAGS = {"trai": "trai_registered", "stir_shaken": "stir_shaken_attested"}


@dataclass(frozen=True, slots=True)
class DestinationLimit:
    """At most `max_calls` calls to one destination in any rolling `per_seconds`."""

    max_calls: int
    per_seconds: float

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "max_calls", whole("max_calls", self.max_calls, minimum=1))
        set_(self, "per_seconds", finite("per_seconds", self.per_seconds, inclusive=False))


@dataclass(frozen=True, slots=True)
class CallingHours:
    """Local time of day when a destination may be called, e.g. 09:00-21:00.

    A window whose end is before its start runs over midnight.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, str):
                try:
                    value = time.fromisoformat(value)
                except ValueError:
                    raise ValueError(f"calling hours {name} must be HH:MM, got {value!r}") from None
                object.__setattr__(self, name, value)
            elif not isinstance(value, time):
                raise ValueError(f"calling hours {name} must be HH:MM or a time, got {value!r}")
        if self.start == self.end:
            raise ValueError("calling hours start and end are equal; the window would be empty")

    def seconds_until_open(self, now: float, zones: tuple[str, ...]) -> float | None:
        """0.0 if open now in every zone, else seconds until it is; None if unknowable."""
        if not zones:
            return None
        moment = now
        for _ in range(8):  # windows of different zones may need a few steps to line up
            wait = max(self._wait_in_zone(moment, zone) for zone in zones)
            if wait == 0.0:
                return moment - now
            moment += wait
        return None

    def _wait_in_zone(self, now: float, zone: str) -> float:
        offset = _utc_offset(zone, int(now // 900))
        second = (now + offset) % DAY
        start, end = _seconds(self.start), _seconds(self.end)
        is_open = start <= second < end if start < end else second >= start or second < end
        if is_open:
            return 0.0
        # Exact wall-clock arithmetic for the opening, so DST changes are right.
        tz = _zone(zone)
        local = datetime.fromtimestamp(now, tz)
        opening = datetime.combine(local.date(), self.start, tzinfo=tz)
        if opening.timestamp() <= now:
            opening = datetime.combine(local.date() + timedelta(days=1), self.start, tzinfo=tz)
        return max(opening.timestamp() - now, 1e-6)


DEFAULT_CALLING_HOURS: Mapping[str, CallingHours] = {
    "IN": CallingHours(time(9), time(21)),  # TRAI: no commercial calls 21:00-09:00
    "US": CallingHours(time(8), time(21)),  # TCPA: 08:00-21:00 called party's local time
}


def calling_hours_map(value: Mapping[str, object] | None) -> dict[str, CallingHours]:
    """Accept {country: CallingHours | (start, end)}; None means no calling-hours rule."""
    if value is None:
        return {}
    result: dict[str, CallingHours] = {}
    for country, hours in value.items():
        if not (isinstance(country, str) and len(country) == 2 and country.isupper()):
            raise ValueError(f"calling hours keys are ISO country codes like 'IN', got {country!r}")
        if isinstance(hours, tuple | list) and len(hours) == 2:
            hours = CallingHours(*hours)
        if not isinstance(hours, CallingHours):
            raise ValueError(f"calling hours for {country} must be (start, end), got {hours!r}")
        result[country] = hours
    return result


def compliance_map(value: bool | Mapping[str, str]) -> dict[str, str]:
    """True: India needs TRAI, the US and Canada STIR/SHAKEN; False: no checks; or a mapping."""
    if value is True:
        return dict(DEFAULT_COMPLIANCE)
    if value is False or value is None:
        return {}
    result = dict(value)
    for country, tag in result.items():
        if tag not in COMPLIANCE_TAGS:
            raise ValueError(
                f"compliance for {country!r} must be one of {', '.join(COMPLIANCE_TAGS)}, "
                f"got {tag!r}"
            )
    return result


def number_tags(number: OutboundNumber) -> frozenset[str]:
    """The compliance tags a number holds, e.g. {"trai"}."""
    return frozenset(tag for tag, flag in COMPLIANCE_TAGS.items() if getattr(number, flag))


def _seconds(value: time) -> float:
    return value.hour * 3600 + value.minute * 60 + value.second


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=4096)
def _utc_offset(zone: str, quarter_hour: int) -> float:
    # Offsets change only at transitions, which fall on UTC quarter hours.
    offset = datetime.fromtimestamp(quarter_hour * 900, _zone(zone)).utcoffset()
    return offset.total_seconds() if offset else 0.0
