"""Prometheus metrics read from an allocator at scrape time, for any service.

    from prometheus_client import REGISTRY
    REGISTRY.register(AllocatorCollector(allocator))

Needs only prometheus-client: the figures are read at scrape time (the state
`Allocator.snapshot()` reads, without building its rows), so they cost nothing between
scrapes. A pool of 100,000 numbers makes 700,000 per-number series: `exposition()`
writes them straight as text (what `numsim serve`'s /metrics sends; collect() gives the
same through prometheus_client), and `per_number=False` leaves them out (the
per-template series stay, and carry every alert but one in docs/prometheus-alerts.yml).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import NamedTuple

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..allocator import Allocator, NumberState
from ..allocator.refusal import REFUSALS, TEMPLATE_REFUSALS
from ..allocator.rules import DAY, HOUR
from ..numbers import CAPS, OutboundNumber

PREFIX = "numsim"
REFUSED = REFUSALS  # the counters' prefix of refusals by reason (kept for importers)

Value = Callable[[NumberState, OutboundNumber | None], "int | None"]


def _setting(name: str) -> Value:
    """A number's setting (a cap) as a gauge's value: None (no series) when not set."""

    def value(state: NumberState, number: OutboundNumber | None) -> int | None:
        found: int | None = getattr(number, name, None)
        return found

    return value


# Per number gauges: metric name -> (help, value). Each cap setting is one
# (max_calls_per_hour, ...), so "near its hourly cap" is calls_last_hour over it.
_GAUGES: dict[str, tuple[str, Value]] = {
    "channels_in_use": (
        "Channels carrying a call now (inbound included).",
        lambda state, number: state.in_use,
    ),
    "channels_capacity": (
        "Concurrent calls the number may carry.",
        lambda state, number: None if number is None else number.capacity,
    ),
    "calls_last_hour": (
        "Outbound calls in the rolling hour.",
        lambda state, number: state.calls[HOUR],
    ),
    "calls_last_day": (
        "Outbound calls in the rolling 24 hours.",
        lambda state, number: state.calls.get(DAY),
    ),
    **{spec.name: (f"The number's cap: {spec.help}.", _setting(spec.name)) for spec in CAPS},
}
_STATUS = ("number_status", "1 for the number's status now (ready, busy, retired, a cap).")
_NUMBER_LABELS = ("number", "provider")


class _Pool(NamedTuple):
    """What one scrape reads of the allocator."""

    states: dict[str, NumberState]
    numbers: dict[str, OutboundNumber]
    templates: dict[str, tuple[str, ...]]
    counters: dict[str, int]

    @classmethod
    def read(cls, allocator: Allocator) -> _Pool:
        _, states = allocator.states()
        return cls(states, allocator.numbers, allocator.templates, allocator.counters())

    def provider(self, e164: str) -> str:
        number = self.numbers.get(e164)
        return "" if number is None else number.provider.value


class AllocatorCollector(Collector):
    """Collects an allocator's pool state and counters on each scrape.

    `callback_failure(provider)` counts a provider webhook that did not verify (the
    allocator cannot see those: they change nothing). `per_number=False` leaves out
    the series of each number (for very large pools): per template ones stay."""

    def __init__(
        self, allocator: Allocator, *, prefix: str = PREFIX, per_number: bool = True
    ) -> None:
        self.allocator = allocator
        self.prefix = prefix
        self.per_number = per_number
        self._failures: Counter[str] = Counter()
        self._lock = threading.Lock()

    def callback_failure(self, provider: str) -> None:
        with self._lock:
            self._failures[provider] += 1

    def collect(self) -> Iterator[Metric]:
        pool = _Pool.read(self.allocator)
        if self.per_number:
            yield from self._numbers(pool)
        yield from self._pools(pool)

    def exposition(self) -> bytes:
        """The Prometheus text format of collect(), written straight for the per-number
        series (prometheus_client's writer takes seconds for 100,000 numbers)."""
        pool = _Pool.read(self.allocator)
        text = _number_text(self.prefix, pool) if self.per_number else ""
        rest = CollectorRegistry(auto_describe=False)
        rest.register(_Fixed(list(self._pools(pool))))
        return text.encode() + generate_latest(rest)

    def _numbers(self, pool: _Pool) -> Iterator[Metric]:
        name = self.prefix + "_"
        known = pool.numbers
        for metric, (text, value) in _GAUGES.items():
            gauge = GaugeMetricFamily(name + metric, text, labels=_NUMBER_LABELS)
            for e164, state in pool.states.items():
                found = value(state, known.get(e164))
                if found is not None:
                    gauge.add_metric([e164, pool.provider(e164)], float(found))
            yield gauge
        status = GaugeMetricFamily(
            name + _STATUS[0], _STATUS[1], labels=[*_NUMBER_LABELS, "status"]
        )
        for e164, state in pool.states.items():
            status.add_metric([e164, pool.provider(e164), state.status], 1.0)
        yield status

    def _pools(self, pool: _Pool) -> Iterator[Metric]:
        yield from self._templates(pool)
        name = self.prefix + "_"
        counters = pool.counters
        for key, metric, text in (
            ("acquired", "acquisitions", "Outbound channels granted."),
            ("acquired_inbound", "inbound_acquisitions", "Inbound calls given a channel."),
            ("released", "releases", "Leases given back."),
            ("expired", "lease_expiries", "Leases that expired unreleased (leaks caught)."),
        ):
            yield CounterMetricFamily(name + metric, text, value=counters.get(key, 0))
        refusals = CounterMetricFamily(
            name + "refusals", "Calls refused, by reason.", labels=["reason"]
        )
        by_template = CounterMetricFamily(
            name + "template_refusals",
            "Calls of a template refused, by template and reason.",
            labels=["template", "reason"],
        )
        for key, count in counters.items():
            if key.startswith(REFUSALS):
                refusals.add_metric([key.removeprefix(REFUSALS)], count)
            elif key.startswith(TEMPLATE_REFUSALS):
                template, reason = key.removeprefix(TEMPLATE_REFUSALS).rsplit(":", 1)
                by_template.add_metric([template, reason], count)
        yield refusals
        yield by_template
        failures = CounterMetricFamily(
            name + "callback_verification_failures",
            "Provider webhooks refused because their signature did not verify.",
            labels=["provider"],
        )
        with self._lock:
            for provider, count in sorted(self._failures.items()):
                failures.add_metric([provider], count)
        yield failures

    def _templates(self, pool: _Pool) -> Iterator[Metric]:
        name = self.prefix + "_template_"
        busy = GaugeMetricFamily(
            name + "channels_in_use", "Channels busy in the pool.", labels=["template"]
        )
        total = GaugeMetricFamily(
            name + "channels_capacity", "Channels of the pool.", labels=["template"]
        )
        counted = GaugeMetricFamily(
            name + "numbers",
            "Numbers of the pool by status (ready, busy, retired, a cap).",
            labels=["template", "status"],
        )
        states, known = pool.states, pool.numbers
        for template in sorted(pool.templates):
            in_use = capacity = 0
            statuses: Counter[str] = Counter()
            for e164 in pool.templates[template]:
                state, number = states.get(e164), known.get(e164)
                if state is not None:
                    in_use += state.in_use
                    statuses[state.status] += 1
                if number is not None:
                    capacity += number.capacity
            busy.add_metric([template], in_use)
            total.add_metric([template], capacity)
            for status, count in sorted(statuses.items()):
                counted.add_metric([template, status], count)
        yield busy
        yield total
        yield counted


class _Fixed(Collector):
    """Metrics already collected, for prometheus_client's text writer."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self.metrics)


def _number_text(prefix: str, pool: _Pool) -> str:
    """The per-number families of collect() in the text format. Their label values need
    no escaping: E.164 numbers, provider names and statuses are plain words."""
    known = pool.numbers
    rows = [(e164, state, known.get(e164)) for e164, state in pool.states.items()]
    labels = [f'{{number="{e164}",provider="{pool.provider(e164)}"' for e164, _, _ in rows]
    out: list[str] = []
    for metric, (text, value) in _GAUGES.items():
        name = f"{prefix}_{metric}"
        out.append(f"# HELP {name} {text}\n# TYPE {name} gauge\n")
        for label, (_, state, number) in zip(labels, rows, strict=True):
            found = value(state, number)
            if found is not None:
                out.append(f"{name}{label}}} {float(found)!r}\n")
    name = f"{prefix}_{_STATUS[0]}"
    out.append(f"# HELP {name} {_STATUS[1]}\n# TYPE {name} gauge\n")
    out += [
        f'{name}{label},status="{state.status}"}} 1.0\n'
        for label, (_, state, _) in zip(labels, rows, strict=True)
    ]
    return "".join(out)
