"""The Redis clients a RedisBackend talks through: built from a URL (one server, or a
Redis Cluster), and a command sent to every primary (the function library must be on
each primary that serves a namespace).

A Redis Cluster URL is redis+cluster://host:port[,host:port...][?options] (rediss+cluster
for TLS): any reachable node finds the others, as `limits` spells it. redis-py has no
cluster scheme of its own; RedisCluster.from_url takes redis:// and asks the user to
know which class to build, which a URL given to `numsim serve --redis` cannot say.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
import redis.connection

from ..errors import BackendUnavailable

SyncClient = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
_SCHEMES = ("redis", "rediss", "unix", *_CLUSTER_SCHEMES)
_TIMEOUTS: dict[str, Any] = {"socket_timeout": 5.0, "socket_connect_timeout": 2.0}


def from_url(url: str) -> tuple[SyncClient, AsyncClient]:
    """A client and its asyncio twin for `url`: a Redis Cluster's for a cluster URL."""
    scheme = urlsplit(url).scheme  # messages name no more of the URL: it may hold a password
    if scheme not in _SCHEMES:
        raise ValueError(
            f"a Redis URL starts with {', '.join(s + '://' for s in _SCHEMES)}; "
            f"got {scheme + '://' if scheme else 'no scheme'}"
        )
    if scheme not in _CLUSTER_SCHEMES:
        return (
            redis.Redis.from_url(url, **_TIMEOUTS),
            redis.asyncio.Redis.from_url(url, **_TIMEOUTS),
        )
    first, others = _seeds(url)
    options = redis.connection.parse_url(first)  # type: ignore[no-untyped-call]
    if options.get("db", 0) != 0:
        raise ValueError("a Redis Cluster has one database, 0: drop the /db from the URL")
    try:
        return (
            redis.cluster.RedisCluster.from_url(
                first,
                startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in others],  # type: ignore[no-untyped-call]
                **_TIMEOUTS,
            ),
            redis.asyncio.cluster.RedisCluster.from_url(
                first,
                startup_nodes=[redis.asyncio.cluster.ClusterNode(h, p) for h, p in others],
                **_TIMEOUTS,
            ),
        )
    except redis.exceptions.RedisClusterException as error:  # the sync client connects now
        raise BackendUnavailable(f"no node of the Redis Cluster answers: {error}") from None


def _seeds(url: str) -> tuple[str, list[tuple[str, int]]]:
    """The first node's redis:// URL (with the credentials and options), and the other
    nodes named in a cluster URL's comma-separated host list."""
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    first, *others = hosts.split(",")
    seeds = []
    for other in others:
        host, _, port = other.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a Redis Cluster URL names nodes as host:port; got {other!r}")
        seeds.append((host, int(port)))
    netloc = f"{credentials}@{first}" if credentials else first
    scheme = _CLUSTER_SCHEMES[parts.scheme]
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment)), seeds


def is_cluster(client: object) -> bool:
    return isinstance(client, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster)


def primaries(client: SyncClient) -> list[Callable[..., Any]]:
    """execute_command on each primary (one server: itself). redis-py's own PRIMARIES
    target stops at the first node's error: one primary that has the library would keep
    it from the others."""
    if isinstance(client, redis.cluster.RedisCluster):
        nodes = client.get_primaries()  # type: ignore[no-untyped-call]
        return [partial(client.execute_command, target_nodes=node) for node in nodes]
    return [client.execute_command]


async def aprimaries(client: AsyncClient) -> list[Callable[..., Awaitable[Any]]]:
    """primaries() of an asyncio client (which learns a cluster's nodes lazily)."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        await client.initialize()
        nodes = client.get_primaries()
        return [partial(client.execute_command, target_nodes=node) for node in nodes]
    return [client.execute_command]


def fcall(client: SyncClient, function: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """FCALL; on a cluster sent straight to the node serving the keys' slot: redis-py
    would ask a server for an FCALL's keys first (COMMAND GETKEYS), a second round trip
    that doubled an acquire's cost. A MOVED reply still finds the slot's new node."""
    if isinstance(client, redis.cluster.RedisCluster):
        node = client.get_node_from_key(keys[0])  # type: ignore[no-untyped-call]
        command = ("FCALL", function, len(keys), *keys, *args)
        return client.execute_command(*command, target_nodes=node)  # type: ignore[no-untyped-call]
    return client.fcall(function, len(keys), *keys, *args)


async def afcall(
    client: AsyncClient, function: str, keys: Sequence[str], args: Sequence[Any]
) -> Any:
    """fcall() over an asyncio client."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        await client.initialize()  # learns the slots once
        node = client.get_node_from_key(keys[0])
        return await client.execute_command(
            "FCALL", function, len(keys), *keys, *args, target_nodes=node
        )
    return await client.fcall(function, len(keys), *keys, *args)


def fcall_replicated(
    client: SyncClient,
    function: str,
    keys: Sequence[str],
    args: Sequence[Any],
    replicas: int,
    timeout: float,
) -> tuple[Any, int]:
    """FCALL, then WAIT for `replicas` replicas (at most `timeout` seconds) on the same
    connection, in one round trip: WAIT covers the writes of its own connection only.
    The reply and how many replicas acknowledged the write."""
    target = _target(client, keys[0])
    pipe = client.pipeline(transaction=False)
    pipe.execute_command("FCALL", function, len(keys), *keys, *args, **target)
    pipe.execute_command("WAIT", replicas, max(1, int(timeout * 1000)), **target)
    reply, acknowledged = pipe.execute()
    return reply, int(acknowledged)


async def afcall_replicated(
    client: AsyncClient,
    function: str,
    keys: Sequence[str],
    args: Sequence[Any],
    replicas: int,
    timeout: float,
) -> tuple[Any, int]:
    """fcall_replicated() over an asyncio client."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        await client.initialize()
    target = _target(client, keys[0])
    pipe = client.pipeline(transaction=False)
    pipe.execute_command("FCALL", function, len(keys), *keys, *args, **target)
    pipe.execute_command("WAIT", replicas, max(1, int(timeout * 1000)), **target)
    reply, acknowledged = await pipe.execute()
    return reply, int(acknowledged)


def _target(client: SyncClient | AsyncClient, key: str) -> dict[str, Any]:
    """execute_command's arguments that send a command to the node serving `key`."""
    if is_cluster(client):
        return {"target_nodes": client.get_node_from_key(key)}  # type: ignore[union-attr]
    return {}
