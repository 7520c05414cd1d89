"""The load: open arrivals (constant or by time of day), campaigns, and call-log replays.

Each source schedules its own next event with a SimPy timeout callback; none keeps
a process per call.
"""

from __future__ import annotations

import csv
import heapq
import math
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from phonenumbers import PhoneNumberType
from simpy.events import Timeout

from ..allocator import NoNumberAvailable
from ..allocator.refusal import CALLING_HOURS, DESTINATION_LIMIT
from ..phone import normalize_e164, phone_info
from .engine import Done, Engine
from .pool import fake_destinations, fake_numbers
from .scenario import Arrivals, Campaign, Replay, ScenarioError


class OpenArrivals:
    """A Poisson stream, constant or with a piecewise-constant rate by local time of day.

    Exact for piecewise rates: inside a piece the gaps are exponential at its rate;
    crossing into the next piece restarts the draw there (memorylessness).
    """

    def __init__(self, engine: Engine, spec: Arrivals, end: float) -> None:
        self.engine = engine
        self.template = spec.template
        self.end = end
        attempts_per_call = 1.0
        call = engine.scenario.call
        if call.load_counts == "connected":
            attempts_per_call = 1.0 / call.answer_probability
        self.scale = attempts_per_call / 3600.0  # calls per hour -> attempts per second
        self.first = engine.add_destinations(fake_destinations(spec.country, spec.population))
        self.population = spec.population
        self.rate_at = _rate_function(engine, spec)
        self._piece_end = -math.inf
        self._rate = 0.0
        if spec.calls_per_hour is not None:  # one rate all along: no pieces to cross
            # a rate so small it underflows per second: no arrival, not a division by 0
            self._rate = max(spec.calls_per_hour * self.scale, sys.float_info.min)
            self._schedule = self._schedule_constant  # type: ignore[method-assign]
            self._arrive = self._arrive_constant  # type: ignore[method-assign]

    def start(self) -> None:
        self._schedule(0.0)

    def _schedule_constant(self, now: float) -> None:
        gap = -math.log(1.0 - self.engine.rng.random()) / self._rate  # expovariate, inlined
        if now + gap < self.end:
            Timeout(self.engine.env, gap).callbacks.append(self._arrive)

    def _arrive_constant(self, _: object) -> None:
        """_arrive with _schedule_constant inline: the simulator benchmark's hot path."""
        engine = self.engine
        env, random_ = engine.env, engine.rng.random
        gap = -math.log(1.0 - random_()) / self._rate
        if env._now + gap < self.end:  # (SimClock reads _now, see there)
            Timeout(env, gap).callbacks.append(self._arrive)
        engine.attempt(self.template, self.first + int(random_() * self.population))

    def run_alone(self) -> None:
        """The whole stream without SimPy's queue, for a run where nothing else ever
        schedules an event (run.py decides): SimPy's queue would only ever hold this
        stream's next arrival. The same draws in the same order as start() and
        _arrive_constant, the real allocator called per attempt, and SimPy's clock set
        to each arrival's time exactly as SimPy would set it (now + gap)."""
        engine = self.engine
        env, random_, rate, end = engine.env, engine.rng.random, self._rate, self.end
        attempt, template = engine.attempt, self.template
        first, population, log = self.first, self.population, math.log
        arrival = -log(1.0 - random_()) / rate
        while arrival < end:
            env._now = arrival
            following = arrival - log(1.0 - random_()) / rate
            attempt(template, first + int(random_() * population))
            arrival = following

    def _schedule(self, now: float) -> None:
        rng = self.engine.rng
        t = now
        while t < self.end:
            if t >= self._piece_end:
                per_hour, self._piece_end = self.rate_at(t)
                self._rate = per_hour * self.scale
            if self._rate > 0.0:
                arrival = t + rng.expovariate(self._rate)
                if arrival < self._piece_end:
                    if arrival < self.end:
                        Timeout(self.engine.env, arrival - now).callbacks.append(self._arrive)
                    return
            t = self._piece_end

    def _arrive(self, _: object) -> None:
        engine = self.engine
        self._schedule(engine.env.now)
        engine.attempt(self.template, self.first + int(engine.rng.random() * self.population))


def _rate_function(engine: Engine, spec: Arrivals) -> Callable[[float], tuple[float, float]]:
    """t (seconds since start) -> (calls per hour, end of that rate's piece)."""
    return rate_function(spec, engine.scenario.timezone, engine.clock.epoch)


