"""Scenario: what to simulate, as plain dataclasses loadable from TOML.

Every field says its unit. Unknown keys are refused with the list of known ones,
so a typo never silently turns into a default.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import datetime
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from ..allocator.allocator import DEFAULT_LEASE_TTL, MAX_LEASE_TTL
from ..allocator.rules import (
    DEFAULT_CALLING_HOURS,
    DestinationLimit,
    calling_hours_map,
    compliance_map,
)
from ..allocator.strategy import Strategy
from ..errors import NumsimError
from ..numbers import SETTINGS, Provider, check_template_id
from ..validation import finite, share, whole
from .distributions import Distribution

DEFAULT_TEMPLATE = "default"
MAX_OPEN_ENDED_HOURS = 24 * 60  # a run without `hours` stops here at the latest
# Sizes a run can finish with: ~220,000 attempts a second and ~420 MB per million attempts.
MAX_ATTEMPTS = 5_000_000  # the default bound; a scenario's max_attempts raises it
MAX_POOL = 100_000  # simulated numbers (the numbers the registry and service are built for)
MAX_DESTINATIONS = 1_000_000  # generated destinations: population + contacts


class ScenarioError(NumsimError, ValueError):
    """A scenario that cannot be simulated; the message names the field."""


# The number settings a group names differently from OutboundNumber.
GROUP_NAMES = {"max_concurrent_calls": "channels"}


def _number_settings(cls: type) -> type:
    """Give a number group each per-number setting (numbers.SETTINGS, those with `group`)
    it does not declare itself, with the number's default: a new setting (a new cap)
    reaches scenario files and the simulated pool by its declaration alone."""
    annotations = cls.__annotations__  # the class's own: it declares some
    for spec in SETTINGS:
        name = GROUP_NAMES.get(spec.name, spec.name)
        if spec.group and name not in annotations:
            annotations[name] = "Any"
            setattr(cls, name, spec.default)
    return cls


@dataclass(frozen=True)
@_number_settings
class NumberGroup:
    """A block of identical numbers in the simulated pool. Besides these fields it takes
    every per-number setting (max_calls_per_hour, max_calls_per_day, account, ...: see
    numbers.SETTINGS), with the number's default."""

    provider: str = "twilio"  # twilio | plivo | exotel
    count: int = 10  # numbers in the group
    channels: int = 1  # max concurrent calls per number (a Twilio number carries 1)
    country: str = "US"  # ISO country the numbers are from
    trai_registered: bool = True  # may call India
    stir_shaken_attested: bool = True  # may call the US and Canada
    templates: tuple[str, ...] = (DEFAULT_TEMPLATE,)  # templates these numbers serve

    if TYPE_CHECKING:  # the settings added by _number_settings (max_calls_per_hour, ...)

        def __getattr__(self, name: str) -> Any: ...

    def __post_init__(self) -> None:
        for spec in _GROUP_SETTINGS:
            name = GROUP_NAMES.get(spec.name, spec.name)
            try:
                value = replace(spec, name=name).check(getattr(self, name), "the number group")
            except ValueError as error:
                raise ScenarioError(str(error)) from None
            _set(self, name, value.value if spec.kind == "provider" else value)
        _whole(self, "count", minimum=1, maximum=MAX_POOL)
        _country(self, "country")
        _templates(self, "templates")

    def settings(self) -> dict[str, Any]:
        """The settings each of the group's numbers gets, as OutboundNumber's arguments."""
        return {s.name: getattr(self, GROUP_NAMES.get(s.name, s.name)) for s in _GROUP_SETTINGS}


_GROUP_SETTINGS = tuple(s for s in SETTINGS if s.group)


@dataclass(frozen=True)
class Arrivals:
    """Open arrivals: calls that come whether or not the last one got through (Poisson)."""

    template: str = DEFAULT_TEMPLATE
    calls_per_hour: float | None = None  # constant rate, per hour
    profile: tuple[Any, ...] = ()  # 24 hourly rates, or (start "HH:MM", end "HH:MM", per hour)
    profile_timezone: str | None = None  # the profile's clock; default: the scenario's timezone
    country: str = "US"  # the destinations' country
    population: int = 10_000  # distinct destinations the calls go to

    def __post_init__(self) -> None:
        check_template_id(self.template)
        _country(self, "country")
        _whole(self, "population", minimum=1, maximum=MAX_DESTINATIONS)
        has_rate = self.calls_per_hour is not None
        if has_rate == bool(self.profile):
            raise ScenarioError("arrivals need calls_per_hour or a profile (one of them)")
        if has_rate:
            _seconds(self, "calls_per_hour", positive=True)
        else:
            _set(self, "profile", _profile(self.profile))
        if self.profile_timezone is not None:
            _zone(self.profile_timezone, "arrivals.profile_timezone")


