"""Provider webhooks: status callbacks and inbound calls, verified and applied through
the Dialer. A callback that does not verify gets 403 and changes nothing.

Signatures cover the URL the provider called, which a reverse proxy rewrites: the
service rebuilds it from its configured public base URL, else (if told to trust the
proxy) from X-Forwarded-Proto / X-Forwarded-Host, else from the request itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartException

from ...allocator import NoNumberAvailable
from ...dialer import Dialer
from ...errors import UnknownNumberError
from ...numbers import Provider
from ...providers.errors import InvalidCallback
from .. import markup
from ..auth import own_path
from ..models import InboundOut, answers
from ..state import Service

log = logging.getLogger("numsim.service")

router = APIRouter(prefix="/callbacks", tags=["provider webhooks"])
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
# numsim's own fields in a webhook's URL, not the provider's call fields.
OWN_FIELDS = frozenset({"numsim_call", "numsim_sig"})


STATUS_ANSWERS = answers(403, 503)
# An inbound call is answered in its provider's format (TwiML, Plivo XML; Exotel's
# Passthru reads the status: 200 goes on, 302 is busy), or JSON for a client asking so.
MARKUP = {"schema": {"type": "string"}}
INBOUND_ANSWERS: dict[int | str, dict[str, Any]] = {
    **answers(403, 409, 429, 503),
    200: {
        "description": "go on to the inbound URL (or to the busy URL), or reject as busy",
        "content": {
            markup.XML: MARKUP,
            "text/plain": MARKUP,
            "application/json": {"schema": {"$ref": "#/components/schemas/InboundOut"}},
        },
    },
    302: {"description": "Exotel: the number is busy (Location: the busy URL, if any)"},
}


@router.post("/{provider}/status", operation_id="status_callback", responses=STATUS_ANSWERS)
@router.get("/{provider}/status", operation_id="status_callback_get", responses=STATUS_ANSWERS)
async def status_callback(request: Request, provider: Provider) -> dict[str, Any]:
    """A call's status callback: a terminal status frees its channel (once). Form,
    multipart or JSON bodies, or (GET) query fields."""
    event = await _handle(request, provider, lambda dialer: dialer.handle_callback)
    return {"call_id": event.call_id, "status": event.status.value, "terminal": event.terminal}


@router.post(
    "/{provider}/inbound",
    operation_id="inbound_call",
    response_model=InboundOut,
    responses=INBOUND_ANSWERS,
)
@router.get(
    "/{provider}/inbound",
    operation_id="inbound_call_get",
    response_model=InboundOut,
    responses=INBOUND_ANSWERS,
)
async def inbound_call(request: Request, provider: Provider) -> Response:
    """An inbound call: it occupies a channel of the called number until its terminal
    status callback or its lease's expiry. Answered in the provider's format (TwiML,
    Plivo XML, an HTTP status for Exotel's Passthru): the call goes on to the inbound
    URL, or, when the number is busy, is rejected as busy or goes on to the busy URL.
    JSON for a client that asks for it (`Accept: application/json`)."""
    service: Service = request.app.state.numsim
    inbound: Inbound = request.app.state.inbound
    as_json = "application/json" in request.headers.get("accept", "")
    if inbound.answer_url is None and not as_json:
        log.warning("an inbound call was rejected: set numsim serve --inbound-url to take them")
        return markup.busy(provider, None)
    try:
        lease = await _handle(request, provider, lambda dialer: dialer.handle_inbound)
    except NoNumberAvailable:
        if as_json:
            raise
        return markup.busy(provider, inbound.busy_url)
    if as_json:
        return JSONResponse({"number": lease.number, "call_id": lease.call_id})
    templates = [t for t, pool in service.allocator.templates.items() if lease.number in pool]
    return markup.redirect(provider, inbound.answer_for(templates))


@dataclass(frozen=True)
class Inbound:
    """Where inbound calls go: `answer_url` when the number has a free channel, or
    `by_template[template]` for a number of that template; `busy_url` when it is full
    (None: rejected as busy)."""

    answer_url: str | None = None
    busy_url: str | None = None
    by_template: dict[str, str] = field(default_factory=dict)

    def answer_for(self, templates: list[str]) -> str:
        for template in sorted(templates):
            if template in self.by_template:
                return self.by_template[template]
        assert self.answer_url is not None  # create_app requires it with any by_template
        return self.answer_url


async def _handle(
    request: Request, provider: Provider, handler: Callable[[Dialer], Callable[..., Any]]
) -> Any:
    """Hand a webhook to `handler(dialer)`. One this process cannot place (a number or an
    account it had not read yet: another process added it since this one's last refresh)
    is tried once more after re-reading the registry, if that changed anything, or if the
    periodic refresh changed the accounts while the webhook was being checked."""
    params = await webhook_fields(request)
    url = public_url(request)
    service: Service = request.app.state.numsim

    def handle(dialer: Dialer) -> Any:
        return handler(dialer)(provider, url, params, request.headers, method=request.method)

    try:
        dialer = service.dialer
        try:
            return await run_in_threadpool(handle, dialer)
        except (InvalidCallback, UnknownNumberError):
            changed = await run_in_threadpool(service.refresh)
            if not changed and service.dialer is dialer:
                raise
        return await run_in_threadpool(handle, service.dialer)
    except InvalidCallback:
        service.metrics.callback_failure(provider.value)
        raise


async def webhook_fields(request: Request) -> dict[str, str]:
    """A webhook's fields, whatever the provider sent: a form (urlencoded or multipart),
    JSON (its top-level values as text), or, for GET, the query without numsim's own
    fields. What cannot be read gives no fields (the webhook then cannot verify)."""
    if request.method == "GET":
        query = parse_qsl(request.url.query, keep_blank_values=True)
        return {k: v for k, v in query if k not in OWN_FIELDS}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                return {}
            return {str(k): _text(v) for k, v in body.items() if not isinstance(v, dict | list)}
        if kind in FORMS:
            form = await request.form(max_files=0, max_fields=200)
            return {k: v for k, v in form.items() if isinstance(v, str)}
        return dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError, RecursionError, MultiPartException):
        return {}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
