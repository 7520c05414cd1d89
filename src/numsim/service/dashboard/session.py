"""Dashboard sessions: a signed cookie, the CSRF token that goes with it, and the
throttle on failed sign-ins.

The cookie holds a random session id, its expiry and whether it is signed in, with an
HMAC over them. The key is derived from the dashboard's secret (the API token, or the
dashboard password), so every `serve` process sharing that secret accepts the same
cookie, and changing the secret ends every session. A visitor gets a session before
signing in, so the sign-in form has a CSRF token too; signing in starts a new one.
Signing out forgets the session id in this process until it would have expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

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


class Sessions:
    """Makes and reads session cookies signed with a key derived from `secret`."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(secret.encode(), b"numsim dashboard session v1", "sha256").digest()
        self._secret_digest = hashlib.sha256(secret.encode()).digest()
        self._clock = clock
        self._ended: dict[str, int] = {}  # signed-out session id -> when it would expire
        self._lock = threading.Lock()

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
        with self._lock:
            ended = session_id in self._ended
        if ended or expires <= self._clock():
            return None
        return self._session(session_id, expires, signed_in == "1")

    def end(self, session: Session) -> None:
        """Sign out: this process refuses the session's cookie from now on."""
        now = self._clock()
        with self._lock:
            self._ended = {s: t for s, t in self._ended.items() if t > now}
            self._ended[session.id] = session.expires

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
