"""The Live pool page: calls in progress by template and by number, and refusals in
the last hour by reason as a bar chart drawn here (SVG). Its script re-reads the
fragment every few seconds, so the page updates without reloading."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .session import Session
from .state import Refusals, pool_use, status_words
from .web import dashboard, guarded, render

BUSIEST = 50  # numbers listed, the busiest first
REFRESH_SECONDS = 5
CHART_WIDTH = 320  # px of the longest bar


def _context(request: Request) -> dict[str, Any]:
    board = dashboard(request)
    snapshot = board.live.snapshot()
    refusals = board.live.refusals()
    busy = sorted(
        ((e164, row) for e164, row in snapshot.numbers.items() if row["in_use"]),
        key=lambda item: (-item[1]["in_use"], item[0]),
    )
    numbers = [
        {"e164": e164, **row, "status": status_words(row["status"])} for e164, row in busy[:BUSIEST]
    ]
    rows = snapshot.numbers.values()
    return {
        "pools": pool_use(snapshot),
        "numbers": numbers,
        "busy_numbers": len(busy),
        "in_use": sum(row["in_use"] for row in rows),
        "capacity": sum(row["capacity"] or 0 for row in rows),
        "count": len(snapshot.numbers),
        "waiting": board.service.allocator.waiting,
        "refusals": refusals,
        "bars": bars(refusals),
        "window": _window(refusals),
        "refresh": REFRESH_SECONDS,
    }


def bars(refusals: Refusals) -> list[dict[str, Any]]:
    """One bar per reason: its label, count, and length (the largest is CHART_WIDTH)."""
    top = max(refusals.by_reason.values(), default=0) or 1
    return [
        {
            "reason": reason.replace("_", " "),
            "count": count,
            "width": round(CHART_WIDTH * count / top),
            "y": index * 28,
        }
        for index, (reason, count) in enumerate(refusals.by_reason.items())
    ]


def _window(refusals: Refusals) -> str:
    minutes = round(refusals.seconds / 60)
    if minutes >= 59:
        return "in the last hour"
    return f"in the last {max(minutes, 1)} min (since the service started)"


@guarded
async def page(request: Request, session: Session, form: FormData | None) -> Response:
    context = await run_in_threadpool(_context, request)
    return render(request, session, "live.html", context)


@guarded
async def fragment(request: Request, session: Session, form: FormData | None) -> Response:
    context = await run_in_threadpool(_context, request)
    return render(request, session, "live_fragment.html", context)


ROUTES = [
    Route("/live", page, methods=["GET"]),
    Route("/live/fragment", fragment, methods=["GET"]),
]
