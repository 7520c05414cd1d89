"""Allocation over HTTP, for services in other languages: acquire, release, renew.

The lease id handed out names the number too (`<digits>-<lease id>`), so any
`serve` process sharing the Redis backend can release or renew it without a lookup.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ...allocator import Lease
from ...errors import UnknownNumberError
from ..models import AcquireIn, LeaseOut, RenewIn, answers
from ..state import Service

router = APIRouter(tags=["allocations"])


def _service(request: Request) -> Service:
    service: Service = request.app.state.numsim
    return service


@router.post(
    "/allocations",
    status_code=201,
    responses=answers(404, 409, 429, 503),
)
async def acquire(request: Request, body: AcquireIn) -> LeaseOut:
    """A channel of the best available number of the template's pool, waiting up to
    `wait` seconds. A refusal gives its reasons and `retry_after`: 429 with a
    Retry-After header when time alone will lift it, else 409."""
    lease = await _service(request).allocator.aacquire(
        body.template, body.destination, call_id=body.call_id, timeout=body.wait, ttl=body.ttl
    )
    return LeaseOut(**lease_out(lease))


@router.delete("/allocations/{lease_id}", responses=answers(404, 503))
async def release(request: Request, lease_id: str) -> dict[str, bool]:
    """Give the channel back. Idempotent: `released` is false if it already was (or
    the lease expired)."""
    released = await _service(request).allocator.arelease(lease_of(lease_id))
    return {"released": released}


@router.post("/allocations/{lease_id}/renew", responses=answers(404, 503))
async def renew(request: Request, lease_id: str, body: RenewIn | None = None) -> JSONResponse:
    """Extend a live call's lease to now + ttl (default: the allocator's lease_ttl)."""
    lease = lease_of(lease_id)
    ttl = body.ttl if body else None
    if not await _service(request).allocator.arenew(lease, ttl=ttl):
        raise UnknownNumberError(f"lease {lease_id} has ended (released or expired)")
    return JSONResponse({"lease_id": lease_id, "expires_at": lease.expires_at})


def lease_out(lease: Lease) -> dict[str, Any]:
    return {
        "lease_id": f"{lease.number[1:]}-{lease.id}",
        "number": lease.number,
        "template": lease.template,
        "destination": lease.destination,
        "call_id": lease.call_id,
        "expires_at": lease.expires_at,
    }


def lease_of(lease_id: str) -> Lease:
    digits, _, own_id = lease_id.partition("-")
    if not (digits.isascii() and digits.isdigit() and own_id):
        raise UnknownNumberError(f"{lease_id!r} is not a lease id this service handed out")
    return Lease(own_id, "+" + digits, None, None, None, 0.0)