def rate_function(
    spec: Arrivals, timezone: str, epoch: float
) -> Callable[[float], tuple[float, float]]:
    """t (seconds after `epoch`) -> (calls per hour, end of that rate's piece), the
    profile read on its own clock (default `timezone`); also what planning's interval
    sizing reads."""
    if spec.calls_per_hour is not None:
        rate = spec.calls_per_hour
        return lambda t: (rate, math.inf)
    zone = ZoneInfo(spec.profile_timezone or timezone)
    profile = spec.profile
    if isinstance(profile[0], float):
        edges = [(h * 60, profile[h]) for h in range(24)]
    else:
        edges = []
        for start, end, rate in profile:
            edges.append((_minutes(start), rate))
            edges.append((_minutes(end), None))
        edges = _flatten(edges)

    def rate_at(t: float) -> tuple[float, float]:
        local = datetime.fromtimestamp(epoch + t, zone)
        minute = local.hour * 60 + local.minute
        rate, next_minute = 0.0, 24 * 60
        for edge_minute, edge_rate in edges:
            if edge_minute <= minute:
                rate = edge_rate
            else:
                next_minute = edge_minute
                break
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        boundary = (midnight + timedelta(minutes=next_minute)).timestamp()
        if boundary <= epoch + t:  # a DST jump: move on by a minute at least
            boundary = epoch + t + 60
        return rate, boundary - epoch

    return rate_at


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _flatten(marks: list[tuple[int, float | None]]) -> list[tuple[int, float]]:
    """Interval starts and ends -> sorted (minute, rate) steps; gaps have rate 0."""
    steps: dict[int, float] = {}
    for minute, rate in sorted(marks, key=lambda m: (m[0], m[1] is not None)):
        steps[minute] = 0.0 if rate is None else rate
    return sorted(steps.items())


class CampaignDialer:
    """Dial a contact list at a pacing, redial busy / no-answer, respect the rules.

    A contact ends when answered or out of attempts. A contact that got no number
    goes back in the list until retry_after (or retry_blocked_seconds); while the
    pool has no number the dialer waits for a call to end; outside calling hours it
    pauses until they open.
    """

    def __init__(self, engine: Engine, spec: Campaign, on_finish: Callable[[], object]) -> None:
        self.engine = engine
        self.spec = spec
        self.on_finish = on_finish
        contacts = _contacts(spec)
        self.first = engine.add_destinations(contacts)
        self.remaining = len(contacts)
        # (due time, order, destination, attempt): a heap of contacts to dial
        self.due = [(0.0, i, self.first + i, 1) for i in range(len(contacts))]
        self.order = len(contacts)
        self.interval = 3600.0 / spec.calls_per_hour if spec.calls_per_hour else 0.0
        self.in_flight = 0  # attempts dialled (or waiting for a number) and not ended
        self.next_allowed = 0.0  # rate pacing
        self.paused_until = 0.0  # calling hours
        self.blocked_until = 0.0  # the pool had no number; a call's end lifts it
        self.wake_at = math.inf
        self.dialing = False
        self.completed_at: float | None = None
        self.answered = 0
        self.exhausted = 0

    def start(self) -> None:
        self._dial()

    def _dial(self, _: object = None) -> None:
        now = self.engine.env.now
        if self.wake_at <= now:
            self.wake_at = math.inf
        if self.dialing:
            return
        self.dialing = True
        try:
            limit = self.spec.max_in_flight
            while self.due and self.due[0][0] <= now and now >= self._gate():
                if limit is not None and self.in_flight >= limit:
                    break  # a call's end dials the next
                _, _, destination, attempt = heapq.heappop(self.due)
                self.next_allowed = now + self.interval
                self.in_flight += 1
                done = self._done(destination, attempt)
                self.engine.attempt(
                    self.spec.template,
                    destination,
                    attempt,
                    done,
                    max_wait=self.spec.max_wait_seconds,
                )
        finally:
            self.dialing = False
        if self.due:
            wake = max(self.due[0][0], self._gate())
            if now < wake < self.wake_at:
                self.wake_at = wake
                Timeout(self.engine.env, wake - now).callbacks.append(self._dial)

    def _gate(self) -> float:
        return max(self.next_allowed, self.paused_until, self.blocked_until)

    def _done(self, destination: int, attempt: int) -> Done:
        def done(refusal: NoNumberAvailable | None, end: float, answered: bool) -> None:
            env = self.engine.env
            now = env.now
            if refusal is None:
                event = Timeout(env, end - now, (destination, attempt, answered))
                event.callbacks.append(self._ended)
                return
            self.in_flight -= 1
            retry = refusal.retry_after
            if retry is None:
                retry = self.spec.retry_blocked_seconds
            if refusal.reason == CALLING_HOURS:
                self.paused_until = max(self.paused_until, now + retry)
            elif refusal.reason != DESTINATION_LIMIT:
                self.blocked_until = max(self.blocked_until, now + retry)
            self._push(now + retry, destination, attempt)
            self._dial()

        return done

    def _ended(self, event: Any) -> None:
        destination, attempt, answered = event.value
        now = self.engine.env.now
        self.in_flight -= 1
        self.blocked_until = 0.0  # a number is free again
        if answered:
            self.answered += 1
            self._finish_contact(now)
        elif attempt < self.spec.max_attempts:
            self._push(now + self.spec.redial_gap_seconds, destination, attempt + 1)
        else:
            self.exhausted += 1
            self._finish_contact(now)
        self._dial()

    def _push(self, due: float, destination: int, attempt: int) -> None:
        self.order += 1
        heapq.heappush(self.due, (due, self.order, destination, attempt))

    def _finish_contact(self, now: float) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.completed_at = now
            self.on_finish()


