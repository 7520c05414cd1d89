"""The Numbers pages: the table (paged, searchable), add, edit, remove, rotate, and CSV
import and export. Each change goes to the registry and then the allocator, as the
Numbers API does it, with the same checks and the same messages."""

from __future__ import annotations

import io
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...bulk import ImportReport
from ...errors import NumsimError
from ...numbers import OutboundNumber, channels_warning, imported_channels_warning
from ...phone import normalize_e164
from ...registry import OnExisting
from .. import live
from ..routes.numbers import resolvable
from . import forms
from .session import Session
from .state import in_words
from .web import dashboard, guarded, redirect, render

PAGE_SIZE = 50
NOTICES = {
    "added": "Added {number}.",
    "saved": "Saved {number}.",
    "removed": "Removed {number}.",
    "rotated": "Rotated {number} out: its templates now use {new}.",
    "rotated_unused": "{number} was in no template: nothing to rotate into {new}.",
}
ON_EXISTING: dict[OnExisting, str] = {  # what to do with a number already registered
    "error": "report it as an error",
    "update": "update it",
    "skip": "skip it",
}


def live_rows(rows: list[dict[str, Any]], reading: live.Reading) -> list[dict[str, Any]]:
    """Registry rows with their numbers' live state, the status in the pages' words."""
    return [in_words(live.with_live(row, reading)) for row in rows]


def page_number(request: Request) -> int:
    text = request.query_params.get("page", "1")
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) < 10**9 else 1


