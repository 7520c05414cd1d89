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

from ...allocator import Allocator
from .. import live
from .session import Session
from .state import Refusals, in_words
from .web import dashboard, guarded, render

BUSIEST = 50  # numbers listed, the busiest first
REFRESH_SECONDS = 5
CHART_WIDTH = 320  # px of the longest bar


def _context(request: Request) -> dict[str, Any]:
    board = dashboard(request)
    allocator = board.service.allocator
    reading = board.live.reading()
    refusals = board.live.refusals()
    states = reading.states
    busy = sorted(
        (e164 for e164, state in states.items() if state.in_use),
        key=lambda e164: (-states[e164].in_use, e164),
    )
    numbers = [_row(allocator, reading, e164) for e164 in busy[:BUSIEST]]
    whole = live.pool_use(states, reading)  # every number the backend holds, in a pool or not
    return {
        "pools": live.pools_use(allocator.templates, reading),
        "numbers": numbers,
        "busy_numbers": len(busy),
        "in_use": whole.in_use,
        "capacity": whole.capacity,
        "count": whole.numbers,
        "waiting": allocator.waiting,
        "refusals": refusals,
        "bars": bars(refusals),
        "window": _window(refusals),
        "refresh": REFRESH_SECONDS,
    }


def _row(allocator: Allocator, reading: live.Reading, e164: str) -> dict[str, Any]:
    """A busy number's row: who it is and its live state (a number removed while a call
    still holds it has no provider or templates any more)."""
    number = reading.numbers.get(e164)
    return in_words(
        {
            "e164": e164,
            "provider": None if number is None else number.provider.value,
            "templates": allocator.templates_of(e164),
            **live.number_live(reading, e164),
        }
    )


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
