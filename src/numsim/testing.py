"""Helpers for tests, numsim's own and its users': a throwaway redis-server, and fake
provider APIs on loopback (`FakeTwilio`, `FakePlivo`, `FakeExotel`; see numsim.fakes).

with RedisServer.started() as server:
    backend = numsim.RedisBackend(server.url, namespace="my-test")
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
    ) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise FileNotFoundError("redis-server not found (apt-get install -y redis-server)")
        self.binary = found
        self.directory = Path(directory or tempfile.mkdtemp(prefix="numsim-redis-"))
        self.port = free_port()
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

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)  # a paused server cannot terminate
            self._process.terminate()
            self._process.wait(10)
            self._process = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def __getattr__(name: str) -> object:
    if name in ("FakeTwilio", "FakePlivo", "FakeExotel"):  # loaded when asked for
        from . import fakes

        return getattr(fakes, name)
    raise AttributeError(f"module 'numsim.testing' has no attribute {name!r}")
