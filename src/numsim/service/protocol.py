"""Read timeouts for `numsim serve`: uvicorn's h11 protocol with a deadline for a
request's headers and an idle limit while its body arrives.

uvicorn closes idle keep-alive connections, but holds a connection whose request
is half sent for as long as the client likes: a few thousand such connections
tie up the service. Here a request's headers must be complete `header_timeout`
seconds after its first byte (or the connection's opening), and its body may
pause no longer than `body_timeout` seconds; else the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..validation import finite

DEFAULT_READ_TIMEOUT = 10.0  # seconds


class TimedH11Protocol(H11Protocol):
    header_timeout: float = DEFAULT_READ_TIMEOUT
    body_timeout: float = DEFAULT_READ_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._cancel()
            self._arm(self.body_timeout)  # an idle limit: every chunk starts it again
        elif state is h11.IDLE:
            if self._read_timer is None:  # headers begun: their deadline runs from here
                self._arm(self.header_timeout)
        else:
            self._cancel()  # the request is in: the app's time is not ours to limit

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._read_timer = self.loop.call_later(seconds, self._read_timed_out)

    def _cancel(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def timed_protocol(seconds: float) -> type[TimedH11Protocol]:
    """The protocol class for uvicorn's `http=` with both timeouts set to `seconds`."""
    finite("the read timeout", seconds, inclusive=False)
    return type(
        "TimedH11Protocol",
        (TimedH11Protocol,),
        {"header_timeout": seconds, "body_timeout": seconds},
    )
