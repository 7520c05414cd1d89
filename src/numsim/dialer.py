"""Dialer: lease a number, place the call through its account, give the channel back.

The channel goes back when the call's terminal callback arrives, when placing the
call fails, or when the lease expires, whichever comes first; `reconcile()` asks
the provider about calls whose callback is overdue. Every step is safe to repeat:
a duplicate, late or out-of-order callback finds its record gone and changes
nothing, because a record leaves the call map in one atomic pop.

The call map lives in the allocator's backend (memory, or Redis shared by every
worker), so a callback may reach any worker process. Each placed call's status
callback URL carries a token (`numsim_call`) naming its record: a callback is
matched even when the call id is not known yet (a timeout hid it, or Plivo's
call UUID differs from the request id `place_call` returned).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .allocator import Allocator, Lease
from .allocator.callmap import CallMap, CallMapSupport, Record
from .numbers import Provider
from .providers.base import ProviderAdapter
from .providers.errors import InvalidCallback, ProviderError
from .providers.events import CallEvent

TOKEN_FIELD = "numsim_call"
PLACING, PLACED, UNKNOWN = "placing", "placed", "unknown"
# Seconds a call may ring and be set up before its time limit starts counting
# (Twilio rings 60 s by default, Plivo 120 s), plus slack.
RING_MARGIN = 180.0


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """A call the provider accepted: our token, the provider's call id, its lease."""

    token: str
    call_id: str
    lease: Lease