def read_page(
    request: Request, search: str = "", *, template: str | None = None
) -> tuple[list[dict[str, Any]], int, int]:
    """The page the query asks for of the matching registry rows, how many match in
    all, and the page's number: past the end (an old link after removals, a typed
    number), the last page. It reads the registry: call it off the event loop."""
    board = dashboard(request)
    page = page_number(request)
    rows, total = board.service.registry.page(
        search, template=template, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    if not rows and total:
        page = -(-total // PAGE_SIZE)
        rows, total = board.service.registry.page(
            search, template=template, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    return rows, total, page


@guarded
async def table(request: Request, session: Session, form: FormData | None) -> Response:
    search = request.query_params.get("q", "")[:200]
    allocator = dashboard(request).service.allocator

    def work() -> tuple[list[dict[str, Any]], int, int]:
        rows, total, page = read_page(request, search)
        reading = live.read(allocator, [str(row["e164"]) for row in rows])  # the page's only
        return live_rows(rows, reading), total, page

    rows, total, page = await run_in_threadpool(work)
    notice = request.query_params.get("notice", "")
    context = {
        "rows": rows,
        "total": total,
        "search": search,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "first": (page - 1) * PAGE_SIZE + 1,
        "notice": _notice(request, notice),
    }
    return render(request, session, "numbers.html", context)


def _notice(request: Request, key: str) -> str | None:
    """The notice a redirect's link asks for. Its numbers come from the link, so each
    must be a number in E.164: a sentence written into a link someone sent shows nothing."""
    if key not in NOTICES:
        return None
    values = {name: request.query_params.get(name, "") for name in ("number", "new")}
    for name, value in values.items():
        if f"{{{name}}}" in NOTICES[key] and not _is_e164(value):
            return None
    return NOTICES[key].format(**values)


def _is_e164(text: str) -> bool:
    try:
        return normalize_e164(text) == text
    except ValueError:
        return False


@guarded
async def new(request: Request, session: Session, form: FormData | None) -> Response:
    if form is None:
        return _number_form(request, session, None, {"max_concurrent_calls": "1"}, {})
    parsed = forms.Parsed(form)
    service = dashboard(request).service

    def save() -> OutboundNumber | None:
        if parsed.errors:
            return None
        try:
            number = parsed.number()
            resolvable(number.credentials)
            service.registry.add(number, templates=parsed.templates)
        except (NumsimError, ValueError) as error:
            parsed.blame(error)
            return None
        service.sync()
        return number

    number = await run_in_threadpool(save)
    if number is None:
        return _number_form(request, session, None, parsed.shown, parsed.errors, status=422)
    return redirect(request, f"/numbers/{number.e164}", notice="added", number=number.e164)


def _number_form(
    request: Request,
    session: Session,
    e164: str | None,
    shown: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> Response:
    context = {
        "e164": e164,
        "fields": forms.fields(editing=e164 is not None),
        "shown": shown,
        "errors": errors,
        "notice": None,
        "warning": None,
        "state": None,
        "rotate_error": None,
        "remove_error": None,
        **(extra or {}),
    }
    page = "number.html" if e164 is not None else "add_number.html"
    return render(request, session, page, context, status=status)


@guarded
async def edit(request: Request, session: Session, form: FormData | None) -> Response:
    service = dashboard(request).service
    e164 = await _current(request)
    if e164 is None:
        return _missing(request, session)
    current = await run_in_threadpool(service.registry.get, e164)
    if form is None:
        templates = await run_in_threadpool(service.registry.templates_of, e164)
        shown = forms.values_of(current, templates)
        notice = _notice(request, request.query_params.get("notice", ""))
        return await _number_page(request, session, current, shown, {}, notice=notice)
    parsed = forms.Parsed(form, e164=e164)

    def save() -> OutboundNumber | None:
        if parsed.errors:
            return None
        changes = {k: v for k, v in parsed.settings.items() if k != "e164"}
        try:
            if changes.get("credentials") != current.credentials:  # as the API: a new one
                resolvable(changes.get("credentials"))
            number = service.registry.update(e164, templates=parsed.templates, **changes)
        except (NumsimError, ValueError) as error:
            parsed.blame(error)
            return None
        finally:
            service.sync()
        return number

    number = await run_in_threadpool(save)
    if number is None:
        return await _number_page(request, session, current, parsed.shown, parsed.errors, 422)
    return redirect(request, f"/numbers/{e164}", notice="saved", number=e164)


async def _number_page(
    request: Request,
    session: Session,
    number: OutboundNumber,
    shown: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
    **extra: Any,
) -> Response:
    allocator = dashboard(request).service.allocator
    reading = await run_in_threadpool(live.read, allocator, [number.e164])
    state = in_words(live.number_live(reading, number.e164))
    context = {"state": state, "warning": channels_warning(number), "number": number, **extra}
    return _number_form(request, session, number.e164, shown, errors, status=status, extra=context)


@guarded
async def remove(request: Request, session: Session, form: FormData | None) -> Response:
    assert form is not None
    service = dashboard(request).service
    e164 = await _current(request)
    if e164 is None:
        return _missing(request, session)
    try:
        await run_in_threadpool(service.remove, e164, force=form.get("force") == "on")
    except NumsimError as error:
        return await _again(request, session, e164, remove_error=str(error))
    return redirect(request, "/numbers", notice="removed", number=e164)


@guarded
async def rotate(request: Request, session: Session, form: FormData | None) -> Response:
    assert form is not None
    service = dashboard(request).service
    e164 = await _current(request)
    if e164 is None:
        return _missing(request, session)
    new = str(form.get("new", "")).strip()

    def swap() -> tuple[str, list[str]]:
        templates = service.registry.rotate(e164, new)
        service.sync()
        return normalize_e164(new), templates

    try:
        new_e164, templates = await run_in_threadpool(swap)
    except (NumsimError, ValueError) as error:
        return await _again(request, session, e164, rotate_error=str(error), new=new)
    notice = "rotated" if templates else "rotated_unused"
    return redirect(request, "/numbers", notice=notice, number=e164, new=new_e164)


async def _current(request: Request) -> str | None:
    """The registered number the path names, or None."""
    registry = dashboard(request).service.registry
    try:
        e164 = normalize_e164(request.path_params["e164"])
    except ValueError:
        return None
    return e164 if await run_in_threadpool(registry.__contains__, e164) else None


def _missing(request: Request, session: Session) -> Response:
    message = f"{request.path_params['e164']} is not in the registry"
    return render(request, session, "error.html", {"message": message}, status=404)


async def _again(request: Request, session: Session, e164: str, **extra: Any) -> Response:
    """The number's page again, with an error beside the form that failed."""
    service = dashboard(request).service
    number = await run_in_threadpool(service.registry.get, e164)
    templates = await run_in_threadpool(service.registry.templates_of, e164)
    shown = forms.values_of(number, templates)
    return await _number_page(request, session, number, shown, {}, 409, **extra)


@guarded
async def import_csv(request: Request, session: Session, form: FormData | None) -> Response:
    context: dict[str, Any] = {"choices": ON_EXISTING, "report": None, "error": None}
    if form is None:
        return render(request, session, "import.html", context)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        context["error"] = "choose a CSV file to import"
        return render(request, session, "import.html", context, status=422)
    chosen = form.get("on_existing")
    on_existing: OnExisting = next((c for c in ON_EXISTING if c == chosen), "error")
    data = await upload.read()
    service = dashboard(request).service

    def work() -> ImportReport:  # parsing too: off the event loop
        report = service.registry.import_csv(io.BytesIO(data), on_existing=on_existing)
        service.sync()
        return report

    try:
        report = await run_in_threadpool(work)
    except NumsimError as error:  # not our CSV at all: nothing was imported
        context["error"] = str(error)
        return render(request, session, "import.html", context, status=400)
    context["report"] = report
    context["twilio"] = imported_channels_warning(report.twilio_channels)
    return render(request, session, "import.html", context, status=200 if report.ok else 422)


@guarded
async def export_csv(request: Request, session: Session, form: FormData | None) -> Response:
    out = io.StringIO()
    await run_in_threadpool(dashboard(request).service.registry.export_csv, out)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="numbers.csv"'},
    )


ROUTES = [
    Route("/numbers", table, methods=["GET"]),
    Route("/numbers/new", new, methods=["GET", "POST"]),
    Route("/numbers/import", import_csv, methods=["GET", "POST"]),
    Route("/numbers/export.csv", export_csv, methods=["GET"]),
    Route("/numbers/{e164}", edit, methods=["GET", "POST"]),
    Route("/numbers/{e164}/remove", remove, methods=["POST"]),
    Route("/numbers/{e164}/rotate", rotate, methods=["POST"]),
]
