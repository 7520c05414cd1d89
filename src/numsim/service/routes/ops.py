"""Operations: the pool snapshot, Prometheus metrics, liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..models import answers
from ..state import Service

router = APIRouter(tags=["operations"])


def _service(request: Request) -> Service:
    service: Service = request.app.state.numsim
    return service


@router.get("/pool", responses=answers(503))
def pool(request: Request) -> dict[str, Any]:
    """Allocator.snapshot(): per number state, and counters."""
    return _service(request).allocator.snapshot().to_dict()


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **answers(503),
    },
)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of AllocatorCollector."""
    return Response(_service(request).metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready: which check failed"}})
def readyz(request: Request) -> JSONResponse:
    """Readiness: the registry and the backend (Redis) answer (else 503). Accounts whose
    credentials this process cannot read are listed under `credentials`, and make the
    status "degraded" but not unready: the other accounts' calls still work."""
    service = _service(request)
    checks: dict[str, Any] = {}
    for name, probe in (
        ("registry", service.registry.ping),
        ("backend", lambda: service.allocator.backend.stats()),
    ):
        try:
            probe()
            checks[name] = "ok"
        except Exception as error:  # any failure means not ready; say which, not why in full
            checks[name] = f"unavailable: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    unresolved = service.unresolved()
    checks["credentials"] = {"unresolved": unresolved} if unresolved else "ok"
    status = "not ready" if not ready else "degraded" if unresolved else "ready"
    return JSONResponse({"status": status, **checks}, status_code=200 if ready else 503)
