"""Request body size limits, as ASGI middleware: a client cannot make the service
buffer more than it allows (413, before or while reading)."""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .asgi import send_error

DEFAULT_LIMIT = 64 * 1024  # JSON bodies and webhooks are small
IMPORT_LIMIT = 64 * 1024 * 1024  # a bulk import: about 500,000 CSV rows
# Bulk bodies get the import limit: an import, and a template's whole pool (a pool of
# 5,000 numbers is ~80 KB of JSON). Matched at the end: the app may be mounted.
BULK = re.compile(r"(?:/numbers/import|/templates/.+/numbers)$")


class BodyTooLarge(HTTPException):
    """An HTTPException, so a route reading the body answers 413 itself."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _message(limit))


class BodyLimit:
    def __init__(
        self, app: ASGIApp, limit: int = DEFAULT_LIMIT, import_limit: int = IMPORT_LIMIT
    ) -> None:
        self.app = app
        self.limit = limit
        self.import_limit = import_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.import_limit if BULK.search(scope["path"]) else self.limit
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _refuse(send, limit)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    await send_error(send, 413, _message(limit))


def _message(limit: int) -> str:
    return f"request body too large (limit {limit:,} bytes)"