class Dialer:
    """Places calls for live services: `Dialer(allocator, adapters)`.

    `adapters`: one ProviderAdapter per provider account. A number dials through the
    adapter of its provider whose account is the number's `account` (or the only
    adapter of its provider when the number names no account)."""

    def __init__(self, allocator: Allocator, adapters: Iterable[ProviderAdapter]) -> None:
        backend = allocator.backend
        if not isinstance(backend, CallMapSupport):
            raise TypeError(f"{type(backend).__name__} cannot keep a Dialer's call map")
        self._allocator = allocator
        self._clock = allocator.clock
        self._calls: CallMap = backend.call_map()
        self._adapters: dict[tuple[Provider, str], ProviderAdapter] = {}
        for adapter in adapters:
            if not isinstance(adapter, ProviderAdapter):
                raise TypeError(f"adapters must be ProviderAdapters, got {type(adapter).__name__}")
            self._adapters[(adapter.provider, adapter.account)] = adapter

    # -- placing -----------------------------------------------------------------------

    def dial(
        self,
        template: str,
        destination: str,
        *,
        answer_url: str,
        status_callback_url: str,
        call_id: str | None = None,
        time_limit: int | None = None,
        timeout: float | None = None,
        ttl: float | None = None,
    ) -> PlacedCall:
        """Lease a number of `template`'s pool and call `destination` from it.

        `time_limit` (seconds) caps the call at the provider; the lease then lives
        that long plus RING_MARGIN unless `ttl` says otherwise, so a call whose
        callback is lost holds its channel no longer than it can last. `timeout`
        waits for a number, as in Allocator.acquire.

        Raises NoNumberAvailable (nothing taken), or ProviderError (the channel is
        free again, unless `outcome_unknown`: then the call may exist, and its
        channel stays held until its callback, reconcile, or the lease's expiry)."""
        if ttl is None and time_limit is not None:
            ttl = time_limit + RING_MARGIN
        lease = self._allocator.acquire(
            template, destination, call_id=call_id, timeout=timeout, ttl=ttl
        )
        try:
            adapter = self.adapter_for(lease.number)
        except LookupError:
            self._allocator.release(lease)
            raise
        token = uuid.uuid4().hex
        now = self._clock()
        self._calls.put(token, _record(lease, adapter, now), max(1.0, lease.expires_at - now), now)
        try:
            provider_id = adapter.place_call(
                lease.number,
                lease.destination or destination,
                answer=answer_url,
                status_callback_url=_with_token(status_callback_url, token),
                time_limit=time_limit,
            )
        except ProviderError as error:
            if error.outcome_unknown:
                self._calls.update(token, {"state": UNKNOWN}, self._clock())
            else:
                self._finish(token)
            raise
        except Exception:
            self._finish(token)  # not the provider's answer: an adapter bug or bad input
            raise
        if self._calls.update(token, {"state": PLACED, "call_id": provider_id}, self._clock()):
            self._alias(adapter.provider, provider_id, token, lease)
        return PlacedCall(token, provider_id, lease)

    # -- callbacks ---------------------------------------------------------------------

    def handle_callback(
        self,
        provider: Provider | str,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> CallEvent:
        """Verify, parse and apply one status callback; its event.

        Raises InvalidCallback (and changes nothing) if it does not verify or cannot
        be read. A terminal event frees the call's channel once, whatever arrives
        after it."""
        provider = Provider(provider)
        token = dict(parse_qsl(urlsplit(url).query)).get(TOKEN_FIELD)
        record = self._calls.get(token, self._clock()) if token else None
        adapter = self._verified(provider, url, params, headers, record)
        try:
            event = adapter.parse_callback(params)
        except ValueError as error:
            raise InvalidCallback(f"{provider.value} callback: {error}") from None
        if token is None or record is None:
            token = self._token_of(provider, event.call_id)
            if token is None and event.provider_call_id:
                token = self._token_of(provider, event.provider_call_id)
        if token is None:
            return event  # a call we no longer hold (ended, expired) or never placed
        if event.terminal:
            self._finish(token)
        else:
            learned = {"state": PLACED, "call_id": event.call_id}
            if event.provider_call_id:
                learned["provider_call_id"] = event.provider_call_id
            now = self._clock()
            found = self._calls.get(token, now)
            if found is not None and self._calls.update(token, learned, now):
                self._alias(provider, event.call_id, token, _lease(found))
                if event.provider_call_id:
                    self._alias(provider, event.provider_call_id, token, _lease(found))
        return event

    def handle_inbound(
        self,
        provider: Provider | str,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Lease:
        """An inbound-call webhook: occupy a channel of the called number until the
        call's terminal status callback (`handle_callback`) or the lease's expiry.

        Raises InvalidCallback, UnknownNumberError (the called number is not in the
        allocator's pool), or NoNumberAvailable (the number is full)."""
        provider = Provider(provider)
        adapter = self._verified(provider, url, params, headers, None)
        try:
            inbound = adapter.parse_inbound(params)
        except ValueError as error:
            raise InvalidCallback(f"{provider.value} inbound webhook: {error}") from None
        known = self._token_of(provider, inbound.call_id)
        if known is not None:  # the webhook again: the first one holds the channel
            record = self._calls.get(known, self._clock())
            if record is not None:
                return _lease(record)
        lease = self._allocator.acquire_inbound(inbound.number, call_id=inbound.call_id)
        token = uuid.uuid4().hex
        now = self._clock()
        record = _record(lease, adapter, now) | {"state": PLACED, "call_id": inbound.call_id}
        self._calls.put(token, record, max(1.0, lease.expires_at - now), now)
        self._alias(provider, inbound.call_id, token, lease)
        return lease

    # -- reconciling -------------------------------------------------------------------

    def reconcile(self, older_than: float = 300.0) -> int:
        """Ask the provider about calls placed more than `older_than` seconds ago and
        free those that ended (their callback was lost). Returns how many it freed.

        A call whose placing had an unknown outcome is looked up by its numbers
        (`find_calls`): freed if it never started or has ended. Where the provider
        cannot list live calls (Plivo, Exotel), its callback or its lease's expiry
        frees it."""
        now = self._clock()
        freed = 0
        for token, record in self._calls.items(now):
            if "alias" in record or record.get("state") not in (PLACED, UNKNOWN):
                continue
            if now - float(record["placed_at"]) < older_than:
                continue
            adapter = self._adapters.get((Provider(record["provider"]), record["account"]))
            if adapter is None:
                continue
            try:
                ended = (
                    self._ended(adapter, record)
                    if record["state"] == PLACED
                    else self._settle_unknown(adapter, token, record)
                )
            except ProviderError:
                continue  # ask again next time; the lease TTL bounds the wait
            if ended and self._finish(token):
                freed += 1
        return freed

    def _ended(self, adapter: ProviderAdapter, record: Record) -> bool:
        event = adapter.fetch_call(record.get("provider_call_id") or record["call_id"])
        return event.terminal

    def _settle_unknown(self, adapter: ProviderAdapter, token: str, record: Record) -> bool:
        """Look up a call whose placing had an unknown outcome: True if it never
        started or has ended; if it is live, learn its id and keep its channel."""
        found = adapter.find_calls(
            record["number"], record["destination"], float(record["placed_at"])
        )
        if found is None:
            return False  # the provider cannot tell: its callback or the TTL decides
        live = [event for event in found if not event.terminal]
        if not live:
            return True
        now = self._clock()
        if self._calls.update(token, {"state": PLACED, "call_id": live[0].call_id}, now):
            self._alias(adapter.provider, live[0].call_id, token, _lease(record))
        return False

    # -- before a campaign ------------------------------------------------------------

    def check_numbers(self) -> dict[str, str]:
        """Numbers that would fail silently at the provider, with why: no adapter for
        their account, not owned by it, or owned without voice. Empty when all is well.
        One listing request per account."""
        problems: dict[str, str] = {}
        by_adapter: dict[ProviderAdapter, list[str]] = {}
        for e164 in self._allocator.numbers:
            try:
                by_adapter.setdefault(self.adapter_for(e164), []).append(e164)
            except LookupError as error:
                problems[e164] = str(error)
        for adapter, numbers in by_adapter.items():
            try:
                owned = {n.e164: n for n in adapter.owned_numbers()}
            except ProviderError as error:
                for e164 in numbers:
                    problems[e164] = f"cannot list account {adapter.account}'s numbers: {error}"
                continue
            for e164 in numbers:
                if e164 not in owned:
                    problems[e164] = (
                        f"not a number of {adapter.provider.value} account {adapter.account}"
                    )
                elif not owned[e164].voice:
                    problems[e164] = "owned, but not enabled for voice calls"
        return dict(sorted(problems.items()))

    # -- details -----------------------------------------------------------------------

    def adapter_for(self, e164: str) -> ProviderAdapter:
        """The adapter of the account that owns `e164`; LookupError if none is given."""
        number = self._allocator.numbers[e164]
        if number.account is not None:
            adapter = self._adapters.get((number.provider, number.account))
            if adapter is None:
                raise LookupError(
                    f"no {number.provider.value} adapter for account {number.account} "
                    f"(number {e164})"
                )
            return adapter
        candidates = [a for (p, _), a in self._adapters.items() if p is number.provider]
        if len(candidates) != 1:
            raise LookupError(
                f"{e164} names no account and there are {len(candidates)} "
                f"{number.provider.value} adapters: set the number's account"
            )
        return candidates[0]

    def _verified(
        self,
        provider: Provider,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        record: Record | None,
    ) -> ProviderAdapter:
        if record is not None:
            candidates = [self._adapters.get((provider, record["account"]))]
        else:
            candidates = [a for (p, _), a in self._adapters.items() if p is provider]
        for adapter in candidates:
            if adapter is not None and adapter.verify_callback(url, params, headers):
                return adapter
        raise InvalidCallback(f"{provider.value} callback did not verify; nothing changed")

    def _finish(self, token: str) -> bool:
        """Pop the call's record and free its channel; False if another got there first."""
        now = self._clock()
        record = self._calls.pop(token, now)
        if record is None:
            return False
        self._allocator.release(_lease(record))
        for call_id in {record.get("call_id"), record.get("provider_call_id")} - {None}:
            self._calls.pop(f"id:{record['provider']}:{call_id}", now)
        return True

    def _alias(self, provider: Provider, call_id: str, token: str, lease: Lease) -> None:
        now = self._clock()
        ttl = max(1.0, lease.expires_at - now)
        self._calls.put(f"id:{provider.value}:{call_id}", {"alias": token}, ttl, now)

    def _token_of(self, provider: Provider, call_id: str) -> str | None:
        alias = self._calls.get(f"id:{provider.value}:{call_id}", self._clock())
        return None if alias is None else alias["alias"]


def _record(lease: Lease, adapter: ProviderAdapter, now: float) -> Record:
    """What rebuilds the lease in any process, and what reconcile needs."""
    return {
        "lease_id": lease.id,
        "number": lease.number,
        "template": lease.template or "",
        "destination": lease.destination or "",
        "lease_call_id": lease.call_id or "",
        "expires_at": repr(lease.expires_at),
        "inbound": "1" if lease.inbound else "",
        "provider": adapter.provider.value,
        "account": adapter.account,
        "placed_at": repr(now),
        "state": PLACING,
    }


def _lease(record: Record) -> Lease:
    return Lease(
        id=record["lease_id"],
        number=record["number"],
        template=record["template"] or None,
        destination=record["destination"] or None,
        call_id=record["lease_call_id"] or None,
        expires_at=float(record["expires_at"]),
        inbound=bool(record["inbound"]),
    )


def _with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != TOKEN_FIELD]
    query.append((TOKEN_FIELD, token))
    return urlunsplit(parts._replace(query=urlencode(query)))