def _contacts(spec: Campaign) -> list[str]:
    if spec.contacts_file is None:
        return fake_destinations(spec.country, spec.contacts, "contacts")
    try:
        with open(spec.contacts_file, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise ScenarioError(f"cannot read {spec.contacts_file}: {error.strerror}") from None
    if not rows or "destination" not in rows[0]:
        raise ScenarioError(f"{spec.contacts_file} needs a 'destination' column")
    contacts = []
    for line, row in enumerate(rows, start=2):
        try:
            contacts.append(normalize_e164(row["destination"], what="destination"))
        except ValueError as error:
            raise ScenarioError(f"{spec.contacts_file} line {line}: {error}") from None
    return contacts


class LogReplay:
    """Replay a call log at its own times, `scale` times over (copies jittered in time
    and sent to distinct people, so the destination limit is not hit artificially)."""

    COLUMNS = ("timestamp", "template", "destination", "holding_seconds", "outcome")

    def __init__(self, engine: Engine, spec: Replay, on_finish: Callable[[], object]) -> None:
        self.engine = engine
        self.on_finish = on_finish
        rows = _log_rows(spec.log)
        epoch = engine.clock.epoch
        rng = engine.rng
        destinations: dict[str, int] = {}
        events: list[tuple[float, str, int, float, bool]] = []
        numbers: list[str] = []
        stand_ins = _StandIns({row[2] for row in rows})
        for row in rows:
            copies = int(spec.scale) + (1 if rng.random() < spec.scale % 1 else 0)
            for copy in range(copies):
                at = row[0] - epoch
                person = row[2]
                if copy:
                    at += rng.uniform(-spec.jitter_seconds, spec.jitter_seconds)
                    person = f"{row[2]}#{copy}"
                if at < 0:
                    continue
                if person not in destinations:
                    destinations[person] = len(numbers)
                    numbers.append(stand_ins.number_for(row[2]) if copy else row[2])
                events.append((at, row[1], destinations[person], row[3], row[4]))
        events.sort(key=lambda e: e[0])
        self.first = engine.add_destinations(numbers)
        self.events = events
        self.cursor = 0

    def start(self) -> None:
        self._schedule()

    def _schedule(self) -> None:
        if self.cursor >= len(self.events):
            self.on_finish()
            return
        at = self.events[self.cursor][0]
        env = self.engine.env
        Timeout(env, max(at - env.now, 0.0)).callbacks.append(self._arrive)

    def _arrive(self, _: object) -> None:
        _, template, person, hold, answered = self.events[self.cursor]
        self.cursor += 1
        self.engine.attempt(template, self.first + person, hold=hold, answered=answered)
        self._schedule()


class _StandIns:
    """Distinct numbers, in each logged person's country, for the extra people a scaled
    replay calls: the destination limit and calling hours see other people, of the same
    country, not the logged person again."""

    def __init__(self, logged: set[str]) -> None:
        self._logged = logged
        self._sources: dict[str, Iterator[str]] = {}

    def number_for(self, original: str) -> str:
        region = phone_info(original).region
        source = self._sources.get(region)
        if source is None:
            source = self._sources[region] = fake_numbers(region, PhoneNumberType.MOBILE)
        for number in source:
            if number not in self._logged:
                return number
        raise ScenarioError(f"ran out of stand-in numbers for {region}; lower the replay's scale")


def _log_rows(log: Any) -> list[tuple[float, str, str, float, bool]]:
    """(epoch seconds, template, destination, holding seconds, answered) per log row."""
    if isinstance(log, str):
        try:
            with open(log, newline="", encoding="utf-8-sig") as handle:
                records = list(csv.DictReader(handle))
        except OSError as error:
            raise ScenarioError(f"cannot read call log {log}: {error.strerror}") from None
        where = log
    else:
        records = log.to_dict("records")
        where = "call log DataFrame"
    if not records:
        raise ScenarioError(f"{where} has no calls")
    missing = [c for c in LogReplay.COLUMNS if c not in records[0]]
    if missing:
        raise ScenarioError(f"{where} misses column(s) {', '.join(missing)}")
    rows = []
    for line, record in enumerate(records, start=2):
        if isinstance(record["destination"], int | float):
            raise ScenarioError(
                f"{where} line {line}: destination {record['destination']!r} is a number, so its "
                "'+' is lost; read the column as text (pandas: dtype={'destination': str})"
            )
        try:
            rows.append(
                (
                    _timestamp(record["timestamp"]),
                    str(record["template"]),
                    normalize_e164(str(record["destination"]), what="destination"),
                    _seconds(record["holding_seconds"]),
                    str(record["outcome"]).strip().lower() in ("answered", "completed"),
                )
            )
        except (TypeError, ValueError) as error:
            raise ScenarioError(f"{where} line {line}: {error}") from None
    return rows


def _seconds(value: Any) -> float:
    """A holding time: finite seconds >= 0 (the allocator takes it as the call's lease)."""
    seconds = float(value)
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ValueError(f"holding_seconds must be seconds >= 0, got {value}")
    return seconds


def _timestamp(value: Any) -> float:
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    if isinstance(value, int | float):
        return float(value)
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} needs a UTC offset, e.g. 2026-01-05T09:00:00+05:30")
    return moment.timestamp()
