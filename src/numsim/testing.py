"""Helpers for tests, numsim's own and its users': a throwaway redis-server, a replica
of one, a throwaway Redis Cluster, and fake provider APIs on loopback (`FakeTwilio`,
`FakePlivo`, `FakeExotel`; see numsim.fakes).

with RedisServer.started() as server:
    backend = numsim.RedisBackend(server.url, namespace="my-test")

with RedisServerCluster.started() as cluster:  # 3 masters on loopback
    backend = numsim.RedisBackend(cluster.url, namespace="my-test")
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


class RedisServer:
    """A redis-server on 127.0.0.1, on a free port, without persistence.

    `stop()` and `start()` again keep the port: a restart, as a crashed Redis
    would have one."""

    def __init__(
        self,
        binary: str | None = None,
        directory: str | Path | None = None,
        options: Sequence[str] = (),
        port: int | None = None,
    ) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise FileNotFoundError("redis-server not found (apt-get install -y redis-server)")
        self.binary = found
        self.directory = Path(directory or tempfile.mkdtemp(prefix="numsim-redis-"))
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.options = tuple(options)  # more redis-server arguments, e.g. ("--maxmemory", "1mb")
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    @contextlib.contextmanager
    def started(
        cls, binary: str | None = None, options: Sequence[str] = ()
    ) -> Iterator[RedisServer]:
        server = cls(binary, options=options)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    @contextlib.contextmanager
    def replica(self) -> Iterator[RedisServer]:
        """A replica of this server (--replicaof), started and in sync when the block
        begins, stopped when it ends. `promote()` makes it a primary, as a failover does."""
        _cli(self.port, "config", "set", "repl-diskless-sync-delay", "0")  # sync at once
        replica = RedisServer(self.binary, options=("--replicaof", "127.0.0.1", str(self.port)))
        replica.start()
        try:
            _wait_for(replica, "info replication", "master_link_status:up")
            yield replica
        finally:
            replica.stop()

    def promote(self) -> None:
        """Make this replica a primary (REPLICAOF NO ONE)."""
        _cli(self.port, "replicaof", "no", "one")

    def pause(self) -> None:
        """Stall the server (SIGSTOP): connections open and commands queue unanswered,
        as on an overloaded host. `resume()` lets it go on."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    @contextlib.contextmanager
    def stalled(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def kill(self) -> None:
        """Crash the server (SIGKILL): unlike stop(), it sends its replicas nothing more."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)  # a paused server cannot terminate
            self._process.terminate()
            self._process.wait(10)
            self._process = None


class RedisServerCluster:
    """A Redis Cluster of `masters` redis-servers on 127.0.0.1 (no replicas, no
    persistence), the hash slots split evenly by `redis-cli --cluster create`.

    `url` is numsim's cluster URL (redis+cluster://127.0.0.1:port); `nodes` are the
    RedisServers, each of which can be stopped and started again (it keeps its port and
    its slots, and comes back empty, as a node restarted without persistence)."""

    def __init__(self, masters: int = 3, binary: str | None = None) -> None:
        if masters < 3:
            raise ValueError(f"a Redis Cluster needs at least 3 masters, got {masters}")
        options = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
        self.nodes = [
            RedisServer(binary, options=options, port=cluster_port()) for _ in range(masters)
        ]
        self.url = f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    @classmethod
    @contextlib.contextmanager
    def started(cls, masters: int = 3, binary: str | None = None) -> Iterator[RedisServerCluster]:
        cluster = cls(masters, binary)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        _cli(None, "--cluster", "create", *addresses, "--cluster-yes")
        self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until every node sees every slot served (after a start or a restart)."""
        for node in self.nodes:
            _wait_for(node, "cluster info", "cluster_state:ok")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _cli(port: int | None, *args: str) -> str:
    """`redis-cli` against 127.0.0.1:port (no port: the arguments name the nodes)."""
    binary = shutil.which("redis-cli")
    if binary is None:
        raise FileNotFoundError("redis-cli not found (apt-get install -y redis-tools)")
    where = [] if port is None else ["-h", "127.0.0.1", "-p", str(port)]
    done = subprocess.run([binary, *where, *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"redis-cli {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


def _wait_for(server: RedisServer, command: str, line: str, seconds: float = 20.0) -> None:
    """Wait until `command`'s reply on `server` holds `line`."""
    deadline = time.monotonic() + seconds
    while line not in _cli(server.port, *command.split()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {server.port}: no {line!r} in {command}")
        time.sleep(0.05)


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too, and below 65536."""
    for _ in range(1000):
        port = free_port()
        if port + 10000 < 65536:
            with contextlib.suppress(OSError), socket.socket() as probe:
                probe.bind(("127.0.0.1", port + 10000))
                return port
    raise RuntimeError("no free port with a free cluster bus port (port + 10000)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def __getattr__(name: str) -> object:
    if name in ("FakeTwilio", "FakePlivo", "FakeExotel"):  # loaded when asked for
        from . import fakes

        return getattr(fakes, name)
    raise AttributeError(f"module 'numsim.testing' has no attribute {name!r}")
