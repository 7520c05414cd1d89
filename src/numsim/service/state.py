"""What one service process holds: the registry, the allocator fed from it, the dialer
for webhooks, and the metrics collector.

The registry is the system of record; the allocator follows it. A change made through
this process reaches its allocator at once (`sync()` after the change); a change made
by another process (another `serve`, the CLI) is picked up by the periodic `refresh()`,
which costs one PRAGMA while nothing changed.
Syncing only adds, updates, assigns, unassigns and removes: live leases are kept.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ..allocator import Allocator
from ..credentials import CredentialError
from ..dialer import Dialer
from ..errors import RegistryError
from ..numbers import NUMBER_FIELDS, OutboundNumber, Provider, plain
from ..phone import normalize_e164
from ..providers import catalog
from ..providers.base import ProviderAdapter
from ..registry import NumberRegistry
from .metrics import AllocatorCollector

log = logging.getLogger(__name__)

AccountKey = tuple[Provider, str, str]  # provider, account, credentials reference


class Service:
    """The registry, its allocator and dialer, kept in step."""

    def __init__(
        self,
        registry: NumberRegistry,
        allocator: Allocator,
        adapters: Iterable[ProviderAdapter] | None = None,
        provider_urls: Mapping[Provider, str] | None = None,
        shared_keys: Mapping[str, str] | None = None,
    ) -> None:
        self.registry = registry
        self.allocator = allocator
        self.provider_urls = dict(provider_urls or {})
        self.shared_keys = dict(shared_keys or {})  # Twilio account -> SharedKey reference
        self.metrics = AllocatorCollector(allocator)
        self._fixed_adapters = None if adapters is None else list(adapters)
        self._accounts: set[AccountKey] | None = None
        self._version = -1
        self._lock = threading.Lock()
        self.dialer = Dialer(allocator, self._fixed_adapters or [])
        self.sync()

    def sync(self) -> None:
        """Bring the allocator (and the dialer's accounts) in line with the registry."""
        with self._lock:
            self._version = self.registry.data_version()  # before reading: never too new
            numbers = _follow(self.allocator, self.registry.rows())
            if self._fixed_adapters is None:
                accounts = _accounts(numbers)
                if accounts != self._accounts:
                    self.dialer = Dialer(
                        self.allocator, _adapters(accounts, self.provider_urls, self.shared_keys)
                    )
                    self._accounts = accounts

    def unresolved(self) -> list[str]:
        """The accounts whose credentials this process cannot read ("provider account
        (reference)"): their webhooks cannot verify, their calls cannot be placed."""
        found = []
        for adapter in self.dialer.adapters:
            try:
                adapter.credentials.resolve()
            except CredentialError:
                found.append(f"{adapter.provider.value} {adapter.account} ({adapter.credentials})")
        return sorted(found)

    def refresh(self) -> bool:
        """sync() if another process changed the registry since the last one."""
        if self.registry.data_version() == self._version:
            return False
        self.sync()
        return True

    def remove(self, e164: str, *, force: bool = False) -> str:
        """Remove a number from the registry and the pool; refused while a call holds it
        or a template uses it, unless `force` (calls in progress then keep their leases
        until released). Returns the number, normalized."""
        number = normalize_e164(e164)
        busy = self.allocator.in_use(number) if number in self.allocator.numbers else 0
        if busy and not force:
            raise RegistryError(f"{number} carries {busy} call(s) now; remove with force")
        self.registry.remove(number, force=force)
        self.sync()
        return number


def _follow(allocator: Allocator, rows: Iterable[dict[str, object]]) -> list[OutboundNumber]:
    """Make the allocator's numbers and pools those of the registry's rows; returns
    the numbers. Rows are compared as stored: only a new or changed number
    is built (and validated) again."""
    current = allocator.numbers
    numbers: list[OutboundNumber] = []
    pools: dict[str, set[str]] = {}
    for row in rows:
        e164 = str(row["e164"])
        number = current.get(e164)
        if number is None or plain(number) != tuple(row[f] for f in NUMBER_FIELDS):
            number = OutboundNumber(**{f: row[f] for f in NUMBER_FIELDS})  # type: ignore[arg-type]
            allocator.add_number(number)
        numbers.append(number)
        for template in row["templates"]:  # type: ignore[attr-defined]
            pools.setdefault(template, set()).add(e164)
    for template, pool in allocator.templates.items():
        leaving = [e164 for e164 in pool if e164 not in pools.get(template, ())]
        if leaving:
            allocator.unassign(template, leaving)
    have = allocator.templates
    for template, members in pools.items():
        joining = sorted(members - set(have.get(template, ())))
        if joining:
            allocator.assign(template, joining)
    for e164 in current.keys() - {n.e164 for n in numbers}:
        allocator.remove_number(e164)
    return numbers


def _accounts(numbers: Iterable[OutboundNumber]) -> set[AccountKey]:
    return {
        (n.provider, n.account, str(n.credentials))
        for n in numbers
        if n.account is not None and n.credentials is not None
    }


def _adapters(
    accounts: set[AccountKey],
    base_urls: Mapping[Provider, str],
    shared_keys: Mapping[str, str],
) -> list[ProviderAdapter]:
    """One adapter per account the registry's numbers name (credentials stay references),
    sending to the provider's base URL in `base_urls` if one is given; a Twilio account
    in `shared_keys` also verifies webhooks signed with that SharedKey."""
    made: dict[tuple[Provider, str], ProviderAdapter] = {}
    for provider, account, credentials in sorted(accounts):
        if (provider, account) in made:
            continue
        try:
            adapter_class = catalog.adapter_class(provider)
            options: dict[str, Any] = {}
            if provider in base_urls:
                options["base_url"] = base_urls[provider]
            if provider is Provider.TWILIO and account in shared_keys:
                options["shared_key"] = shared_keys[account]
            made[provider, account] = adapter_class(account, credentials, **options)
        except (ValueError, CredentialError) as error:  # one bad row must not stop the rest
            log.warning("no %s adapter for account %r: %s", provider.value, account, error)
    return list(made.values())
