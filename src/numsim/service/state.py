"""What one service process holds: the registry, the allocator fed from it, the dialer
for webhooks, and the metrics collector.

The registry is the system of record; the allocator follows it. `sync()` applies what
changed since the last one, by this process or another (the registry's change log):
a change made through this process reaches the allocator at once (routes call sync()
after it), one made by another process (another `serve`, the CLI) at the periodic
`refresh()`. Either costs what changed, not the registry's size: one PATCH touches one
number. Syncing only adds, updates, assigns, unassigns and removes: live leases are kept.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
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
# Rows applied between pauses: a big import is applied in steps that let the event loop
# (and every other thread) run in between, not in one stretch holding the GIL.
CHUNK = 500


class Service:
    """The registry, its allocator and dialer, kept in step."""

    def __init__(
        self,
        registry: NumberRegistry,
        allocator: Allocator,
        adapters: Iterable[ProviderAdapter] | None = None,
        provider_urls: Mapping[Provider, str] | None = None,
        shared_keys: Mapping[str, str] | None = None,
        *,
        per_number_metrics: bool = True,
    ) -> None:
        self.registry = registry
        self.allocator = allocator
        self.provider_urls = dict(provider_urls or {})
        self.shared_keys = dict(shared_keys or {})  # Twilio account -> SharedKey reference
        self.metrics = AllocatorCollector(allocator, per_number=per_number_metrics)
        self._fixed_adapters = None if adapters is None else list(adapters)
        self._accounts: Counter[AccountKey] = Counter()  # account -> numbers naming it
        self._seen: int | None = None  # the registry's change count the allocator reflects
        self._dialing: set[AccountKey] | None = None  # the accounts self.dialer has
        self._lock = threading.Lock()
        for number in allocator.numbers.values():
            _count(self._accounts, number, +1)
        self.dialer = Dialer(allocator, self._fixed_adapters or [])
        self.sync()

    def sync(self) -> bool:
        """Bring the allocator (and the dialer's accounts) in line with the registry:
        what changed since the last sync, or everything the first time (and when the
        change log no longer reaches back that far). Returns whether anything changed."""
        with self._lock:
            registry = self.registry
            changes = None if self._seen is None else registry.changes_since(self._seen)
            if changes is None:
                count = registry.change_count()  # before reading: never too new
                rows = list(registry.rows())
                listed = {str(row["e164"]) for row in rows}
                removed = [e164 for e164 in self.allocator.numbers if e164 not in listed]
            else:
                count, rows, removed = changes
            if self._seen is not None and not rows and not removed:
                self._seen = count
                return False
            many = len(rows) > CHUNK
            # A new number's account first: its calls' webhooks verify from the moment
            # the pool has it. Accounts no number names any more go after.
            self._dial(set(self._accounts) | _accounts_named(rows))
            with gc_held() if many else contextlib.nullcontext():
                _apply(self.allocator, rows, removed, self._accounts)
            if many:  # the pool's objects, kept for long: out of later full collections
                gc.freeze()
            self._seen = count
            self._dial(set(self._accounts))
            return True

    def _dial(self, accounts: set[AccountKey]) -> None:
        """A Dialer with an adapter per account in `accounts`, unless it has them."""
        if self._fixed_adapters is None and accounts != self._dialing:
            self.dialer = Dialer(
                self.allocator, _adapters(accounts, self.provider_urls, self.shared_keys)
            )
            self._dialing = accounts

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
        """sync(), for the periodic round: True if another process changed the registry
        since (this process's own changes are synced as they are made)."""
        return self.sync()

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


def _apply(
    allocator: Allocator,
    rows: list[dict[str, object]],
    removed: Iterable[str],
    accounts: Counter[AccountKey],
) -> None:
    """Make the allocator's numbers and pools those of the changed registry `rows`, and
    drop the `removed` numbers, keeping `accounts` (numbers per account) counted. Rows
    are compared as stored: only a new or changed number is built (and validated)
    again. Applied CHUNK rows at a time, pausing in between (see CHUNK)."""
    joining: defaultdict[str, list[str]] = defaultdict(list)
    leaving: defaultdict[str, list[str]] = defaultdict(list)
    for start in range(0, len(rows), CHUNK):
        if start:
            time.sleep(0)  # let the GIL go: the event loop runs between chunks
        for row in rows[start : start + CHUNK]:
            e164 = str(row["e164"])
            old = allocator.find(e164)
            wanted = set(row["templates"])  # type: ignore[call-overload]
            have = set(allocator.templates_of(e164)) if old is not None else set()
            if old is None or plain(old) != tuple(row[f] for f in NUMBER_FIELDS):
                number = OutboundNumber(**{f: row[f] for f in NUMBER_FIELDS})  # type: ignore[arg-type]
                allocator.add_number(number)
                _count(accounts, old, -1)
                _count(accounts, number, +1)
            for template in wanted - have:
                joining[template].append(e164)
            for template in have - wanted:
                leaving[template].append(e164)
    for template, numbers in leaving.items():
        allocator.unassign(template, numbers)
    for template, numbers in joining.items():
        allocator.assign(template, numbers)
    for e164 in removed:
        old = allocator.find(e164)
        if old is not None:
            allocator.remove_number(e164)
            _count(accounts, old, -1)


@contextlib.contextmanager
def gc_held() -> Iterator[None]:
    """Python's cyclic GC held off around a big change (an import, a sync of many
    numbers), whose garbage reference counting frees: a full collection of a
    100,000-number heap holds the GIL ~0.7 s, and every thread, the event loop
    included, stalls."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _count(accounts: Counter[AccountKey], number: OutboundNumber | None, step: int) -> None:
    if number is None:
        return
    key = _account_key(number.provider, number.account, number.credentials)
    if key is None:
        return
    accounts[key] += step
    if accounts[key] <= 0:
        del accounts[key]


def _accounts_named(rows: Iterable[Mapping[str, object]]) -> set[AccountKey]:
    """The accounts registry rows name."""
    keys = (_account_key(row["provider"], row["account"], row["credentials"]) for row in rows)
    return {key for key in keys if key is not None}


def _account_key(provider: object, account: object, credentials: object) -> AccountKey | None:
    """A number's account as the Dialer's adapters are keyed (None: it names none)."""
    if account is None or credentials is None:
        return None
    return Provider(str(provider)), str(account), str(credentials)


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
