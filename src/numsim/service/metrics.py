"""Prometheus metrics read from an allocator's snapshot, for any service.

    from prometheus_client import REGISTRY
    REGISTRY.register(AllocatorCollector(allocator))

Needs only prometheus-client: the figures are read at scrape time from
`Allocator.snapshot()`, so they match it and cost nothing between scrapes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..allocator import Allocator

PREFIX = "numsim"
REFUSED = "refused:"

# Per number gauges: snapshot column -> (metric name, help).
_GAUGES = {
    "in_use": ("channels_in_use", "Channels carrying a call now (inbound included)."),
    "capacity": ("channels_capacity", "Concurrent calls the number may carry."),
    "calls_last_hour": ("calls_last_hour", "Outbound calls in the rolling hour."),
    "calls_last_day": ("calls_last_day", "Outbound calls in the rolling 24 hours."),
}


class AllocatorCollector(Collector):
    """Collects an allocator's pool state and counters on each scrape.

    `callback_failure(provider)` counts a provider webhook that did not verify (the
    allocator cannot see those: they change nothing)."""

    def __init__(
        self, allocator: Allocator, *, prefix: str = PREFIX, per_number: bool = True
    ) -> None:
        self.allocator = allocator
        self.per_number = per_number
        self.prefix = prefix
        self._failures: Counter[str] = Counter()
        self._lock = threading.Lock()

    def callback_failure(self, provider: str) -> None:
        with self._lock:
            self._failures[provider] += 1

    def collect(self) -> Iterator[Metric]:
        snapshot = self.allocator.snapshot()
        name = self.prefix + "_"
        for column, (metric, text) in _GAUGES.items():
            gauge = GaugeMetricFamily(name + metric, text, labels=["number", "provider"])
            for e164, row in snapshot.numbers.items():
                if row[column] is not None:
                    gauge.add_metric([e164, row["provider"] or ""], float(row[column]))
            yield gauge
        yield from self._templates(snapshot.numbers)
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
        for key, count in counters.items():
            if key.startswith(REFUSED):
                refusals.add_metric([key.removeprefix(REFUSED)], count)
        yield refusals
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
        for row in numbers.values():
            for template in row["templates"]:
                in_use[template] += row["in_use"]
                capacity[template] += row["capacity"] or 0
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
