"""Dashboard sessions: a signed cookie, the CSRF token that goes with it, and the
throttle on failed sign-ins.

The cookie holds a random session id, its expiry and whether it is signed in, with an
HMAC over them. The key is derived from the dashboard's secret (the API token, or the
dashboard password), so every `serve` process sharing that secret accepts the same
cookie, and changing the secret ends every session. A visitor gets a session before
signing in, so the sign-in form has a CSRF token too; signing in starts a new one.
Signing out refuses the session id until it would have expired: in this process, and
in every process sharing the allocator's backend (its call map: Redis with --redis).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ...allocator.callmap import CallMap

log = logging.getLogger("numsim.service")

COOKIE = "numsim_session"
LIFETIME = 8 * 3600  # seconds a signed-in session lasts
VISIT_LIFETIME = 3600  # seconds a visitor's session (before signing in) lasts
MAX_FAILURES = 5  # failed sign-ins from one address...
FAILURE_WINDOW = 60.0  # ...per this many seconds, then it waits
MAX_ADDRESSES = 10_000  # addresses remembered before the quiet ones are forgotten


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    expires: int
    signed_in: bool
    csrf: str  # the token every form of this session carries


class SignOuts:
    """The sessions signed out, each until it would have expired: kept in this process
    and, given `shared` (a backend's call map, read with that backend's `clock`), where
    every process sharing the backend reads them. If the shared store cannot be reached,
    this process's own sign-outs still hold (and the failure is logged): the dashboard
    stays usable through a Redis outage."""

    def __init__(
        self, shared: CallMap | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._shared = shared
        self._shared_clock = clock
        self._here: dict[str, float] = {}  # session id -> when it would expire
        self._lock = threading.Lock()

    def add(self, session_id: str, seconds_left: float, now: float) -> None:
        with self._lock:
            self._here = {s: t for s, t in self._here.items() if t > now}
            self._here[session_id] = now + seconds_left
        if self._shared is not None:
            try:
                record = {"signed_out": "1"}
                self._shared.put(_key(session_id), record, seconds_left, self._shared_clock())
            except Exception as error:
                log.warning("a sign-out holds in this process only: %s", error)

    def __contains__(self, session_id: str) -> bool:
        with self._lock:
            if session_id in self._here:
                return True
        if self._shared is None:
            return False
        try:
            return self._shared.get(_key(session_id), self._shared_clock()) is not None
        except Exception as error:
            log.warning("other processes' sign-outs cannot be read: %s", error)
            return False


def _key(session_id: str) -> str:
    return f"signed-out:{session_id}"


class Sessions:
    """Makes and reads session cookies signed with a key derived from `secret`."""

    def __init__(
        self,
        secret: str,
        clock: Callable[[], float] = time.time,
        signed_out: SignOuts | None = None,
    ) -> None:
        self._key = hmac.new(secret.encode(), b"numsim dashboard session v1", "sha256").digest()
        self._secret_digest = hashlib.sha256(secret.encode()).digest()
        self._clock = clock
        self._signed_out = SignOuts() if signed_out is None else signed_out

    def matches(self, given: str) -> bool:
        """Whether `given` is the secret, compared in constant time (digests of equal length)."""
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), self._secret_digest)

    def start(self, *, signed_in: bool) -> tuple[Session, str]:
        """A new session and its cookie value."""
        lifetime = LIFETIME if signed_in else VISIT_LIFETIME
        session_id = secrets.token_urlsafe(18)
        expires = int(self._clock()) + lifetime
        payload = f"{session_id}.{expires}.{int(signed_in)}"
        return self._session(session_id, expires, signed_in), f"{payload}.{self._mac(payload)}"

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie holds, or None if it is missing, forged, expired or ended."""
        if not cookie or cookie.count(".") != 3:
            return None
        payload, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        session_id, expires_text, signed_in = payload.split(".")
        expires = int(expires_text)
        if expires <= self._clock() or session_id in self._signed_out:
            return None
        return self._session(session_id, expires, signed_in == "1")

    def end(self, session: Session) -> None:
        """Sign out: the session's cookie is refused from now on (see SignOuts)."""
        now = self._clock()
        self._signed_out.add(session.id, max(session.expires - now, 1.0), now)

    def csrf_ok(self, session: Session, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(given.encode(), session.csrf.encode())

    def _session(self, session_id: str, expires: int, signed_in: bool) -> Session:
        return Session(session_id, expires, signed_in, self._mac(f"csrf.{session_id}"))

    def _mac(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), "sha256").digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Throttle:
    """At most MAX_FAILURES failed sign-ins per FAILURE_WINDOW seconds from one address:
    guessing the secret from one place takes forever, a typo costs nothing."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, address: str) -> float:
        """Seconds before `address` may try again (0: now)."""
        now = self._clock()
        with self._lock:
            failures = self._failures.get(address)
            if failures is None:
                return 0.0
            while failures and failures[0] <= now - FAILURE_WINDOW:
                failures.popleft()
            if not failures:
                del self._failures[address]
                return 0.0
            if len(failures) < MAX_FAILURES:
                return 0.0
            return failures[0] + FAILURE_WINDOW - now

    def failed(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) >= MAX_ADDRESSES:  # forget the addresses that gave up
                self._failures = {
                    a: f for a, f in self._failures.items() if f[-1] > now - FAILURE_WINDOW
                }
            self._failures.setdefault(address, deque(maxlen=MAX_FAILURES)).append(now)
