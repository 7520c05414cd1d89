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
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..allocator import Allocator, NumberState
from ..allocator.refusal import REFUSALS, TEMPLATE_REFUSALS
from ..allocator.rules import DAY, HOUR
from ..numbers import CAPS, OutboundNumber
from . import live

PREFIX = "numsim"

# Per number gauges of its state now: metric name -> (help, value of a NumberState).
_STATE_GAUGES: dict[str, tuple[str, Callable[[NumberState], int | None]]] = {
    "channels_in_use": (
        "Channels carrying a call now (inbound included).",
        lambda state: state.in_use,
    ),
    "calls_last_hour": ("Outbound calls in the rolling hour.", lambda state: state.calls[HOUR]),
    "calls_last_day": (
        "Outbound calls in the rolling 24 hours.",
        lambda state: state.calls.get(DAY),
    ),
}


def _setting(name: str) -> Callable[[OutboundNumber], int | None]:
    """A number's setting as a gauge's value: None (no series) when not set."""

    def value(number: OutboundNumber) -> int | None:
        found: int | None = getattr(number, name)
        return found

    return value


# Per number gauges of its settings (they change only when the number does): each cap
# setting is one (max_calls_per_hour, ...), so "near its hourly cap" is calls_last_hour
# over it.
_SETTING_GAUGES: dict[str, tuple[str, Callable[[OutboundNumber], int | None]]] = {
    "channels_capacity": ("Concurrent calls the number may carry.", lambda n: n.capacity),
    **{spec.name: (f"The number's cap: {spec.help}.", _setting(spec.name)) for spec in CAPS},
}
_STATUS = ("number_status", "1 for the number's status now (ready, busy, retired, a cap).")
_NUMBER_LABELS = ("number", "provider")


class _Pool(NamedTuple):
    """What one scrape reads of the allocator."""

    reading: live.Reading
    templates: dict[str, tuple[str, ...]]
    counters: dict[str, int]

    @classmethod
    def read(cls, allocator: Allocator) -> _Pool:
        return cls(live.read(allocator), allocator.templates, allocator.counters())

    @property
    def states(self) -> Mapping[str, NumberState]:
        return self.reading.states

    @property
    def numbers(self) -> Mapping[str, OutboundNumber]:
        return self.reading.numbers

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
        # The settings gauges' text, and the numbers it was written for: reused while
        # the numbers are the same (compared by identity first: a few ms at 100,000).
        self._settings_text: tuple[Mapping[str, OutboundNumber], str] = ({}, "")

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
        text = ""
        if self.per_number:
            numbers, settings = self._settings_text
            if numbers != pool.numbers:
                settings = _settings_text(self.prefix, pool.numbers)
                self._settings_text = (pool.numbers, settings)
            text = _state_text(self.prefix, pool) + settings
        rest = CollectorRegistry(auto_describe=False)
        rest.register(_Fixed(list(self._pools(pool))))
        return text.encode() + generate_latest(rest)

    def _numbers(self, pool: _Pool) -> Iterator[Metric]:
        name = self.prefix + "_"
        for metric, (text, state_value) in _STATE_GAUGES.items():
            gauge = GaugeMetricFamily(name + metric, text, labels=_NUMBER_LABELS)
            for e164, state in pool.states.items():
                found = state_value(state)
                if found is not None:
                    gauge.add_metric([e164, pool.provider(e164)], float(found))
            yield gauge
        status = GaugeMetricFamily(
            name + _STATUS[0], _STATUS[1], labels=[*_NUMBER_LABELS, "status"]
        )
        for e164, state in pool.states.items():
            status.add_metric([e164, pool.provider(e164), state.status], 1.0)
        yield status
        for metric, (text, setting_value) in _SETTING_GAUGES.items():
            gauge = GaugeMetricFamily(name + metric, text, labels=_NUMBER_LABELS)
            for e164, number in pool.numbers.items():
                found = setting_value(number)
                if found is not None:
                    gauge.add_metric([e164, number.provider.value], float(found))
            yield gauge

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
        for template, use in live.pools_use(pool.templates, pool.reading).items():
            busy.add_metric([template], use.in_use)
            total.add_metric([template], use.capacity)
            for status, count in sorted(use.statuses.items()):
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


def _state_text(prefix: str, pool: _Pool) -> str:
    """The per-number state families of collect() in the text format. Label values
    need no escaping: E.164 numbers, provider names and statuses are plain words."""
    states = pool.states
    labels = [f'{{number="{e164}",provider="{pool.provider(e164)}"' for e164 in states]
    out = _gauges_text(prefix, _STATE_GAUGES, labels, states.values())
    name = f"{prefix}_{_STATUS[0]}"
    out.append(f"# HELP {name} {_STATUS[1]}\n# TYPE {name} gauge\n")
    out += [
        f'{name}{label},status="{state.status}"}} 1.0\n'
        for label, state in zip(labels, states.values(), strict=True)
    ]
    return "".join(out)


def _settings_text(prefix: str, numbers: Mapping[str, OutboundNumber]) -> str:
    """The per-number settings families of collect() in the text format."""
    labels = [f'{{number="{e164}",provider="{n.provider.value}"' for e164, n in numbers.items()]
    return "".join(_gauges_text(prefix, _SETTING_GAUGES, labels, numbers.values()))


def _gauges_text(
    prefix: str,
    families: Mapping[str, tuple[str, Callable[[Any], float | None]]],
    labels: list[str],
    rows: Iterable[Any],
) -> list[str]:
    """Gauge families, one sample per row with a value: `families` maps a metric to
    its help and the row's value; `labels` are each row's, their brace left open."""
    out: list[str] = []
    rows = list(rows)
    for metric, (text, value) in families.items():
        name = f"{prefix}_{metric}"
        out.append(f"# HELP {name} {text}\n# TYPE {name} gauge\n")
        out += [
            f"{name}{label}}} {float(v)!r}\n"
            for label, v in zip(labels, map(value, rows), strict=True)
            if v is not None
        ]
    return out
