"""What one service process holds: the registry, the allocator fed from it, the dialer
for webhooks, and the metrics collector.

The registry is the system of record; the allocator follows it. A change made through
this process reaches its allocator at once (`sync()` after the change); a change made
by another process (another `serve`, the CLI) is picked up by the periodic `sync()`.
Syncing only adds, updates, assigns, unassigns and removes: live leases are kept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from ..allocator import Allocator
from ..dialer import Dialer
from ..numbers import OutboundNumber, Provider
from ..providers.base import ProviderAdapter
from ..registry import NumberRegistry
from .metrics import AllocatorCollector

AccountKey = tuple[Provider, str, str]  # provider, account, credentials reference


class Service:
    """The registry, its allocator and dialer, kept in step."""

    def __init__(
        self,
        registry: NumberRegistry,
        allocator: Allocator,
        adapters: Iterable[ProviderAdapter] | None = None,
    ) -> None:
        self.registry = registry
        self.allocator = allocator
        self.metrics = AllocatorCollector(allocator)
        self._fixed_adapters = None if adapters is None else list(adapters)
        self._accounts: set[AccountKey] | None = None
        self._lock = threading.Lock()
        self.dialer = Dialer(allocator, self._fixed_adapters or [])
        self.sync()

    def sync(self) -> None:
        """Bring the allocator (and the dialer's accounts) in line with the registry."""
        with self._lock:
            numbers = {n.e164: n for n in self.registry.numbers()}
            pools = {t.id: set(t.numbers) for t in self.registry.templates().values()}
            _follow(self.allocator, numbers, pools)
            if self._fixed_adapters is None:
                accounts = _accounts(numbers.values())
                if accounts != self._accounts:
                    self.dialer = Dialer(self.allocator, _adapters(accounts))
                    self._accounts = accounts


def _follow(
    allocator: Allocator, numbers: dict[str, OutboundNumber], pools: dict[str, set[str]]
) -> None:
    current = allocator.numbers
    for e164, number in numbers.items():
        if current.get(e164) != number:
            allocator.add_number(number)
    for template, pool in allocator.templates.items():
        leaving = [e164 for e164 in pool if e164 not in pools.get(template, ())]
        if leaving:
            allocator.unassign(template, leaving)
    have = allocator.templates
    for template, members in pools.items():
        joining = sorted(members - set(have.get(template, ())))
        if joining:
            allocator.assign(template, joining)
    for e164 in current.keys() - numbers.keys():
        allocator.remove_number(e164)


def _accounts(numbers: Iterable[OutboundNumber]) -> set[AccountKey]:
    return {
        (n.provider, n.account, str(n.credentials))
        for n in numbers
        if n.account is not None and n.credentials is not None
    }


def _adapters(accounts: set[AccountKey]) -> list[ProviderAdapter]:
    """One adapter per account the registry's numbers name (credentials stay references)."""
    from .. import providers

    classes = {
        Provider.TWILIO: "TwilioAdapter",
        Provider.PLIVO: "PlivoAdapter",
        Provider.EXOTEL: "ExotelAdapter",
    }
    made: dict[tuple[Provider, str], ProviderAdapter] = {}
    for provider, account, credentials in sorted(accounts):
        adapter_class = getattr(providers, classes[provider])
        made.setdefault((provider, account), adapter_class(account, credentials))
    return list(made.values())
