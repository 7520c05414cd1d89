"""Pacing: space each provider account's requests to its calls-per-second limit.

Providers limit call creation per account (Twilio 1 per second and queues the rest,
Plivo 2 and answers 429, Exotel 200 requests a minute). An adapter waits for its
account's next slot instead of failing. Slots are handed out by a `Pacer`: one per
process in memory (shared by every thread), or one on Redis (shared by every worker).

Why not the allocator's rolling windows: they are per-number hour and day windows
inside each backend; the one window with a configurable length (DestinationLimit) is
keyed by a validated phone number and comes with taking a channel. A pacer needs
"the next free slot of an account", which is one value per account.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from importlib.resources import files
from typing import Any


class Pacer(ABC):
    """Hands out request slots per key (one key per provider account)."""

    @abstractmethod
    def reserve(self, key: str, interval: float) -> float:
        """Take `key`'s next slot, at least `interval` seconds after the one before;
        the seconds to wait until it (0 if it is now)."""

    @abstractmethod
    def hold(self, key: str, seconds: float) -> None:
        """Hand out no slot of `key` for `seconds` (a provider's Retry-After)."""


class MemoryPacer(Pacer):
    """Slots shared by every thread of this process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str, interval: float) -> float:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(key, now))
            self._next[key] = slot + interval
            return slot - now

    def hold(self, key: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + seconds
            self._next[key] = max(self._next.get(key, until), until)


class RedisPacer(Pacer):
    """Slots shared by every worker on one Redis, timed by the Redis server's clock."""

    def __init__(self, client: Any, namespace: str) -> None:
        source = files("numsim.providers").joinpath("lua/pace.lua").read_text(encoding="utf-8")
        self._script = client.register_script(source)
        self._prefix = f"{{{namespace}}}:pace:"

    def reserve(self, key: str, interval: float) -> float:
        return float(self._script(keys=[self._prefix + key], args=[interval, 0]))

    def hold(self, key: str, seconds: float) -> None:
        self._script(keys=[self._prefix + key], args=[0, seconds])


PROCESS_PACER = MemoryPacer()  # the default: every adapter of this process shares it
