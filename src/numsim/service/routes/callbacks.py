"""Provider webhooks: status callbacks and inbound calls, verified and applied through
the Dialer. A callback that does not verify gets 403 and changes nothing.

Signatures cover the URL the provider called, which a reverse proxy rewrites: the
service rebuilds it from its configured public base URL, else (if told to trust the
proxy) from X-Forwarded-Proto / X-Forwarded-Host, else from the request itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ...numbers import Provider
from ...providers.errors import InvalidCallback
from ..auth import own_path
from ..state import Service

router = APIRouter(prefix="/callbacks", tags=["provider webhooks"])


@router.post("/{provider}/status")
async def status_callback(request: Request, provider: Provider) -> dict[str, Any]:
    """A call's status callback: a terminal status frees its channel (once)."""
    service: Service = request.app.state.numsim
    event = await _handle(request, provider, service.dialer.handle_callback)
    return {"call_id": event.call_id, "status": event.status.value, "terminal": event.terminal}


@router.post("/{provider}/inbound")
async def inbound_call(request: Request, provider: Provider) -> dict[str, Any]:
    """An inbound call: it occupies a channel of the called number until its terminal
    status callback or its lease's expiry."""
    service: Service = request.app.state.numsim
    lease = await _handle(request, provider, service.dialer.handle_inbound)
    return {"number": lease.number, "call_id": lease.call_id}


async def _handle(request: Request, provider: Provider, handler: Callable[..., Any]) -> Any:
    body = await request.body()
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        params = {}
    url = public_url(request)
    service: Service = request.app.state.numsim
    try:
        return await run_in_threadpool(handler, provider, url, params, request.headers)
    except InvalidCallback:
        service.metrics.callback_failure(provider.value)
        raise


def public_url(request: Request) -> str:
    """The URL the provider called, query included."""
    query = f"?{request.url.query}" if request.url.query else ""
    return base_url(request) + own_path(request.scope) + query


def base_url(request: Request) -> str:
    """The URL providers reach this app at (no trailing slash): the configured public
    URL, else (behind a trusted proxy) the forwarded one, else the request's own."""
    base: str | None = request.app.state.public_url
    if base:
        return base.rstrip("/")
    root: str = request.scope.get("root_path", "")
    if request.app.state.trust_proxy:
        proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0]
        host = request.headers.get("x-forwarded-host", request.url.netloc).split(",")[0]
        return f"{proto.strip()}://{host.strip()}{root}".rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}{root}".rstrip("/")
