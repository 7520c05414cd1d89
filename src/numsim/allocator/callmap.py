"""CallMap: which lease a provider's call holds, readable by every worker process.

A status callback often reaches another process than the one that dialled, so the
link from a call to its lease lives in the allocator's backend, not in a dict of
one process. A backend that can keep it says so by inheriting `CallMapSupport`
(callers check isinstance). Records expire like the lease they point to, so a
lost callback leaves nothing behind for long.
"""

from __future__ import annotations

import heapq
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any

Record = dict[str, str]


class CallMap(ABC):
    """Small records (str -> str) by key, each with a time-to-live."""

    @abstractmethod
    def put(self, key: str, record: Mapping[str, str], ttl: float, now: float) -> None:
        """Store `record` under `key` for `ttl` seconds, replacing any record there."""

    @abstractmethod
    def update(self, key: str, fields: Mapping[str, str], now: float) -> bool:
        """Add `fields` to the record under `key` if it is still there; False if not
        (a record already popped never comes back)."""

    @abstractmethod
    def get(self, key: str, now: float) -> Record | None:
        """The record under `key`, or None."""

    @abstractmethod
    def pop(self, key: str, now: float) -> Record | None:
        """Take the record away atomically: of two concurrent pops, one gets it."""

    @abstractmethod
    def items(self, now: float) -> Iterator[tuple[str, Record]]:
        """Every live record (for reconciliation; not a hot path)."""

    @abstractmethod
    def claim(self, key: str, record: Mapping[str, str], ttl: float, now: float) -> bool:
        """Store `record` under `key` only if nothing is there; True if this call did.
        Atomic: of two concurrent claims, one wins (how a replayed webhook is caught)."""


class CallMapSupport(ABC):
    """A backend that can keep a CallMap beside its leases."""

    @abstractmethod
    def call_map(self) -> CallMap:
        """The call map stored with this backend's state."""


class MemoryCallMap(CallMap):
    """Records in this process, behind a lock."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[Record, float]] = {}
        self._expiry: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def put(self, key: str, record: Mapping[str, str], ttl: float, now: float) -> None:
        with self._lock:
            self._expire(now)
            self._records[key] = (dict(record), now + ttl)
            heapq.heappush(self._expiry, (now + ttl, key))

    def update(self, key: str, fields: Mapping[str, str], now: float) -> bool:
        with self._lock:
            self._expire(now)
            found = self._records.get(key)
            if found is not None:
                found[0].update(fields)
            return found is not None

    def get(self, key: str, now: float) -> Record | None:
        with self._lock:
            self._expire(now)
            found = self._records.get(key)
            return None if found is None else dict(found[0])

    def pop(self, key: str, now: float) -> Record | None:
        with self._lock:
            self._expire(now)
            found = self._records.pop(key, None)
            return None if found is None else found[0]

    def items(self, now: float) -> Iterator[tuple[str, Record]]:
        with self._lock:
            self._expire(now)
            snapshot = [(key, dict(record)) for key, (record, _) in self._records.items()]
        return iter(snapshot)

    def claim(self, key: str, record: Mapping[str, str], ttl: float, now: float) -> bool:
        with self._lock:
            self._expire(now)
            if key in self._records:
                return False
            self._records[key] = (dict(record), now + ttl)
            heapq.heappush(self._expiry, (now + ttl, key))
            return True

    def _expire(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, key = heapq.heappop(self._expiry)
            found = self._records.get(key)
            if found is not None and found[1] <= now:
                del self._records[key]


_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


class RedisCallMap(CallMap):
    """Records as Redis hashes under `{namespace}:call:`, expiring on the server."""

    def __init__(self, client: Any, namespace: str) -> None:
        self._client = client
        self._prefix = f"{{{namespace}}}:call:"
        self._update = client.register_script(_UPDATE)
        self._claim = client.register_script(_CLAIM)

    def put(self, key: str, record: Mapping[str, str], ttl: float, now: float) -> None:
        name = self._prefix + key
        with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(name)
            pipe.hset(name, mapping=dict(record))
            pipe.pexpire(name, max(1, int(ttl * 1000)))
            pipe.execute()

    def update(self, key: str, fields: Mapping[str, str], now: float) -> bool:
        flat = [part for item in fields.items() for part in item]
        return bool(self._update(keys=[self._prefix + key], args=flat))

    def get(self, key: str, now: float) -> Record | None:
        return _decoded(self._client.hgetall(self._prefix + key))

    def pop(self, key: str, now: float) -> Record | None:
        name = self._prefix + key
        with self._client.pipeline(transaction=True) as pipe:
            pipe.hgetall(name)
            pipe.delete(name)
            found, _ = pipe.execute()
        return _decoded(found)

    def items(self, now: float) -> Iterator[tuple[str, Record]]:
        for name in self._client.scan_iter(match=self._prefix + "*", count=500):
            found = _decoded(self._client.hgetall(name))
            if found is not None:
                text = name.decode() if isinstance(name, bytes) else name
                yield text[len(self._prefix) :], found

    def claim(self, key: str, record: Mapping[str, str], ttl: float, now: float) -> bool:
        flat = [part for item in record.items() for part in item]
        return bool(self._claim(keys=[self._prefix + key], args=[max(1, int(ttl * 1000)), *flat]))


def _decoded(raw: Mapping[Any, Any]) -> Record | None:
    if not raw:
        return None
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }
