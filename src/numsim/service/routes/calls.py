"""Calls over HTTP: place one through the Dialer, attach one placed elsewhere to its
lease, settle an unknown outcome. Either way the call's terminal status callback
frees its channel at once, on any `serve` process sharing the backend."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ...dialer import is_call_token
from ...errors import UnknownNumberError
from ...numbers import Provider
from ..models import AttachIn, CallIn, answers
from ..state import Service
from .allocations import lease_of, lease_out
from .callbacks import base_url

router = APIRouter(tags=["calls"])


def _service(request: Request) -> Service:
    service: Service = request.app.state.numsim
    return service


@router.post("/calls", status_code=201, responses=answers(404, 409, 429, 502, 503))
async def place_call(request: Request, body: CallIn) -> dict[str, Any]:
    """Lease a number of the template's pool and place the call from it. Its status
    callbacks come to this service (`/callbacks/{provider}/status`). A provider's
    failure: 422 (it refused the call), 503 (try again), 502 (its outcome is unknown:
    the answer names the `token` to settle with `GET /calls/{token}`)."""
    base = base_url(request)

    def status_url(provider: Provider) -> str:
        return f"{base}/callbacks/{provider.value}/status"

    dial = partial(
        _service(request).dialer.dial,
        body.template,
        body.destination,
        answer_url=body.answer,
        status_callback_url=status_url,
        call_id=body.call_id,
        time_limit=body.time_limit,
        timeout=body.wait,
        ttl=body.ttl,
    )
    placed = await run_in_threadpool(dial)
    return {**lease_out(placed.lease), "token": placed.token, "call_id": placed.call_id}


@router.get("/calls/{token}", responses=answers(404, 503))
async def settle_call(request: Request, token: str) -> dict[str, str]:
    """Whether the call was placed: `placed`, `not_placed` or `unknown` (ask again
    later). After an unknown outcome, redial only on `not_placed`."""
    if not is_call_token(token):
        raise UnknownNumberError(
            f"no call has the token {token!r}: a token is the 32 hex digits POST /calls answered"
        )
    outcome = await run_in_threadpool(_service(request).dialer.settle, token)
    return {"token": token, "outcome": outcome}


@router.put("/allocations/{lease_id}/call", responses=answers(404, 503))
async def attach_call(request: Request, lease_id: str, body: AttachIn) -> dict[str, Any]:
    """Attach the call you placed from this lease's number (the provider's call id), so
    its terminal status callback ends the lease. The lease is renewed (`ttl`, default
    the allocator's lease TTL). `attached` is false when that callback came first: the
    lease has ended already."""
    service = _service(request)
    lease = lease_of(lease_id)
    if not await service.allocator.arenew(lease, ttl=body.ttl):
        raise UnknownNumberError(f"lease {lease_id} has ended (released or expired)")
    attached = await run_in_threadpool(service.dialer.attach, lease, body.call_id)
    return {
        "lease_id": lease_id,
        "call_id": body.call_id,
        "attached": attached,
        "expires_at": lease.expires_at,
    }
