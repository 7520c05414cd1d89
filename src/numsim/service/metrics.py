"""Prometheus metrics read from an allocator's snapshot, for any service.

    from prometheus_client import REGISTRY
    REGISTRY.register(AllocatorCollector(allocator))

Needs only prometheus-client: the figures are read at scrape time from
`Allocator.snapshot()`, so they match it and cost nothing between scrapes. A pool of
100,000 numbers makes 700,000 per-number series: `exposition()` writes them straight
as text (what `numsim serve`'s /metrics sends), and `per_number=False` leaves them out
(the per-template series stay, and carry every alert in docs/prometheus-alerts.yml).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..allocator import Allocator, Snapshot
from ..allocator.refusal import REFUSALS, TEMPLATE_REFUSALS
from ..numbers import CAPS

PREFIX = "numsim"
REFUSED = REFUSALS  # the counters' prefix of refusals by reason (kept for importers)

# Per number gauges: snapshot column -> (metric name, help); each cap setting is one
# (max_calls_per_hour, ...), so "near its hourly cap" is calls_last_hour over it.
_GAUGES = {
    "in_use": ("channels_in_use", "Channels carrying a call now (inbound included)."),
    "capacity": ("channels_capacity", "Concurrent calls the number may carry."),
    "calls_last_hour": ("calls_last_hour", "Outbound calls in the rolling hour."),
    "calls_last_day": ("calls_last_day", "Outbound calls in the rolling 24 hours."),
    **{spec.name: (spec.name, f"The number's cap: {spec.help}.") for spec in CAPS},
}
_STATUS = ("number_status", "1 for the number's status now (ready, busy, retired, a cap).")
_NUMBER_LABELS = ("number", "provider")


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
        snapshot = self.allocator.snapshot()
        if self.per_number:
            yield from self._numbers(snapshot.numbers)
        yield from self._pools(snapshot)

    def exposition(self) -> bytes:
        """The Prometheus text format of collect(), written straight for the per-number
        series (prometheus_client's writer takes seconds for 100,000 numbers)."""
        snapshot = self.allocator.snapshot()
        text = _number_text(self.prefix, snapshot.numbers) if self.per_number else ""
        rest = CollectorRegistry(auto_describe=False)
        rest.register(_Fixed(list(self._pools(snapshot))))
        return text.encode() + generate_latest(rest)

    def _numbers(self, numbers: dict[str, dict[str, Any]]) -> Iterator[Metric]:
        name = self.prefix + "_"
        for column, (metric, text) in _GAUGES.items():
            gauge = GaugeMetricFamily(name + metric, text, labels=_NUMBER_LABELS)
            for e164, row in numbers.items():
                if row[column] is not None:
                    gauge.add_metric([e164, row["provider"] or ""], float(row[column]))
            yield gauge
        status = GaugeMetricFamily(
            name + _STATUS[0], _STATUS[1], labels=[*_NUMBER_LABELS, "status"]
        )
        for e164, row in numbers.items():
            status.add_metric([e164, row["provider"] or "", row["status"]], 1.0)
        yield status

    def _pools(self, snapshot: Snapshot) -> Iterator[Metric]:
        yield from self._templates(snapshot.numbers)
        name = self.prefix + "_"
        counters = snapshot.counters
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

    def _templates(self, numbers: dict[str, dict[str, Any]]) -> Iterator[Metric]:
        in_use: Counter[str] = Counter()
        capacity: Counter[str] = Counter()
        statuses: Counter[tuple[str, str]] = Counter()
        for row in numbers.values():
            for template in row["templates"]:
                in_use[template] += row["in_use"]
                capacity[template] += row["capacity"] or 0
                statuses[template, row["status"]] += 1
        name = self.prefix + "_template_"
        busy = GaugeMetricFamily(
            name + "channels_in_use", "Channels busy in the pool.", labels=["template"]
        )
        total = GaugeMetricFamily(
            name + "channels_capacity", "Channels of the pool.", labels=["template"]
        )
        for template in sorted(capacity):
            busy.add_metric([template], in_use[template])
            total.add_metric([template], capacity[template])
        yield busy
        yield total
        counted = GaugeMetricFamily(
            name + "numbers",
            "Numbers of the pool by status (ready, busy, retired, a cap).",
            labels=["template", "status"],
        )
        for (template, status), count in sorted(statuses.items()):
            counted.add_metric([template, status], count)
        yield counted


class _Fixed(Collector):
    """Metrics already collected, for prometheus_client's text writer."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self.metrics)


def _number_text(prefix: str, numbers: dict[str, dict[str, Any]]) -> str:
    """The per-number families of collect() in the text format. Their label values need
    no escaping: E.164 numbers, provider names and statuses are plain words."""
    labels = {
        e164: f'{{number="{e164}",provider="{row["provider"] or ""}"'
        for e164, row in numbers.items()
    }
    out: list[str] = []
    for column, (metric, text) in _GAUGES.items():
        name = f"{prefix}_{metric}"
        out.append(f"# HELP {name} {text}\n# TYPE {name} gauge\n")
        out += [
            f"{name}{labels[e164]}}} {float(row[column])!r}\n"
            for e164, row in numbers.items()
            if row[column] is not None
        ]
    name = f"{prefix}_{_STATUS[0]}"
    out.append(f"# HELP {name} {_STATUS[1]}\n# TYPE {name} gauge\n")
    out += [
        f'{name}{labels[e164]},status="{row["status"]}"}} 1.0\n' for e164, row in numbers.items()
    ]
    return "".join(out)
