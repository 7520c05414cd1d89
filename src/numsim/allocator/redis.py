"""RedisBackend: one allocator state shared by many worker processes and machines.

Each operation is one function of a Redis Function library (lua/*.lua, each a
function's body, after the helpers of lua/common.lua), atomic on the server and
called with FCALL. The functions keep, under the namespace's hash tag:

    {ns}:cfg                 policy (order, lease TTL, destination limit, sticky memory),
                             the pools' era
    {ns}:numbers             every number ever added or removed (set)
    {ns}:n:<e164>            capacity, caps ("reason window limit" rows), calls in
                             progress, inbound, active, its "template|group" names, and
                             its last pool change's stamp and process token (hash)
    {ns}:p:<template>        the template's pool (set)
    {ns}:gm:<template|group> the group's members (set)
    {ns}:g:<template|group>  free numbers, scored by load then arrival (sorted set)
    {ns}:c:<template|group>  capped numbers with a free channel, by free time (sorted set)
    {ns}:revisit             numbers whose caps free at a time (sorted set)
    {ns}:h:<e164>            outbound call times in the rolling hour, kept for every
                             number (sorted set)
    {ns}:d:<e164>            ... in the rolling day, while a cap asks for it
    {ns}:win:<us>:<e164>     ... in any other window a cap asks for (<us>: its length)
    {ns}:leases, {ns}:l      lease expiries, and ended leases' ids for 5 minutes scored
                             below 0 (sorted set); lease -> "number|inbound" (hash)
    {ns}:dst:<destination>   calls to a destination inside its limit's window
    {ns}:st:<destination>    the number that last called it (sticky caller ID)
    {ns}:seq, {ns}:stats     an order counter; counters of outcomes
    {ns}:w                   each process's pool changes that Redis holds (hash, by token)
    {ns}:freed               pub/sub channel: a channel was freed (wakes waiters anywhere);
                             published only while some process waits ({ns}:waiters)
    {ns}:waiters             processes with waiting requests -> until when (sorted set)
    {ns}:audit               optional stream of every acquire / release / expiry

Window, destination and sticky keys expire when idle; memory follows live calls and
the calls inside the windows. Times are the Redis server's (TIME) unless clock="client".
Each function's arguments and reply fields are named in protocol.py.

Upgrades: numsim before caps were data kept a number's caps in fields hcap and dcap.
A namespace it wrote is read in place, not migrated: the hour and day windows keep
their key names, so their calls keep counting, and a number's hcap/dcap are read while
its hash has no "caps" field (its next put_number writes one and drops them).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from importlib import resources
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import BackendMisconfigured, BackendUnavailable
from ..validation import finite, whole
from . import clients
from .backend import (
    SETTINGS_LOST,
    AsyncBackend,
    Cap,
    Finding,
    Grant,
    NumberSpec,
    NumberState,
    Policy,
    Refusal,
    lease_of,
)
from .callmap import CallMap, CallMapSupport, RedisCallMap
from .lease import Lease, LeaseId
from .protocol import (
    ARGUMENTS,
    CHANGED,
    CHECKED,
    CONFIGURED,
    FINDING,
    GRANTED,
    NEXT_EXPIRY,
    NUMBERS,
    NUMBERS_ROW,
    POLICY_FIELDS,
    POOL,
    POOL_ROW,
    REFUSED,
    RELEASED,
    RENEWED,
    STATUS,
    lua_shapes,
)

log = logging.getLogger(__name__)

SCRIPTS = tuple(ARGUMENTS)  # one function each, lua/<name>.lua
_GROWS = frozenset({"acquire", "acquire_number", "put_number"})  # refused when Redis is full
_LEASES = frozenset({"acquire", "acquire_number", "release", "renew"})  # replicas= waits for
_UNREACHABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    redis.exceptions.RedisClusterException,  # e.g. no node of a cluster answers
)
_ERRORS = (*_UNREACHABLE, ResponseError)
ScriptArg = str | int | float | bytes  # what a script's ARGV entry may be
Stamp = tuple[int, str]  # a pool change's time (us) and the token of the process that made it
_NEVER: Stamp = (-1, "")
_Record = tuple[NumberSpec, dict[str, list[str]]]  # a number in the pools: limits, groups
_MICRO = 1_000_000
_FLAGS = {(s, e): f"{int(s)}{int(e)}" for s in (False, True) for e in (False, True)}
# A process with waiting requests marks itself in the namespace for this long, renewed
# by its listener thread every _MARK_RENEW seconds: frees are published only while a
# mark lives, and a crashed process's mark runs out.
_MARK_TTL = 10.0
_MARK_RENEW = 2.0
_ACQUIRE, _RELEASE, _RENEW = ARGUMENTS["acquire"], ARGUMENTS["release"], ARGUMENTS["renew"]
_ACQUIRE_NOW = _ACQUIRE.at["now"]
_SYNC_TRIES = 4  # syncs per call, while other processes' syncs keep moving the era
_WRITES_CHECK = 1.0  # how often the listener checks that Redis still holds our changes
_WRITE_CHUNK = 500  # a sync's writes per pipeline
READ_CHUNK = 500  # numbers a call when reading states (see RedisBackend.numbers)


class _Library:
    """numsim's Redis Function library: lua/common.lua's helpers, then each script of
    SCRIPTS as the body of one function (KEYS and ARGV its arguments). Loaded once per
    server, its helpers are defined once, where an EVAL script re-creates all of them and
    their closures at every call: an acquire+release costs ~17% less Lua time (benchmark
    redis_lua_vs_limits). Named by the hash of its source, so numsim versions side by side
    on one server each call their own functions. Only the functions that take a channel
    or add a number are refused once Redis is over `maxmemory`: a full Redis still
    releases, renews, reads, removes and repairs (flag allow-oom)."""

    def __init__(self) -> None:
        folder = resources.files(__package__) / "lua"
        functions = [
            _function_source(name, (folder / f"{name}.lua").read_text()) for name in SCRIPTS
        ]
        code = "\n".join([lua_shapes(), (folder / "common.lua").read_text(), *functions])
        self.name = "numsim_" + hashlib.sha1(code.encode()).hexdigest()[:16]  # of it all
        self.source = f"#!lua name={self.name}\n" + code.replace(_LIBRARY_NAME, self.name)

    def function(self, script: str) -> str:
        return f"{self.name}_{script}"

    def load(self, client: clients.SyncClient) -> None:
        """Load the library on each primary that lacks it (a Redis Cluster's primaries
        each serve some namespaces): a load is written to the AOF and sent to replicas
        (35 KB) even when nothing changes."""
        for run in clients.primaries(client):
            try:
                run("FUNCTION LOAD", self.source)
            except ResponseError as error:
                _loaded_already(error)

    async def aload(self, client: clients.AsyncClient) -> None:
        for run in await clients.aprimaries(client):
            try:
                await run("FUNCTION LOAD", self.source)
            except ResponseError as error:
                _loaded_already(error)


_LIBRARY_NAME = "{library}"  # in the functions' names until the library's own is known


def _function_source(script: str, body: str) -> str:
    """The library's function for `script`: its body after its ARGV's names (ARG_NOW ...)
    and begin(), which sets the call's state. Functions that neither take a channel nor
    add a number run past maxmemory."""
    flags = "{}" if script in _GROWS else "{'allow-oom'}"
    return (
        f'redis.register_function{{function_name = "{_LIBRARY_NAME}_{script}", '
        f"flags = {flags}, callback = function(KEYS, ARGV)\n{ARGUMENTS[script].lua()}\n"
        f"begin(KEYS[1])\n{body}\nend}}"
    )


_LIBRARY = _Library()


def _loaded_already(error: ResponseError) -> None:
    """A load refused because the library is there is done (its name is its source's
    hash); any other refusal is raised."""
    _refuse_without_functions(error)
    if "already exists" not in str(error):
        raise error


def _refuse_without_functions(error: ResponseError) -> None:
    """A server without Redis Functions (before 7.0, or the command disabled) is refused
    with an error naming the fix."""
    if "unknown command" in str(error):
        raise BackendMisconfigured(
            "RedisBackend needs Redis 7.0 or newer (it runs as a Redis Function library), "
            f"and this server has no Redis Functions: {error}"
        ) from error


def _library_lost(error: ResponseError) -> bool:
    """Whether a call failed because the server lacks the library (it is loaded again);
    a server without Functions is refused."""
    _refuse_without_functions(error)
    return str(error).startswith("Function not found")


class _Function:
    """One function of the library, called with FCALL; the library is loaded again when
    the server lacks it (restarted without persistence, or FUNCTION FLUSH). Calls FCALL
    directly: redis-py's Script objects cost ~10% more per acquire+release. With
    `replicas` (count, timeout), each call returns once that many replicas have its
    writes (WAIT), or raises BackendUnavailable."""

    __slots__ = ("_client", "_replicas", "_script", "name")

    def __init__(
        self, client: clients.SyncClient, script: str, replicas: tuple[int, float] | None = None
    ) -> None:
        self._client = client
        self._script = script
        self._replicas = replicas
        self.name = _LIBRARY.function(script)

    def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return self._send(keys, args)
        except ResponseError as error:
            if not _library_lost(error):
                raise
        _LIBRARY.load(self._client)
        return self._send(keys, args)

    async def acall(self, client: clients.AsyncClient, key: str, args: Sequence[Any]) -> Any:
        """The same over an asyncio client, with one key."""
        try:
            return await self._asend(client, key, args)
        except ResponseError as error:
            if not _library_lost(error):
                raise
        await _LIBRARY.aload(client)
        return await self._asend(client, key, args)

    def _send(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if self._replicas is None:
            return clients.fcall(self._client, self.name, keys, args)
        sent = clients.fcall_replicated(self._client, self.name, keys, args, *self._replicas)
        return self._acknowledged(*sent)

    async def _asend(self, client: clients.AsyncClient, key: str, args: Sequence[Any]) -> Any:
        if self._replicas is None:
            return await clients.afcall(client, self.name, (key,), args)
        sent = await clients.afcall_replicated(client, self.name, (key,), args, *self._replicas)
        return self._acknowledged(*sent)

    def _acknowledged(self, reply: Any, replicas: int) -> Any:
        """The reply of a call that enough replicas acknowledged; else the error."""
        wanted, timeout = self._replicas or (0, 0.0)
        if replicas < wanted:
            raise BackendUnavailable(
                f"Redis ran {self._script}, but only {replicas} of the {wanted} replicas "
                f"asked for acknowledged it within {timeout:g} s (WAIT): a failover could "
                "lose it. An acquire's lease is given back at this process's next call; a "
                "release or renewal took effect on the primary, and may be retried"
            )
        return reply


class RedisBackend(AsyncBackend, CallMapSupport):
    """Allocator state in Redis, for many workers.

    `url_or_client` is a redis:// URL, a Redis Cluster's redis+cluster://host:port URL,
    or a redis-py client, redis.Redis or redis.cluster.RedisCluster (decode_responses
    on or off). `clock="client"` passes the allocator's clock to the scripts instead of
    using the server's TIME: for managed services that refuse TIME in scripts, at
    the price of trusting every worker's clock; a client time more than
    `max_clock_skew` seconds from the server's is refused (None: not checked, for
    servers that refuse TIME in scripts, and for tests on a manual clock).
    `async_client` (a redis.asyncio client, or redis.asyncio.cluster.RedisCluster) serves
    the allocator's async operations; from a URL one is made for you. `audit=True`
    records every acquire, release and expiry in the {ns}:audit stream.

    The server must not evict keys (maxmemory-policy noeviction): an evicted window
    or lease breaks caps and capacity. Another policy is refused when the backend is
    configured, unless `allow_eviction=True` (then it is logged as a warning).

    Every worker of a namespace runs under one policy (lease TTL, destination limit,
    strategy order, sticky memory, audit, clock skew): an allocator whose policy differs
    from the one stored is refused with BackendMisconfigured naming the fields, unless
    `replace_policy=True`, a deliberate change every worker then runs under.

    Redis replicates asynchronously: a failover to a replica that had not yet received
    the last writes loses them (leases taken, releases made). `replicas=N` makes every
    acquire, release and renewal wait (WAIT) until N replicas have it, at most
    `replica_timeout` seconds (keep it below the client's socket timeout); if fewer
    acknowledge in time, the call raises BackendUnavailable (an acquire's lease is given
    back at the next call). It costs a replica's round trip per call.

    With clock="client", a worker whose clock runs up to `max_clock_skew` ahead of
    another's sees leases and windows end that much earlier: it can hand out a channel
    or a cap's call that much early. The server clock (the default) has no such gap.
    """

    wake_interval = 1.0  # waiting requests re-check this often if a wake-up is lost
    remote = True

    def __init__(
        self,
        url_or_client: str | clients.SyncClient,
        *,
        namespace: str = "numsim",
        clock: str = "server",
        async_client: clients.AsyncClient | None = None,
        audit: bool = False,
        max_clock_skew: float | None = 5.0,
        allow_eviction: bool = False,
        replace_policy: bool = False,
        replicas: int = 0,
        replica_timeout: float = 1.0,
    ) -> None:
        if clock not in ("server", "client"):
            raise ValueError(f"clock must be 'server' or 'client', got {clock!r}")
        if max_clock_skew is not None:
            finite("max_clock_skew", max_clock_skew, inclusive=False)
        replicas = whole("replicas", replicas)
        finite("replica_timeout", replica_timeout, inclusive=False)
        if not namespace or any(c in namespace for c in "{}"):
            raise ValueError(f"namespace must be a non-empty name without braces: {namespace!r}")
        self._owns_client = isinstance(url_or_client, str)
        self._owned_async_client: clients.AsyncClient | None = None
        if isinstance(url_or_client, str):
            self._client, made = clients.from_url(url_or_client)
            if async_client is None:
                async_client = self._owned_async_client = made
        else:
            self._client = url_or_client
        self._async_client = async_client
        self.namespace = namespace
        self._cfg = f"{{{namespace}}}:cfg"
        self._client_clock = clock == "client"
        self._skew = int(max_clock_skew * _MICRO) if clock == "client" and max_clock_skew else 0
        self._allow_eviction = allow_eviction
        self._replace_policy = replace_policy
        self._audit = audit
        self._era = ""  # the pools' era this view was last synced with ("": sync)
        self._writes = 0  # this process's pool changes that Redis holds ({ns}:w)
        self._writes_checked = 0.0  # monotonic time the listener last checked them
        self._stamps: dict[str, Stamp] = {}  # each number's last pool change (a drop too)
        self._view_lock = threading.RLock()  # one sync at a time, and no change during it
        self._syncs = 0  # syncs done: a thread that waited for another's need not sync again
        wait = (replicas, replica_timeout) if replicas else None
        self._functions = {
            name: _Function(self._client, name, wait if name in _LEASES else None)
            for name in SCRIPTS
        }
        self._policy: Policy | None = None
        self._random = random.Random()
        self._random_order = False
        self._numbers: dict[str, _Record] = {}
        self._token = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self._orphans: set[str] = set()  # acquires whose outcome a dropped connection hid
        self._tasks: set[asyncio.Task[None]] = set()  # give-backs in flight
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], object]] = []
        self._pubsub_thread: threading.Thread | None = None
        self._pubsub: Any = None
        self._stopping = threading.Event()
        self._still_waiting: Callable[[], bool] = lambda: False
        self._expected = (0.0, 0.0)  # the last expect_frees: (monotonic, caller's clock)
        self._marked_at: float | None = None  # monotonic time of this process's mark
        self._last_now = 0.0  # the caller's clock at its last call (clock="client")

    # -- configuration ---------------------------------------------------------------

    def configure(self, policy: Policy) -> None:
        self._policy = policy
        self._random = random.Random(policy.seed)
        self._random_order = policy.order == "random"
        self._check_eviction()
        self._configure()  # loads the library if the server lacks it, or refuses the server
        with _mapped_errors("configure"):  # learn the pools; an empty view writes nothing,
            self._sync("")  # so it needs no clock

    def put_number(self, spec: NumberSpec, groups: Mapping[str, Sequence[str]], now: float) -> None:
        # Shared state first, then this process's view: a call that fails changes neither.
        names = {template: list(g) for template, g in groups.items()}
        with self._view_lock:
            args = self._number_args("put_number", self._now(now), "", spec, names)
            reply = self._call("put_number", *args)
            self._numbers[spec.e164] = (spec, names)
            self._changed(spec.e164, reply)

    def drop_number(self, e164: str, now: float) -> None:
        with self._view_lock:
            args = self._change_args("drop_number", self._now(now), "", e164=e164)
            reply = self._call("drop_number", *args)
            self._numbers.pop(e164, None)
            self._changed(e164, reply)

    def subscribe(self, callback: Callable[[], object]) -> None:
        self._listeners.append(callback)
        if self._pubsub_thread is None:
            self._pubsub_thread = threading.Thread(
                target=self._listen, name=f"numsim-{self.namespace}-freed", daemon=True
            )
            self._pubsub_thread.start()

    def expect_frees(self, now: float, waiting: Callable[[], bool]) -> bool:
        """Mark this process as waiting, so that every later free is published; the
        listener renews the mark, and takes it off once `waiting()` has said no for a
        while. True if the mark is new: a free just before it was not published."""
        with self._lock:
            self._still_waiting = waiting
            self._expected = (time.monotonic(), now)
            if self._marked_at is not None:
                return False
            self._mark(True)
            return True

    def call_map(self) -> CallMap:
        """The call -> lease records of a Dialer, in this namespace: every worker's
        Dialer on it sees them."""
        return RedisCallMap(self._client, self.namespace)

    def close(self) -> None:
        """Stop listening for freed channels and close the connections made from a URL
        (a client passed in stays open for its owner). An asyncio client made here is
        closed by aclose()."""
        self._stopping.set()
        with self._lock:
            if self._marked_at is not None:
                self._mark(False)
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()  # ends the listener's wait now
        if self._pubsub_thread is not None:
            self._pubsub_thread.join(timeout=5)
        if self._owns_client:
            self._client.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
        if self._owned_async_client is not None:
            await self._owned_async_client.aclose()

    # -- the atomic operations ----------------------------------------------------------

    def grant(
        self,
        template: str,
        groups: Sequence[str],
        destination: str,
        now: float,
        call_id: str | None = None,
        ttl: float | None = None,
        sticky: bool = False,
        explain: bool = False,
    ) -> Grant | Refusal:
        lease_id = self._new_id()
        args = self._acquire_args(
            template, groups, destination, now, lease_id, ttl, sticky, explain
        )
        try:
            reply = self._call("acquire", *args)
        except BaseException:
            self._orphans.add(lease_id)  # it may still run on the server: give it back
            raise
        return self._granted(reply, destination)

    async def aacquire(
        self,
        template: str,
        groups: Sequence[str],
        destination: str,
        now: float,
        call_id: str | None = None,
        ttl: float | None = None,
        sticky: bool = False,
        explain: bool = False,
    ) -> Lease | Refusal:
        """acquire over the asyncio client."""
        lease_id = self._new_id()
        args = self._acquire_args(
            template, groups, destination, now, lease_id, ttl, sticky, explain
        )
        try:
            with self._orphaned_if_lost(lease_id):
                reply = await self._acall("acquire", *args)
        except asyncio.CancelledError:
            self._give_back_soon(args[_ACQUIRE_NOW])  # do not wait for this process's next call
            raise
        return self._outcome(reply, template, destination, call_id)

    def acquire_number(
        self, e164: str, now: float, call_id: str | None = None, ttl: float | None = None
    ) -> Lease | Refusal:
        lease_id = self._new_id()
        args = ARGUMENTS["acquire_number"].pack(
            now=self._now(now), e164=e164, id=lease_id, ttl=_ttl_arg(ttl), era=self._era
        )
        with self._orphaned_if_lost(lease_id):
            reply = self._call("acquire_number", *args)
        return self._outcome(reply, None, None, call_id)

    def release(self, lease_id: LeaseId, number: str, now: float) -> bool:
        args = _RELEASE.pack(now=self._now(now), id=lease_id, number=number)
        released = int(self._call("release", *args)[RELEASED.released]) == 1
        if released:  # wake this process's waiters now; pub/sub tells the others
            self._notify()
        return released

    async def arelease(self, lease_id: LeaseId, number: str, now: float) -> bool:
        """release over the asyncio client. This process's waiters hear of it through
        pub/sub, off the event loop."""
        args = _RELEASE.pack(now=self._now(now), id=lease_id, number=number)
        reply = await self._acall("release", *args)
        return int(reply[RELEASED.released]) == 1

    def renew(
        self, lease_id: LeaseId, number: str, now: float, ttl: float | None = None
    ) -> float | None:
        args = _RENEW.pack(now=self._now(now), id=lease_id, number=number, ttl=_ttl_arg(ttl))
        reply = self._call("renew", *args)
        return int(reply[RENEWED.expires]) / _MICRO if reply else None

    async def arenew(
        self, lease_id: LeaseId, number: str, now: float, ttl: float | None = None
    ) -> float | None:
        """renew over the asyncio client."""
        args = _RENEW.pack(now=self._now(now), id=lease_id, number=number, ttl=_ttl_arg(ttl))
        reply = await self._acall("renew", *args)
        return int(reply[RENEWED.expires]) / _MICRO if reply else None

    # -- reading ------------------------------------------------------------------------

    def numbers(self, now: float, e164s: Collection[str] | None = None) -> dict[str, NumberState]:
        """Every number's state (all the namespace ever held), or `e164s`'. READ_CHUNK
        numbers a call: one function over a big pool would hold Redis, and every other
        worker's acquire, for all of it (100,000 numbers: ~1.2 s). Each number is read
        atomically; the numbers of different calls are moments apart."""
        rows: list[Any] = []
        if e164s is None:
            # A call for no number first: if Redis lost the namespace, it is restored
            # before the list of its numbers is read.
            self._call("numbers", *ARGUMENTS["numbers"].pack((), now=self._now(now)))
            with _mapped_errors("numbers"):
                listed = self._client.sscan_iter(f"{{{self.namespace}}}:numbers", count=READ_CHUNK)
                wanted = sorted({_text(e164) for e164 in listed})
        else:
            wanted = list(e164s)
        for start in range(0, len(wanted), READ_CHUNK):
            chunk = tuple(wanted[start : start + READ_CHUNK])
            reply = self._call("numbers", *ARGUMENTS["numbers"].pack(chunk, now=self._now(now)))
            rows.extend(_rows(reply, NUMBERS, NUMBERS_ROW))
        states = {}
        for row in sorted(rows, key=lambda r: _text(r.e164)):
            pairs = _text(row.calls).split()
            calls = {int(w) / _MICRO: int(n) for w, n in zip(pairs[::2], pairs[1::2], strict=True)}
            states[_text(row.e164)] = NumberState(
                int(row.in_use), int(row.inbound), calls, _text(row.status)
            )
        return states

    def in_use(self, e164: str, now: float) -> int:
        state = self.numbers(now, (e164,)).get(e164)
        return 0 if state is None else state.in_use

    def next_expiry(self, now: float) -> float | None:
        """On the caller's clock: the server's answer shifted by the clocks' offset."""
        reply = self._call("next_expiry", *ARGUMENTS["next_expiry"].pack(now=self._now(now)))
        server_now, expiry = int(reply[NEXT_EXPIRY.now]), int(reply[NEXT_EXPIRY.expiry])
        if expiry < 0:
            return None
        return now + (expiry - server_now) / _MICRO

    def check(self, now: float, repair: bool) -> list[Finding]:
        """Also reports a server that may evict keys, and restores the settings of this
        process's numbers that Redis lost."""
        problem = self._eviction_problem()
        eviction = [] if problem is None else [Finding(None, problem, False)]
        findings = self._check(now, repair)
        lost = [f for f in findings if f.problem == SETTINGS_LOST and f.number in self._stamps]
        if not (repair and lost):
            return eviction + findings
        with _mapped_errors("check"), self._view_lock:
            self._sync(self._now(now))  # writes them back, and every process learns of it
        restored = [f._replace(repaired=True) for f in lost]
        kept = [f for f in findings if f not in lost]
        return eviction + kept + restored + self._check(now, repair)  # restored counters

    def _unconfigured(self) -> str:
        """Why the namespace reads as unconfigured to a checker."""
        with _mapped_errors("check"):
            older = self._client.hexists(self._cfg, "order")  # its policy before numsim wrote it
        if older:  # as one field ("policy")
            return (
                f"namespace {self.namespace!r} was configured by an older numsim: start an "
                "allocator of this version on it (it writes its policy) before checking it"
            )
        return f"namespace {self.namespace!r} has no configuration (empty or lost)"

    def _check(self, now: float, repair: bool) -> list[Finding]:
        args = ARGUMENTS["check"].pack(
            tuple(self._stamps), now=self._now(now), repair="1" if repair else "0"
        )
        if self._policy is None:  # a checker that serves no allocator: nothing to restore
            with _mapped_errors("check"):
                reply = self._run("check", args)
            if _namespace_lost(reply):
                return [Finding(None, self._unconfigured(), False)]
        else:
            reply = self._call("check", *args)
        return [
            Finding(_text(row.number) or None, _text(row.problem), int(row.repaired) == 1)
            for row in _rows(reply, CHECKED, FINDING)
        ]

    def stats(self) -> dict[str, int]:
        with _mapped_errors("stats"):
            raw = self._client.hgetall(f"{{{self.namespace}}}:stats")
        stats = {_text(k): int(v) for k, v in raw.items()}
        for name in ("acquired", "released", "expired"):
            stats.setdefault(name, 0)
        return stats

    def audit_log(self) -> list[dict[str, str]]:
        """The audit stream (with audit=True): op, number, lease, t (server microseconds)."""
        with _mapped_errors("audit_log"):
            entries = self._client.xrange(f"{{{self.namespace}}}:audit") or []
        return [{_text(k): _text(v) for k, v in (fields or {}).items()} for _, fields in entries]

    # -- internals ----------------------------------------------------------------------

    def _call(self, name: str, *args: ScriptArg) -> list[Any]:
        """Run a script; give back the leases of acquires whose replies were lost, and
        sync this process's view of the pools with the namespace's first if their
        view is stale (re-creating the namespace if Redis lost it)."""
        try:  # not `with _mapped_errors`: a generator context costs ~1 us per call
            if self._orphans:
                self._release_orphans(args[ARGUMENTS[name].at["now"]])
            for _ in range(_SYNC_TRIES):
                synced = self._syncs
                reply = self._run(name, args)
                if not _namespace_lost(reply):
                    return reply
                self._sync_once(args[ARGUMENTS[name].at["now"]], synced)
                args = self._with_view(name, args)
        except _ERRORS as error:
            raise _mapped(error, name) from error
        raise self._kept_changing(name)

    async def _acall(self, name: str, *args: ScriptArg) -> list[Any]:
        """_call over the asyncio client; the rare sync runs off the event loop."""
        with _mapped_errors(name):
            if self._orphans:
                await self._arelease_orphans(args[ARGUMENTS[name].at["now"]])
            for _ in range(_SYNC_TRIES):
                synced = self._syncs
                reply = await self._arun(name, args)
                if not _namespace_lost(reply):
                    return reply
                now = args[ARGUMENTS[name].at["now"]]
                await asyncio.to_thread(self._sync_once, now, synced)
                args = self._with_view(name, args)
        raise self._kept_changing(name)

    def _run(self, name: str, args: Sequence[ScriptArg]) -> list[Any]:
        reply: list[Any] = self._functions[name](keys=(self._cfg,), args=args)
        return reply

    async def _arun(self, name: str, args: Sequence[ScriptArg]) -> list[Any]:
        if self._async_client is None:
            raise BackendMisconfigured(
                "this RedisBackend was given a client but no asyncio client: pass "
                "async_client= a redis.asyncio.Redis (for a cluster, a "
                "redis.asyncio.cluster.RedisCluster), or give it a URL, which makes both"
            )
        reply: list[Any] = await self._functions[name].acall(self._async_client, self._cfg, args)
        return reply

    def _configure(self) -> None:
        policy = self._policy
        if policy is None:
            raise RuntimeError("RedisBackend.configure() must be called first")
        limit = policy.destination_limit
        given: dict[str, Any] = {
            "order": policy.order,
            "ttl": int(policy.lease_ttl * _MICRO),
            "dmax": 0 if limit is None else limit.max_calls,
            "dper": 0 if limit is None else int(limit.per_seconds * _MICRO),
            "sticky": int((policy.sticky_ttl or 0) * _MICRO),
            "audit": "1" if self._audit else "0",
            "skew": self._skew,
        }
        args = ARGUMENTS["configure"].pack(
            **given,
            era=uuid.uuid4().hex,  # the era, if the namespace is new
            replace="1" if self._replace_policy else "0",
        )
        with _mapped_errors("configure"):
            reply = self._run("configure", args)
        if int(reply[CONFIGURED.ok]) == 0:
            stored = dict(zip(POLICY_FIELDS, _text(reply[CONFIGURED.policy]).split(), strict=False))
            raise BackendMisconfigured(
                f"Redis namespace {self.namespace!r} is used with another policy; "
                + _policy_differences({k: str(v) for k, v in given.items()}, stored)
                + ". Give every worker of a namespace the same settings, or pass "
                "RedisBackend(..., replace_policy=True) (numsim serve --replace-policy) to "
                "replace the stored policy (every worker then runs under the new one)"
            )

    def _sync_once(self, now: ScriptArg, synced: int) -> None:
        """Sync, unless another thread did since this one's call (`synced`)."""
        with self._view_lock:
            if self._syncs == synced:
                self._sync(now)

    def _sync(self, now: ScriptArg) -> None:
        """Bring this process's view of the pools and the namespace's up to date with each
        other, number by number, the later change winning (restamp in common.lua): the
        view takes the namespace's newer changes, the namespace takes the view's. Runs
        when the view is stale: Redis lost the namespace (it is re-created here) or came
        back from an older snapshot without some of this process's changes, or another
        process's sync wrote to it. A sync that writes moves the pools to a new era, so
        that every process, this one too, syncs again and learns what it wrote. A sync
        cut short leaves the era unlearnt, so it is done again."""
        stored = self._pull()
        if stored is None:
            log.warning("Redis namespace %s lost its state; restoring its pools", self.namespace)
            self._configure()
            stored = self._pull()
        if stored is None:  # lost again meanwhile: the caller's next try syncs again
            return
        era, self._writes, records = stored
        for e164, (stamp, record) in records.items():
            if stamp > self._stamps.get(e164, _NEVER):
                self._stamps[e164] = stamp
                if record is None:
                    self._numbers.pop(e164, None)
                else:
                    self._numbers[e164] = record
        newer = [e for e, stamp in self._stamps.items() if stamp > records.get(e, (_NEVER,))[0]]
        if self._write_numbers(now, sorted(newer, key=self._stamps.__getitem__)):
            self._run("era", ARGUMENTS["era"].pack(era=uuid.uuid4().hex))
        else:
            self._era = era
        self._syncs += 1

    def _pull(self) -> tuple[str, int, dict[str, tuple[Stamp, _Record | None]]] | None:
        """The pools' era, how many of this process's changes Redis holds, and every
        number's last pool change, read in chunks; None if the namespace is lost. The era
        is the first chunk's: if a sync moves it meanwhile, the next call syncs again."""
        era, writes, cursor, records = None, 0, "0", {}
        while True:
            reply = self._run("pool", ARGUMENTS["pool"].pack(cursor=cursor, token=self._token))
            if _namespace_lost(reply):
                return None
            era, writes = era or _text(reply[POOL.era]), int(reply[POOL.writes])
            cursor = _text(reply[POOL.cursor])
            for row in _rows(reply, POOL, POOL_ROW):
                e164, stamp, by, active = map(_text, (row.e164, row.stamp, row.by, row.active))
                spec = NumberSpec(e164, int(row.capacity), _caps_from(_text(row.caps)))
                record = (spec, _groups(_text(row.groups))) if active == "1" else None
                records[e164] = ((int(stamp), by), record)
            if cursor == "0":
                return era, writes, records

    def _write_numbers(self, now: ScriptArg, numbers: Sequence[str]) -> bool:
        """Write numbers' last changes as this process knows them, with their stamps, in
        pipelines (a restore may write thousands), bypassing _call's sync: syncs run
        inside it. A write that a newer change beats writes nothing. True if one wrote."""
        if not numbers:
            return False
        _LIBRARY.load(self._client)  # a pipeline cannot load it again midway
        wrote = False
        for start in range(0, len(numbers), _WRITE_CHUNK):
            pipe = self._client.pipeline(transaction=False)
            for e164 in numbers[start : start + _WRITE_CHUNK]:
                (stamp, by), record = self._stamps[e164], self._numbers.get(e164)
                view: dict[str, Any] = {"token": by, "era": "", "writes": ""}  # a sync's write
                if record is None:
                    name = "drop_number"
                    args = self._change_args(name, now, stamp, e164=e164, **view)
                else:
                    name = "put_number"
                    args = self._number_args(name, now, stamp, *record, **view)
                pipe.fcall(self._functions[name].name, 1, self._cfg, *args)
            replies = pipe.execute()
            wrote = any(int(reply[CHANGED.ok]) == 1 for reply in replies) or wrote
        return wrote

    def _changed(self, e164: str, reply: list[Any]) -> None:
        """A pool change of this process's is done: its stamp, and the count of this
        process's changes Redis now holds."""
        self._stamps[e164] = (int(reply[CHANGED.stamp]), self._token)
        self._writes = int(reply[CHANGED.writes])

    def _kept_changing(self, name: str) -> BackendUnavailable:
        return BackendUnavailable(
            f"Redis namespace {self.namespace!r} kept changing while this process synced "
            f"its pools ({name}); try again"
        )

    def _with_view(self, name: str, args: tuple[ScriptArg, ...]) -> tuple[ScriptArg, ...]:
        """A script's arguments with this process's view as it is now, for a call made
        again after a sync."""
        view: dict[str, ScriptArg] = {"era": self._era, "writes": self._writes}
        names = ARGUMENTS[name].names
        return (
            *(view.get(field, arg) for field, arg in zip(names, args, strict=False)),
            *args[len(names) :],
        )

    def _check_eviction(self) -> None:
        """Refuse (or warn about) a server that may evict keys."""
        problem = self._eviction_problem()
        if problem is None:
            return
        if self._allow_eviction:
            log.warning(problem)
            return
        raise BackendMisconfigured(
            problem + ", or pass RedisBackend(..., allow_eviction=True) to accept the risk"
        )

    def _eviction_problem(self) -> str | None:
        """What is wrong with the server's eviction policy, or None."""
        try:  # on every primary of a cluster
            replies = [
                run("CONFIG GET", "maxmemory-policy") for run in clients.primaries(self._client)
            ]
        except ResponseError:  # CONFIG is disabled on some managed services
            log.warning(
                "cannot read Redis maxmemory-policy here; make sure it is noeviction, "
                "or evicted windows and leases will break caps and capacity"
            )
            return None
        except _UNREACHABLE:
            return None  # the first script call says the server is unreachable
        policies = {_text(v) for reply in replies for v in reply.values()} - {"noeviction"}
        if not policies:
            return None
        policy = " and ".join(sorted(policies))
        return (
            f"Redis maxmemory-policy is {policy}: the server may evict numsim's windows and "
            "leases, and caps and capacity would no longer hold. Set it to noeviction "
            "(CONFIG SET maxmemory-policy noeviction, and in redis.conf)"
        )

    @contextlib.contextmanager
    def _orphaned_if_lost(self, lease_id: str) -> Iterator[None]:
        """An acquire that failed or was cancelled on the way may still run on the
        server: remember its lease id, to give it back (or void it, if the acquire has
        not run yet) once Redis answers again."""
        try:
            yield
        except BaseException:
            self._orphans.add(lease_id)
            raise

    def _give_back_soon(self, now: ScriptArg) -> None:
        """Give back the orphaned leases in a task of their own (a cancelled caller
        cannot wait); on failure they stay orphans, for the next call."""

        async def give_back() -> None:
            with contextlib.suppress(Exception):
                await self._arelease_orphans(now)

        task = asyncio.get_running_loop().create_task(give_back())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _release_orphans(self, now: ScriptArg) -> None:
        for lease_id in list(self._orphans):
            self._run("release", _RELEASE.pack(now=now, id=lease_id, number=""))
            self._orphans.discard(lease_id)

    async def _arelease_orphans(self, now: ScriptArg) -> None:
        for lease_id in list(self._orphans):
            await self._arun("release", _RELEASE.pack(now=now, id=lease_id, number=""))
            self._orphans.discard(lease_id)

    def _acquire_args(
        self,
        template: str,
        groups: Sequence[str],
        destination: str,
        now: float,
        lease_id: str,
        ttl: float | None,
        sticky: bool,
        explain: bool,
    ) -> tuple[ScriptArg, ...]:
        pick = repr(self._random.random()) if self._random_order else "0"
        return _ACQUIRE.pack(
            tuple(groups),
            now=self._now(now),
            template=template,
            destination=destination,
            id=lease_id,
            ttl=_ttl_arg(ttl),
            flags=_FLAGS[sticky, explain],
            random=pick,
            era=self._era,
        )

    def _outcome(
        self,
        reply: list[Any],
        template: str | None,
        destination: str | None,
        call_id: str | None,
    ) -> Lease | Refusal:
        outcome = self._granted(reply, destination)
        return outcome if isinstance(outcome, Refusal) else lease_of(outcome, template, call_id)

    def _granted(self, reply: list[Any], destination: str | None) -> Grant | Refusal:
        """An acquire's reply: the lease granted, or the refusal."""
        if int(reply[GRANTED.ok]) == 1:
            lease_id, number = _text(reply[GRANTED.id]), _text(reply[GRANTED.number])
            return lease_id, number, destination, int(reply[GRANTED.expires]) / _MICRO
        reason, retry_at = _text(reply[REFUSED.reason]), int(reply[REFUSED.retry_at])
        now = int(reply[REFUSED.now]) / _MICRO
        statuses = None
        if len(reply) > len(REFUSED) or reason == "empty_pool":
            statuses = {_text(r.number): _text(r.status) for r in _rows(reply, REFUSED, STATUS)}
        return Refusal(reason, None if retry_at < 0 else retry_at / _MICRO, now, statuses)

    def _change_args(
        self,
        name: str,
        now: ScriptArg,
        stamp: ScriptArg,
        rest: tuple[str, ...] = (),
        /,
        **fields: Any,
    ) -> tuple[ScriptArg, ...]:
        """A pool change's arguments: with this process's view, unless `fields` give one."""
        view = {"token": self._token, "era": self._era, "writes": self._writes}
        return ARGUMENTS[name].pack(rest, now=now, stamp=stamp, **(view | fields))

    def _number_args(
        self,
        name: str,
        now: ScriptArg,
        stamp: ScriptArg,
        spec: NumberSpec,
        groups: Mapping[str, Sequence[str]],
        /,
        **view: Any,
    ) -> tuple[ScriptArg, ...]:
        names = tuple(
            f"{template}|{group}" for template, items in groups.items() for group in items
        )
        number = {"e164": spec.e164, "capacity": spec.capacity, "caps": _caps_text(spec.caps)}
        return self._change_args(name, now, stamp, names, **number, **view)

    def _now(self, now: float) -> ScriptArg:
        """The time argument of every script: "" lets the server use its own clock."""
        if not self._client_clock:
            return ""
        self._last_now = now
        return int(now * _MICRO)

    def _new_id(self) -> str:
        return f"{self._token}-{os.getpid()}-{next(self._ids)}"

    def _listen(self) -> None:
        """Call the listeners whenever any process frees a channel; survive restarts."""
        channel = f"{{{self.namespace}}}:freed"
        while not self._stopping.is_set():
            try:
                # redis-py leaves pubsub() untyped
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                self._pubsub = pubsub
                pubsub.subscribe(channel)
                while not self._stopping.is_set():
                    if pubsub.get_message(timeout=1.0) is not None:
                        self._notify()
                    self._renew_mark()
                    self._check_writes()
            except _UNREACHABLE:
                self._stopping.wait(0.5)  # Redis is down: try again shortly
            except Exception:
                if not self._stopping.is_set():  # a listener failed: keep serving the others
                    log.exception("a freed-channel listener failed")

    def _check_writes(self) -> None:
        """Every _WRITES_CHECK seconds, off the hot path: if Redis holds fewer of this
        process's pool changes than it made (it lost the namespace, or came back from an
        older snapshot), sync now, which writes them back: an idle process's removal must
        not wait for its next call while others hand the number out again."""
        now = time.monotonic()
        if now - self._writes_checked < _WRITES_CHECK:
            return
        self._writes_checked = now
        made = self._writes  # read first: a change made meanwhile reaches Redis before here
        if not made:
            return
        with contextlib.suppress(*_ERRORS):
            if int(self._client.hget(f"{{{self.namespace}}}:w", self._token) or 0) < made:
                self._era = ""  # if the sync fails, the next call syncs
                with contextlib.suppress(BackendUnavailable, BackendMisconfigured):
                    self._sync_once(self._now(self._last_now), self._syncs)

    def _renew_mark(self) -> None:
        """Renew this process's waiting mark, or take it off once nothing waited for
        _MARK_RENEW seconds; a failure leaves it for the next turn."""
        with self._lock:
            if self._marked_at is None:
                return
            now = time.monotonic()
            idle = now - self._expected[0] > _MARK_RENEW and not self._still_waiting()
            with contextlib.suppress(*_ERRORS):
                if idle:
                    self._mark(False)
                elif now - self._marked_at > _MARK_RENEW:
                    self._mark(True)

    def _mark(self, waiting: bool) -> None:
        """Put (or take off) this process's waiting mark; the caller holds _lock. On the
        caller's clock, moved on by the time since expect_frees (clock="client")."""
        since, now = self._expected
        ttl = int(_MARK_TTL * _MICRO) if waiting else ""
        clock = self._now(now + time.monotonic() - since)
        self._run("waiting", ARGUMENTS["waiting"].pack(now=clock, token=self._token, ttl=ttl))
        self._marked_at = time.monotonic() if waiting else None

    def _notify(self) -> None:
        for callback in self._listeners:
            callback()


@contextlib.contextmanager
def _mapped_errors(operation: str) -> Iterator[None]:
    """One mapping of redis-py's errors to numsim's, for every script call."""
    try:
        yield
    except _ERRORS as error:
        raise _mapped(error, operation) from error


def _mapped(error: BaseException, operation: str) -> Exception:
    """numsim's error for a redis-py error raised by `operation`."""
    if isinstance(error, redis.exceptions.MovedError):
        return BackendMisconfigured(
            "this Redis is a node of a Redis Cluster, and another node "
            f"({error.host}:{error.port}) serves the namespace: connect to the cluster "
            "with a redis+cluster://host:port URL or a redis.cluster.RedisCluster client"
        )
    if isinstance(error, ResponseError):
        if str(error).startswith("numsim: "):  # a script's own refusal names its fix
            return BackendMisconfigured(str(error)[len("numsim: ") :])
        return BackendUnavailable(f"Redis refused {operation}: {error}")
    return BackendUnavailable(f"Redis is unreachable ({operation}): {error}")


def _policy_differences(given: dict[str, str], stored: dict[str, str]) -> str:
    """The fields of two policies (as configure.lua writes them) that differ, named."""

    def seconds(us: str) -> str:
        return "none" if us == "0" else f"{int(us) / _MICRO:g} s"

    def limit(calls: str, per: str) -> str:
        if calls == "0":
            return "none"
        return f"{calls} call{'s' * (calls != '1')} per {int(per) / _MICRO:g} s"

    def read(p: dict[str, str]) -> dict[str, str]:
        return {
            "order": p["order"],
            "lease_ttl": seconds(p["ttl"]),
            "destination_limit": limit(p["dmax"], p["dper"]),
            "sticky_ttl": seconds(p["sticky"]),
            "audit": "on" if p["audit"] == "1" else "off",
            "max_clock_skew": "not checked" if p["skew"] == "0" else seconds(p["skew"]),
        }

    here, there = read(given), read(stored)
    return "; ".join(
        f"{name}: {here[name]} here, {there[name]} in Redis"
        for name in here
        if here[name] != there[name]
    )


def _groups(names: str) -> dict[str, list[str]]:
    """{template: [group, ...]} from a number's "template|group" lines."""
    groups: dict[str, list[str]] = {}
    for name in filter(None, names.split("\n")):
        template, _, group = name.partition("|")
        groups.setdefault(template, []).append(group)
    return groups


def _ttl_arg(ttl: float | None) -> ScriptArg:
    """A lease's time to live as a script takes it: microseconds, "" for the policy's."""
    return "" if ttl is None else int(ttl * _MICRO)


def _rows(reply: list[Any], header: Any, row: Any) -> Iterator[Any]:
    """A reply's rows after its header, each read by field."""
    width = len(row)
    for i in range(len(header), len(reply), width):
        yield type(row)._make(reply[i : i + width])


def _caps_text(caps: Sequence[Cap]) -> str:
    """A number's caps as put_number stores them: "reason window limit" rows, the
    window in microseconds (caps_of in common.lua reads them)."""
    return "\n".join(f"{reason} {int(window * _MICRO)} {limit}" for reason, window, limit in caps)


def _caps_from(text: str) -> tuple[Cap, ...]:
    """Caps as _caps_text writes them."""
    rows = (line.split() for line in text.splitlines())
    return tuple(Cap(reason, int(window) / _MICRO, int(limit)) for reason, window, limit in rows)


def _namespace_lost(reply: object) -> bool:
    return isinstance(reply, list) and bool(reply) and reply[0] == -1


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