@dataclass(frozen=True)
class Campaign:
    """A contact list dialled at a pacing, with redials, within the rules."""

    template: str = DEFAULT_TEMPLATE
    contacts: int = 1000  # contacts to generate (ignored with contacts_file)
    contacts_file: str | None = None  # CSV with a `destination` column
    country: str = "IN"  # the generated contacts' country
    calls_per_hour: float | None = None  # pacing: dial attempts per hour
    max_in_flight: int | None = None  # pacing: calls (and waits) at once
    max_attempts: int = 3  # attempts per contact until answered
    redial_gap_seconds: float = 3600.0  # after a busy / no-answer attempt ends
    max_wait_seconds: float = 600.0  # a dialled contact waits this long for a free number
    retry_blocked_seconds: float = 60.0  # then goes back in the list for this long

    def __post_init__(self) -> None:
        check_template_id(self.template)
        _country(self, "country")
        _whole(self, "contacts", minimum=1, maximum=MAX_DESTINATIONS)
        _whole(self, "max_attempts", minimum=1, maximum=1000)
        _whole(self, "max_in_flight", minimum=1, optional=True)
        if self.calls_per_hour is None and self.max_in_flight is None:
            raise ScenarioError("a campaign needs a pacing: calls_per_hour and/or max_in_flight")
        if self.calls_per_hour is not None:
            _seconds(self, "calls_per_hour", positive=True)
        _seconds(self, "redial_gap_seconds")
        _seconds(self, "max_wait_seconds")
        _seconds(self, "retry_blocked_seconds", positive=True)


@dataclass(frozen=True)
class Replay:
    """Replay a call log (CSV or DataFrame: timestamp, template, destination,
    holding_seconds, outcome), optionally scaled ("the same day at twice the load")."""

    log: Any = None  # path to a CSV file, or a pandas DataFrame
    scale: float = 1.0  # 2.0 replays each call twice (the copy moved in time)
    jitter_seconds: float = 1800.0  # copies move by up to this many seconds either way

    def __post_init__(self) -> None:
        if self.log is None:
            raise ScenarioError("replay needs a log (CSV path or DataFrame)")
        _seconds(self, "scale", positive=True)
        _seconds(self, "jitter_seconds")


@dataclass(frozen=True)
class CallModel:
    """What one attempt does to a number: it is busy from dialling to hang-up."""

    load_counts: str = "attempts"  # what a rate counts: "attempts" or "connected" calls
    answer_probability: float = 1.0  # share of attempts answered
    ring_seconds: Distribution = Distribution("constant", mean=0.0)  # before an answer
    talk_seconds: Distribution = Distribution("exponential", mean=180.0)  # answered calls
    no_answer_seconds: Distribution = Distribution("constant", mean=30.0)  # unanswered
    callback_probability: float = 0.0  # share of answered destinations that call back
    callback_delay_seconds: Distribution = Distribution("exponential", mean=600.0)
    callback_talk_seconds: Distribution = Distribution("exponential", mean=120.0)
    lost_callback_probability: float = 0.0  # status callback lost: held until the lease TTL

    def __post_init__(self) -> None:
        if self.load_counts not in ("attempts", "connected"):
            raise ScenarioError("call.load_counts must be 'attempts' or 'connected'")
        for name in ("answer_probability", "callback_probability", "lost_callback_probability"):
            _set(self, name, share(f"call.{name}", getattr(self, name), error=ScenarioError))
        if self.load_counts == "connected" and self.answer_probability == 0:
            raise ScenarioError("load_counts = 'connected' needs answer_probability > 0")
        for spec in fields(self):
            if spec.name.endswith("_seconds"):
                value = Distribution.parse(getattr(self, spec.name), f"call.{spec.name}")
                _set(self, spec.name, value)

    @property
    def mean_hold_seconds(self) -> float:
        """Mean seconds a number is held per attempt: ring + talk, or no-answer time."""
        answered = self.ring_seconds.expected + self.talk_seconds.expected
        p = self.answer_probability
        return p * answered + (1 - p) * self.no_answer_seconds.expected


@dataclass(frozen=True)
class Scenario:
    """A pool, a load and the rules, over a stretch of simulated time."""

    name: str = "scenario"
    start: str = "2026-01-05T09:00"  # local date and time the run starts (ISO)
    timezone: str = "UTC"  # the start's timezone
    hours: float | None = None  # simulated hours; None: until campaigns and replays end
    warmup_hours: float = 0.0  # left out of the summary figures (steady-state estimates)
    numbers: tuple[NumberGroup, ...] = ()  # the pool: number groups ...
    registry: str | None = None  # ... or a registry file whose numbers and templates are the pool
    arrivals: tuple[Arrivals, ...] = ()
    campaigns: tuple[Campaign, ...] = ()
    replays: tuple[Replay, ...] = ()
    call: CallModel = field(default_factory=lambda: CallModel())
    max_wait_seconds: float = (
        0.0  # how long an open arrival may wait for a number; 0: a loss system
    )
    service_level_seconds: float | None = (
        None  # served within this many seconds counts; None: max wait
    )
    destination_limit: DestinationLimit | None = None  # {max_calls, per_seconds}
    calling_hours: Any = None  # "default" (IN 09-21, US 08-21), {country = [start, end]}, or None
    # TRAI for India, STIR/SHAKEN for the US and Canada; or {country = "trai" | "stir_shaken"}
    compliance: bool | Mapping[str, str] = True
    strategy: str = "least_loaded"  # least_loaded | round_robin | random | local_presence | sticky
    lease_ttl_seconds: float = float(DEFAULT_LEASE_TTL)  # a lost status callback holds this long
    calls_per_second: Mapping[str, float] = field(default_factory=dict)  # per account or provider
    timeline_seconds: float = 60.0  # width of one bucket of the busy-channels timeline
    max_attempts: int = MAX_ATTEMPTS  # refuse a run expected to make more attempts than this

    def __post_init__(self) -> None:
        _zone(self.timezone, "timezone")
        try:
            datetime.fromisoformat(self.start)
        except (TypeError, ValueError):
            raise ScenarioError(f"start must be an ISO date and time, got {self.start!r}") from None
        if self.hours is not None:
            _seconds(self, "hours", positive=True)
        _seconds(self, "warmup_hours")
        if self.hours is not None and self.warmup_hours >= self.hours:
            raise ScenarioError("warmup_hours must be shorter than hours")
        _set(self, "numbers", _items(self.numbers, NumberGroup, "numbers"))
        _set(self, "arrivals", _items(self.arrivals, Arrivals, "arrivals"))
        _set(self, "campaigns", _items(self.campaigns, Campaign, "campaigns"))
        _set(self, "replays", _items(self.replays, Replay, "replays"))
        if isinstance(self.call, Mapping):
            _set(self, "call", _build(CallModel, self.call, "call"))
        if not (self.arrivals or self.campaigns or self.replays):
            raise ScenarioError("a scenario needs a load: arrivals, campaigns or replays")
        if self.hours is None and self.arrivals:
            raise ScenarioError("open arrivals never end: give hours")
        if self.registry is None and not self.numbers:
            raise ScenarioError(
                "a scenario needs a pool: [[numbers]] groups (provider, count, channels, ...) "
                "or a registry file"
            )
        _seconds(self, "max_wait_seconds")
        if self.service_level_seconds is not None:
            _seconds(self, "service_level_seconds")
        if self.destination_limit is not None:
            limit = _build(DestinationLimit, self.destination_limit, "destination_limit")
            _set(self, "destination_limit", limit)
        if self.calling_hours == "default":
            _set(self, "calling_hours", dict(DEFAULT_CALLING_HOURS))
        _rule(
            self,
            "calling_hours",
            calling_hours_map,
            takes='"default" or a table {COUNTRY = [start, end]}',
            plain=type(None),
        )
        _rule(
            self,
            "compliance",
            compliance_map,
            takes='true, false or a table {COUNTRY = "trai" or "stir_shaken"}',
            plain=bool,
        )
        try:
            Strategy.named(self.strategy)
        except ValueError as error:
            raise ScenarioError(str(error)) from None
        _seconds(self, "lease_ttl_seconds", positive=True, maximum=MAX_LEASE_TTL)
        _seconds(self, "timeline_seconds", positive=True)
        _set(self, "calls_per_second", _pacing(self))
        _check_size(self)
        templates = {t for group in self.numbers for t in group.templates}
        loads: tuple[Arrivals | Campaign, ...] = (*self.arrivals, *self.campaigns)
        for load in loads:
            if self.registry is None and load.template not in templates:
                raise ScenarioError(f"no number group serves template {load.template!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        return _build(cls, data, "scenario")

    @classmethod
    def from_toml(cls, path: str | Path) -> Scenario:
        """Load a scenario file; relative paths in it are relative to the file."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ScenarioError(f"cannot read {path}: {error.strerror}") from None
        except UnicodeDecodeError as error:
            byte = error.object[error.start]
            raise ScenarioError(
                f"{path} is not valid TOML: not UTF-8 (byte 0x{byte:02x} at position {error.start})"
            ) from None
        except tomllib.TOMLDecodeError as error:
            raise ScenarioError(f"{path} is not valid TOML: {error}") from None
        base = path.parent
        if isinstance(data.get("registry"), str):
            data["registry"] = str(base / data["registry"])
        for replay in data.get("replays", []):
            if isinstance(replay, dict) and isinstance(replay.get("log"), str):
                replay["log"] = str(base / replay["log"])
        for campaign in data.get("campaigns", []):
            if isinstance(campaign, dict) and isinstance(campaign.get("contacts_file"), str):
                campaign["contacts_file"] = str(base / campaign["contacts_file"])
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> Scenario:
        return replace(self, **changes)

    @property
    def start_epoch(self) -> float:
        moment = datetime.fromisoformat(self.start)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(self.timezone))
        return moment.timestamp()

    @property
    def duration_seconds(self) -> float:
        return (self.hours if self.hours is not None else MAX_OPEN_ENDED_HOURS) * 3600.0

    @property
    def expected_attempts(self) -> float:
        """At most this many attempts, from the loads' rates and contact lists (replays
        and contact files are bounded by their files and not counted)."""
        hours = self.duration_seconds / 3600.0
        total = 0.0
        for arrivals in self.arrivals:
            rate = arrivals.calls_per_hour
            total += (rate if rate is not None else max(_rates(arrivals))) * hours
        for campaign in self.campaigns:
            if campaign.contacts_file is None:
                total += campaign.contacts * campaign.max_attempts
        return total


# -- validation helpers ------------------------------------------------------------------


def _build(cls: type, data: Any, where: str) -> Any:
    if isinstance(data, cls):
        return data
    known = {f.name for f in fields(cls)}
    if not isinstance(data, Mapping):
        raise ScenarioError(
            f"{where} must be a table of settings ({', '.join(sorted(known))}), got {data!r}"
        )
    unknown = sorted(set(data) - known)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    required = (
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    )
    missing = [name for name in required if name not in data]
    if missing:
        raise ScenarioError(f"{where}: missing setting(s) {', '.join(missing)}")
    try:
        return cls(**data)
    except ScenarioError as error:
        raise ScenarioError(f"{where}: {error}") from None
    except (TypeError, ValueError) as error:
        raise ScenarioError(f"{where}: {error}") from None


def _items(values: Any, cls: type, where: str) -> tuple[Any, ...]:
    if isinstance(values, Mapping | str | bytes):
        values = [values]
    if not isinstance(values, Sequence | tuple | list):
        raise ScenarioError(f"{where} must be a list, got {values!r}")
    return tuple(_build(cls, item, f"{where}[{i}]") for i, item in enumerate(values))


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _whole(
    obj: object, name: str, *, minimum: int, maximum: int | None = None, optional: bool = False
) -> None:
    value = getattr(obj, name)
    if value is None and optional:
        return
    whole(name, value, minimum=minimum, maximum=maximum, error=ScenarioError)


def _check_size(scenario: Scenario) -> None:
    """Refuse a run that cannot finish (memory or time) before it starts."""
    _whole(scenario, "max_attempts", minimum=1)
    pool = sum(group.count for group in scenario.numbers)
    if pool > MAX_POOL:
        raise ScenarioError(f"the number groups hold {pool:,} numbers; at most {MAX_POOL:,}")
    destinations = sum(a.population for a in scenario.arrivals)
    destinations += sum(c.contacts for c in scenario.campaigns if c.contacts_file is None)
    if destinations > MAX_DESTINATIONS:
        raise ScenarioError(
            f"population and contacts add up to {destinations:,} destinations; "
            f"at most {MAX_DESTINATIONS:,}"
        )
    expected = scenario.expected_attempts
    if expected > scenario.max_attempts:
        cost = "more attempts than can be counted (the load overflows)"
        if math.isfinite(expected * 420e-6):
            cost = f"{expected:,.0f} attempts (~{expected / 160_000:,.0f} s, "
            cost += f"~{expected * 420e-6:,.0f} MB)"
        raise ScenarioError(
            f"this run would make up to {cost}, over max_attempts = {scenario.max_attempts:,}: "
            "shorten hours or lower the load, or raise max_attempts if the machine can take it"
        )


def _rates(arrivals: Arrivals) -> list[float]:
    return [float(v) if not isinstance(v, tuple) else float(v[2]) for v in arrivals.profile]


def _pacing(scenario: Scenario) -> dict[str, float]:
    """calls_per_second by provider (in any case) or account. A key that is neither (a
    typo, a provider numsim does not have) would pace nothing: refused. A registry's
    accounts are known once it is read: numbers_and_templates checks those keys."""
    value = scenario.calls_per_second
    if not isinstance(value, Mapping):
        raise ScenarioError(
            f"calls_per_second must be a table {{PROVIDER or ACCOUNT = calls per second}}, "
            f"got {value!r}"
        )
    accounts = {group.account for group in scenario.numbers if group.account is not None}
    rates: dict[str, float] = {}
    given: dict[str, object] = {}
    for key, rate in value.items():
        name = key
        if key not in accounts:
            try:
                name = Provider(key).value
            except ValueError:
                if scenario.registry is None:
                    raise ScenarioError(
                        unknown_pacing_key(key, "the number groups", accounts)
                    ) from None
        if name in rates:
            raise ScenarioError(f"calls_per_second: {name} twice, as {given[name]!r} and {key!r}")
        given[name] = key
        rates[name] = finite(
            f"calls_per_second for {key!r}", rate, inclusive=False, error=ScenarioError
        )
    return rates


def unknown_pacing_key(key: object, where: str, accounts: set[str]) -> str:
    """Why a calls_per_second key paces nothing: it names no provider and no account."""
    message = (
        f"calls_per_second: {key!r} is neither a provider "
        f"({', '.join(p.value for p in Provider)}) nor an account of {where}"
    )
    return message + (f" (accounts: {', '.join(sorted(accounts))})" if accounts else "")


def _seconds(obj: object, name: str, *, positive: bool = False, maximum: float = math.inf) -> None:
    value = getattr(obj, name)
    value = finite(name, value, inclusive=not positive, maximum=maximum, error=ScenarioError)
    _set(obj, name, value)


def _country(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if not (isinstance(value, str) and len(value) == 2 and value.isalpha()):
        raise ScenarioError(f"{name} must be an ISO country code like 'IN', got {value!r}")
    _set(obj, name, _known_country(value.upper(), value))


def _known_country(code: object, given: object) -> object:
    """`code` if phonenumbers knows the country (numsim makes its numbers, and a rule for
    it can match a number): a typo would otherwise surface only while generating
    numbers, or match no destination at all."""
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ScenarioError(f"unknown country {given!r}")
    return code


def _rule(obj: object, name: str, parse: Callable[[Any], Any], *, takes: str, plain: type) -> None:
    """A rule of the allocator's: a table by country (or a `plain` value), its contents
    checked and normalized by the allocator's own `parse`, its countries known (in
    either case, as a country field takes them); refused naming the field and what it
    takes."""
    value = getattr(obj, name)
    if isinstance(value, plain):
        return
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{name} must be {takes}, got {value!r}")
    try:
        table = parse({k.upper() if isinstance(k, str) else k: v for k, v in value.items()})
        for country in table:
            _known_country(country, country)
    except ValueError as error:
        raise ScenarioError(f"{name}: {error}") from None
    _set(obj, name, table)


def _templates(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence | AbstractSet):
        raise ScenarioError(f"{name} must be a template id or a list of them, got {value!r}")
    try:
        _set(obj, name, tuple(check_template_id(t) for t in value))
    except (TypeError, ValueError) as error:
        raise ScenarioError(f"{name}: {error}") from None


def _zone(name: object, where: str) -> None:
    try:
        ZoneInfo(name)  # type: ignore[arg-type]
    except (ZoneInfoNotFoundError, TypeError, ValueError):
        raise ScenarioError(f"{where}: unknown timezone {name!r}") from None


def _profile(profile: Any) -> tuple[Any, ...]:
    """24 hourly rates, or (start, end, rate) intervals; rates are per hour."""
    items = tuple(profile)
    if all(isinstance(v, Real) and not isinstance(v, bool) for v in items):
        if len(items) != 24:
            raise ScenarioError("a profile of rates needs 24 values >= 0, one per hour")
        return tuple(finite("profile rate", v, error=ScenarioError) for v in items)
    intervals = []
    for item in items:
        try:
            start, end, rate = item
            span, rate = (_hhmm(start), _hhmm(end)), float(rate)
        except (TypeError, ValueError):
            raise ScenarioError(
                f"profile intervals are [start 'HH:MM', end 'HH:MM', calls per hour], got {item!r}"
            ) from None
        intervals.append((*span, finite("profile rate", rate, error=ScenarioError)))
    return tuple(intervals)


def _hhmm(value: Any) -> str:
    hours, minutes = str(value).split(":")
    if not (0 <= int(hours) <= 24 and 0 <= int(minutes) < 60):
        raise ValueError(value)
    return f"{int(hours):02d}:{int(minutes):02d}"
