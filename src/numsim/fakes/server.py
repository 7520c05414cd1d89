"""FakeServer: what every fake provider shares. A threaded HTTP server on a free
127.0.0.1 port, the requests it saw, Basic auth, and scripted faults."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any, dict[str, str]]  # status, JSON body (None: empty), headers
S = TypeVar("S", bound="FakeServer")


@dataclass
class Fault:
    """What the next request gets instead of its answer."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    create: bool = False  # a call creation still creates the call
    drop: bool = False  # close the connection without an answer


@dataclass(frozen=True)
class Seen:
    """One request the fake received: its method, path, query and form or JSON body."""

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]


class FakeServer:
    """Subclasses answer with `route()`; `url` is the base URL to give an adapter."""

    def __init__(self, account: str, token: str, user: str | None = None) -> None:
        self.account = account
        self.token = token
        self.user = user or account  # Basic auth's user name (Exotel: the API key)
        self.requests: list[Seen] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @classmethod
    @contextlib.contextmanager
    def started(cls: type[S], *args: Any, **kwargs: Any) -> Iterator[S]:
        fake = cls(*args, **kwargs)
        fake.start()
        try:
            yield fake
        finally:
            fake.stop()

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def route(self, seen: Seen) -> Answer:
        """The provider's answer to an authenticated request (and its effect)."""
        raise NotImplementedError

    def unauthorized(self) -> Answer:
        """The provider's answer to a request with the wrong credentials."""
        raise NotImplementedError

    def answer(self, seen: Seen, auth: str) -> tuple[Answer, bool]:
        """(the answer, whether to drop the connection instead) for one request."""
        with self._lock:
            self.requests.append(seen)
            fault = self._faults.pop(0) if self._faults else None
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        if auth != expected:
            return self.unauthorized(), False
        if fault is None:
            return self.route(seen), False
        if fault.create:
            self.route(seen)  # acted on, and its answer lost
        return (fault.status, fault.body, fault.headers), fault.drop


def _handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            body: dict[str, Any]
            if self.headers.get("Content-Type", "").startswith("application/json"):
                body = json.loads(raw or "{}")
            else:
                body = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            seen = Seen(self.command, parts.path, query, body)
            (status, answer, headers), drop = fake.answer(
                seen, self.headers.get("Authorization", "")
            )
            if drop:
                self.close_connection = True
                self.connection.close()
                return
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests read `fake.requests`

    return Handler
