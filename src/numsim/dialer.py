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

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .allocator import Allocator, Lease
from .allocator.callmap import CallMap, CallMapSupport, Record
from .credentials import CredentialError
from .errors import UnknownNumberError
from .numbers import Provider
from .providers.base import ProviderAdapter
from .providers.errors import InvalidCallback, ProviderError, ReplayedCallback
from .providers.events import CallEvent

log = logging.getLogger(__name__)
T = TypeVar("T")

TOKEN_FIELD = "numsim_call"
PLACING, PLACED, UNKNOWN = "placing", "placed", "unknown"  # a record's state
NOT_PLACED, UNKNOWN_OUTCOME = "not_placed", "unknown"  # settle()'s other answers
# Seconds a handled call id (and a Plivo nonce) is remembered, so a replayed webhook
# changes nothing: far longer than providers retry a webhook (minutes).
REPLAY_WINDOW = 86_400.0
SETTLE_WINDOW = 3_600.0  # seconds settle() still knows a finished call's outcome
# Seconds a call may wait in a provider's queue (numsim paces below the account's
# rate, so moments): before then, a provider that cannot list queued calls proves
# nothing by not finding one.
QUEUE_GRACE = 60.0
_HEX = frozenset("0123456789abcdef")
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

    @property
    def adapters(self) -> list[ProviderAdapter]:
        """The provider accounts this dialer places calls and verifies webhooks with."""
        return list(self._adapters.values())

    # -- placing -----------------------------------------------------------------------

    def dial(
        self,
        template: str,
        destination: str,
        *,
        answer_url: str,
        status_callback_url: str | Callable[[Provider], str],
        call_id: str | None = None,
        time_limit: int | None = None,
        timeout: float | None = None,
        ttl: float | None = None,
    ) -> PlacedCall:
        """Lease a number of `template`'s pool and call `destination` from it.

        `status_callback_url` may be a function of the number's provider (a service
        with one callback route per provider). `time_limit` (seconds) caps the call
        at the provider; the lease then lives that long plus RING_MARGIN unless `ttl`
        says otherwise, so a call whose callback is lost holds its channel no longer
        than it can last. `timeout` waits for a number, as in Allocator.acquire.

        Raises NoNumberAvailable (nothing taken), or ProviderError (the channel is
        free again, unless `outcome_unknown`: then the call may exist, its channel
        stays held until its callback, reconcile, or the lease's expiry, and the
        error's `token` tells `settle()` which call to look up)."""
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
        if callable(status_callback_url):
            status_callback_url = status_callback_url(adapter.provider)
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
                error.token, error.number = token, lease.number
                error.destination = lease.destination or destination
            else:
                self._finish(token, NOT_PLACED)
            raise
        except Exception:
            self._finish(token, NOT_PLACED)  # not the provider's answer: a bug or bad input
            raise
        if self._calls.update(token, {"state": PLACED, "call_id": provider_id}, self._clock()):
            self._alias(adapter.provider, provider_id, token, lease)
        return PlacedCall(token, provider_id, lease)

    def attach(self, lease: Lease, call_id: str) -> bool:
        """Link a call placed by the caller itself (from `lease.number`) to its lease,
        so the call's terminal status callback ends the lease, in any process sharing
        the backend. True if attached; False if that callback came first (the lease
        is released now). Attaching the same call to the same lease again is harmless;
        to another lease, a ValueError."""
        if not isinstance(call_id, str) or not call_id.strip() or len(call_id) > 128:
            raise ValueError("call_id must be the provider's call id (a non-empty string)")
        call_id = call_id.strip()
        adapter = self.adapter_for(lease.number)
        provider, now = adapter.provider, self._clock()
        ended = self._calls.get(_alias_key(provider, call_id), now) or {}
        if ended.get("ended") == adapter.account:
            self._allocator.release(lease)
            return False
        token = uuid.uuid4().hex
        record = _record(lease, adapter, now) | {"state": PLACED, "call_id": call_id}
        ttl = max(1.0, lease.expires_at - now)
        self._calls.put(token, record, ttl, now)
        if self._calls.claim(_alias_key(provider, call_id), {"alias": token}, ttl, now):
            return True
        self._calls.pop(token, now)
        held = self._record_of(provider, call_id)
        if held is not None and held.get("lease_id") == lease.id:
            return True
        raise ValueError(f"call {call_id} is attached to another lease, or has ended")

    def settle(self, token: str) -> str:
        """Whether the call `token` names was placed: "placed", "not_placed", or
        "unknown" (the provider cannot tell yet). How a campaign decides whether it may
        dial that destination again after an unknown outcome; asks the provider when
        needed (`find_calls`), and frees the channel of a call that never started."""
        if not is_call_token(token):
            raise ValueError(f"{token!r} is not a call token dial() handed out")
        now = self._clock()
        record = self._calls.get(token, now)
        if record is None:
            settled = self._calls.get(_settled_key(token), now)
            return settled["outcome"] if settled else UNKNOWN_OUTCOME
        if record.get("state") == PLACED:
            return PLACED
        if record.get("state") != UNKNOWN:
            return UNKNOWN_OUTCOME  # still being placed
        adapter = self._adapters.get((Provider(record["provider"]), record["account"]))
        if adapter is None:
            return UNKNOWN_OUTCOME
        return self._settle_unknown(adapter, token, record)[0]

    # -- callbacks ---------------------------------------------------------------------

    def handle_callback(
        self,
        provider: Provider | str,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        *,
        method: str = "POST",
    ) -> CallEvent:
        """Verify, parse and apply one status callback; its event.

        Raises InvalidCallback (and changes nothing) if it does not verify with the
        credentials of the account that placed or took the call, cannot be read, or
        was handled before. A terminal event frees the call's channel once, whatever
        arrives after it. A callback whose URL names a call (`numsim_call`) is about
        that call only: its body's call id never picks another. `method` "GET": the
        fields came in the URL's query (and are signed as part of it)."""
        provider = Provider(provider)
        event = self._parse(provider, "callback", lambda a: a.parse_callback(params))
        signed = {} if method.upper() == "GET" else params
        now = self._clock()
        token = dict(parse_qsl(urlsplit(url).query)).get(TOKEN_FIELD)
        bound = token is not None
        if token is None:
            token = self._token_of(provider, event.call_id)
            if token is None and event.provider_call_id:
                token = self._token_of(provider, event.provider_call_id)
        record = self._calls.get(token, now) if token else None
        if record is None:  # ended, expired, or never ours: verify, remember, change nothing
            adapter = self._verified(provider, url, signed, headers, self._of(provider))
            if event.terminal and not bound and adapter.signs_callbacks:
                # A call not attached yet (its PUT may follow): attach() will know.
                self._mark_ended(provider, event.call_id, adapter.account)
            return event
        assert token is not None
        owner = self._adapters.get((provider, record["account"]))
        adapter = self._verified(provider, url, signed, headers, [owner])
        ids = {event.call_id, event.provider_call_id} - {None}
        if record.get("call_id") and not ids & {record["call_id"], record.get("provider_call_id")}:
            raise InvalidCallback(
                f"{provider.value} callback about call {event.call_id} on another call's URL; "
                "nothing changed"
            )
        if event.terminal:
            if not bound and not adapter.signs_callbacks:
                self._confirm(adapter, event.call_id, ended=True)
            self._finish(token, PLACED)
            return event
        learned = {"state": PLACED, "call_id": event.call_id}
        if event.provider_call_id:
            learned["provider_call_id"] = event.provider_call_id
        if self._calls.update(token, learned, self._clock()):
            self._alias(provider, event.call_id, token, _lease(record))
            if event.provider_call_id:
                self._alias(provider, event.provider_call_id, token, _lease(record))
        return event

    def handle_inbound(
        self,
        provider: Provider | str,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        *,
        method: str = "POST",
    ) -> Lease:
        """An inbound-call webhook: occupy a channel of the called number until the
        call's terminal status callback (`handle_callback`) or the lease's expiry.

        It must verify with the credentials of the called number's account. The same
        webhook again while the call lasts returns the call's lease; after the call
        ended, it raises ReplayedCallback. Where the provider does not sign webhooks
        (Exotel), the provider is asked whether the call exists and is live.

        Raises InvalidCallback, UnknownNumberError (the called number is not in the
        allocator's pool), or NoNumberAvailable (the number is full)."""
        provider = Provider(provider)
        inbound = self._parse(provider, "inbound webhook", lambda a: a.parse_inbound(params))
        ours = inbound.number in self._allocator.numbers
        try:
            owners = [self.adapter_for(inbound.number)] if ours else self._of(provider)
        except LookupError:
            owners = []
        signed = {} if method.upper() == "GET" else params
        # A number not ours (yet: the service re-reads the registry and tries again)
        # leaves the nonce for that try.
        adapter = self._verified(provider, url, signed, headers, owners, claim_nonce=ours)
        if not ours:
            raise UnknownNumberError(f"{inbound.number} is not a number of this allocator")
        now = self._clock()
        known = self._calls.get(_alias_key(provider, inbound.call_id), now) or {}
        if known.get("ended") == adapter.account:  # another account's word counts not
            raise ReplayedCallback(
                f"{provider.value} inbound webhook for call {inbound.call_id}, which has "
                "ended; nothing changed"
            )
        held = self._record_of(provider, inbound.call_id)
        if held is not None:  # the webhook again while the call lasts: same channel
            return _lease(held)
        if not adapter.signs_callbacks:
            self._confirm(adapter, inbound.call_id, ended=False)
        lease = self._allocator.acquire_inbound(inbound.number, call_id=inbound.call_id)
        token = uuid.uuid4().hex
        now = self._clock()
        record = _record(lease, adapter, now) | {"state": PLACED, "call_id": inbound.call_id}
        ttl = max(1.0, lease.expires_at - now)
        self._calls.put(token, record, ttl, now)
        alias = _alias_key(provider, inbound.call_id)
        if "ended" in known:  # said by another account: not this call's word, replaced
            self._calls.put(alias, {"alias": token}, ttl, now)
        elif not self._calls.claim(alias, {"alias": token}, ttl, now):
            self._calls.pop(token, now)  # a concurrent delivery of the same webhook won
            self._allocator.release(lease)
            held = self._record_of(provider, inbound.call_id)
            if held is None:
                raise ReplayedCallback(f"{provider.value} call {inbound.call_id} has ended")
            return _lease(held)
        return lease

    # -- reconciling -------------------------------------------------------------------

    def reconcile(self, older_than: float = 300.0) -> int:
        """Ask the provider about calls placed more than `older_than` seconds ago and
        free those that ended (their callback was lost). Returns how many it freed.

        A call whose placing had an unknown outcome is looked up by its numbers
        (`find_calls`): freed if it never started or has ended. Where the provider
        cannot list calls by number, its callback or its lease's expiry frees it."""
        now = self._clock()
        freed = 0
        for token, record in self._calls.items(now):
            if record.get("state") not in (PLACED, UNKNOWN):
                continue  # aliases and markers
            if now - float(record["placed_at"]) < older_than:
                continue
            adapter = self._adapters.get((Provider(record["provider"]), record["account"]))
            if adapter is None:
                continue
            try:
                if record["state"] == PLACED:
                    freed += self._ended(adapter, record) and self._finish(token, PLACED)
                else:
                    freed += self._settle_unknown(adapter, token, record)[1]
            except ProviderError:
                continue  # ask again next time; the lease TTL bounds the wait
        return freed

    def _ended(self, adapter: ProviderAdapter, record: Record) -> bool:
        event = adapter.fetch_call(record.get("provider_call_id") or record["call_id"])
        return event.terminal

    def _settle_unknown(
        self, adapter: ProviderAdapter, token: str, record: Record
    ) -> tuple[str, bool]:
        """Look up a call whose placing had an unknown outcome: (outcome, freed).
        Never started: ("not_placed", freed). Started and ended: ("placed", freed).
        Live: its id is learned and its channel kept. The provider cannot tell:
        ("unknown", False)."""
        found = adapter.find_calls(
            record["number"], record["destination"], float(record["placed_at"])
        )
        if found is None:
            return UNKNOWN_OUTCOME, False
        if not found:
            young = self._clock() - float(record["placed_at"]) < QUEUE_GRACE
            if young and not adapter.finds_queued_calls:
                return UNKNOWN_OUTCOME, False  # it may be queued still: ask again later
            return NOT_PLACED, self._finish(token, NOT_PLACED)
        live = [event for event in found if not event.terminal]
        if not live:
            return PLACED, self._finish(token, PLACED)
        now = self._clock()
        if self._calls.update(token, {"state": PLACED, "call_id": live[0].call_id}, now):
            self._alias(adapter.provider, live[0].call_id, token, _lease(record))
        return PLACED, False

    # -- before a campaign ------------------------------------------------------------

    def check_numbers(self) -> dict[str, str]:
        """Numbers that would fail silently at the provider, with why: no adapter for
        their account, not owned by it, or owned without voice. Empty when all is well.
        Each account is asked the cheapest way (`ProviderAdapter.look_up`). For the
        registry's numbers with compliance and credentials too, see numsim.prelaunch."""
        problems: dict[str, str] = {}
        by_adapter: dict[ProviderAdapter, list[str]] = {}
        for e164 in self._allocator.numbers:
            try:
                by_adapter.setdefault(self.adapter_for(e164), []).append(e164)
            except LookupError as error:
                problems[e164] = str(error)
        for adapter, numbers in by_adapter.items():
            try:
                owned = adapter.look_up(numbers)
            except ProviderError as error:
                for e164 in numbers:
                    problems[e164] = f"cannot ask account {adapter.account}: {error}"
                continue
            for e164 in numbers:
                found = owned.get(e164)
                if found is None:
                    problems[e164] = (
                        f"not a number of {adapter.provider.value} account {adapter.account}"
                    )
                elif not found.voice:
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

    def _of(self, provider: Provider) -> list[ProviderAdapter]:
        return [a for (p, _), a in self._adapters.items() if p is provider]

    def _parse(self, provider: Provider, what: str, parse: Callable[[ProviderAdapter], T]) -> T:
        """Read a webhook's fields (the same for every account of a provider)."""
        adapters = self._of(provider)
        if not adapters:
            raise InvalidCallback(f"no {provider.value} account is configured; nothing changed")
        try:
            return parse(adapters[0])
        except ValueError as error:
            raise InvalidCallback(f"{provider.value} {what}: {error}") from None

    def _verified(
        self,
        provider: Provider,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        candidates: Iterable[ProviderAdapter | None],
        *,
        claim_nonce: bool = True,
    ) -> ProviderAdapter:
        """The first of `candidates` (the accounts the webhook may come from) whose
        credentials verify it. An account whose credentials do not resolve verifies
        nothing, and stops no other. A nonce seen before (Plivo) is a replay; with
        `claim_nonce` False it is checked by the caller's retry, not claimed now."""
        for adapter in candidates:
            if adapter is None:
                continue
            try:
                verified = adapter.verify_callback(url, params, headers)
            except CredentialError as error:
                log.warning("%s account %s cannot verify webhooks: %s", *_named(adapter), error)
                continue
            if not verified:
                continue
            nonce = adapter.nonce(headers) if claim_nonce else None
            if nonce:
                key = f"nonce:{provider.value}:{nonce}"
                if not self._calls.claim(key, {"seen": "1"}, REPLAY_WINDOW, self._clock()):
                    raise ReplayedCallback(f"{provider.value} webhook replayed; nothing changed")
            return adapter
        raise InvalidCallback(f"{provider.value} callback did not verify; nothing changed")

    def _confirm(self, adapter: ProviderAdapter, call_id: str, *, ended: bool) -> None:
        """Ask the provider about a webhook it did not sign: does the call exist, and has
        it ended (`ended`) or not? InvalidCallback if the answer is no."""
        try:
            event = adapter.fetch_call(call_id)
        except ProviderError as error:
            if error.status != 404:
                raise
            raise InvalidCallback(
                f"{adapter.provider.value} has no call {call_id}; nothing changed"
            ) from None
        if event.terminal != ended:
            state = "has ended" if event.terminal else "has not ended"
            raise InvalidCallback(
                f"{adapter.provider.value} says call {call_id} {state}; nothing changed"
            )

    def _finish(self, token: str, outcome: str) -> bool:
        """Pop the call's record and free its channel; False if another got there first.
        What is remembered: the call ended (a replayed webhook changes nothing), and
        whether it was placed (for `settle`)."""
        now = self._clock()
        record = self._calls.pop(token, now)
        if record is None:
            return False
        self._allocator.release(_lease(record))
        provider = Provider(record["provider"])
        self._calls.put(_settled_key(token), {"outcome": outcome}, SETTLE_WINDOW, now)
        for call_id in {record.get("call_id") or "", record.get("provider_call_id") or ""} - {""}:
            self._mark_ended(provider, call_id, record["account"])  # replaces its alias
        return True

    def _mark_ended(self, provider: Provider, call_id: str, account: str) -> None:
        """The call's id now says it ended (and which account's it was): for a day, a
        replayed webhook finds that instead of a call to take or free."""
        now = self._clock()
        self._calls.put(_alias_key(provider, call_id), {"ended": account}, REPLAY_WINDOW, now)

    def _alias(self, provider: Provider, call_id: str, token: str, lease: Lease) -> None:
        now = self._clock()
        ttl = max(1.0, lease.expires_at - now)
        self._calls.put(_alias_key(provider, call_id), {"alias": token}, ttl, now)

    def _token_of(self, provider: Provider, call_id: str) -> str | None:
        alias = self._calls.get(_alias_key(provider, call_id), self._clock())
        return None if alias is None else alias.get("alias")

    def _record_of(self, provider: Provider, call_id: str) -> Record | None:
        token = self._token_of(provider, call_id)
        return None if token is None else self._calls.get(token, self._clock())


def is_call_token(text: object) -> bool:
    """Whether `text` has the form of a token dial() hands out (32 hex digits)."""
    return isinstance(text, str) and len(text) == 32 and _HEX.issuperset(text)


def _alias_key(provider: Provider, call_id: str) -> str:
    return f"id:{provider.value}:{call_id}"


def _settled_key(token: str) -> str:
    return f"settled:{token}"


def _named(adapter: ProviderAdapter) -> tuple[str, str]:
    return adapter.provider.value, adapter.account


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
