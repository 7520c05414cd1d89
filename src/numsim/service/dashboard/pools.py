"""The Templates pages: every template with its pool's live use; one template's pool,
with numbers added and removed (a template exists while it has numbers)."""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...errors import NumsimError
from ...numbers import check_template_id
from ...phone import normalize_e164
from .. import live
from .numbers import PAGE_SIZE, live_rows, read_page
from .session import Session
from .web import dashboard, guarded, redirect, render


@guarded
async def templates(request: Request, session: Session, form: FormData | None) -> Response:
    board = dashboard(request)
    notice = None
    emptied = request.query_params.get("id", "")
    if request.query_params.get("notice") == "emptied" and _is_template_id(emptied):
        notice = f"Template {emptied} has no numbers left."  # only an id: see numbers._notice
    context: dict[str, Any] = {"errors": {}, "shown": {}, "notice": notice}
    if form is not None:  # a new template, with its first numbers
        template = str(form.get("template", "")).strip()
        text = str(form.get("numbers", ""))
        error = await _assign(request, template, text)
        if error is None:
            return redirect(request, "/template", id=template, notice="added")
        context["errors"] = {error[0]: error[1]}
        context["shown"] = {"template": template, "numbers": text}
    allocator = board.service.allocator
    reading = await run_in_threadpool(board.live.reading)
    context["templates"] = live.pools_use(allocator.templates, reading)  # the pools served now
    status = 422 if context["errors"] else 200
    return render(request, session, "templates.html", context, status=status)


def _is_template_id(text: str) -> bool:
    try:
        return check_template_id(text) == text
    except ValueError:
        return False


async def _assign(request: Request, template: str, text: str) -> tuple[str, str] | None:
    """Add the numbers in `text` to the template's pool: one a line, or separated by
    commas or semicolons (a number may hold spaces, "+1 415 555 0100", as search takes
    it). Returns the field and message of what is wrong, if anything is."""
    service = dashboard(request).service
    try:
        check_template_id(template)
    except ValueError as error:
        return "template", str(error)
    wanted = [part.strip() for part in re.split(r"[,;\n]", text) if part.strip()]
    if not wanted:
        return "numbers", "give at least one registered number, in E.164"

    def work() -> None:
        service.registry.assign(template, wanted)
        service.sync()

    try:
        await run_in_threadpool(work)
    except (NumsimError, ValueError) as error:
        return "numbers", str(error)
    return None


@guarded
async def pool(request: Request, session: Session, form: FormData | None) -> Response:
    board = dashboard(request)
    template = request.query_params.get("id", "")
    errors: dict[str, str] = {}
    shown = ""
    if form is not None:  # the template is the one the page's address names
        if "remove" in form:
            error = await _unassign(request, template, str(form.get("remove")))
        else:
            shown = str(form.get("numbers", ""))
            error = await _assign(request, template, shown)
        if error is None:
            done = "removed" if "remove" in form else "added"
            _, left = await run_in_threadpool(
                lambda: board.service.registry.page(template=template, limit=1)
            )
            if not left:
                return redirect(request, "/templates", notice="emptied", id=template)
            return redirect(request, "/template", id=template, notice=done)
        errors[error[0]] = error[1]
    rows, total, page, use = await run_in_threadpool(_read_pool, request, template)
    if not total and form is None:
        message = f"template {template!r} has no numbers in the registry"
        return render(request, session, "error.html", {"message": message}, status=404)
    notices = {"added": "Numbers added.", "removed": "Number removed."}
    notice = notices.get(request.query_params.get("notice", ""))
    context = {
        "template": template,
        "rows": rows,
        "total": total,
        "use": use,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "errors": errors,
        "shown": shown,
        "notice": notice,
    }
    return render(request, session, "template.html", context, status=422 if errors else 200)


def _read_pool(
    request: Request, template: str
) -> tuple[list[dict[str, Any]], int, int, live.PoolUse | None]:
    """The page of the template's numbers with their live state, and the pool's live use
    (None: the allocator serves no such pool), reading only the pool's numbers."""
    allocator = dashboard(request).service.allocator
    rows, total, page = read_page(request, template=template)
    pool = allocator.templates.get(template, ())
    reading = live.read(allocator, dict.fromkeys([*pool, *(str(row["e164"]) for row in rows)]))
    use = live.pool_use(pool, reading) if pool else None
    return live_rows(rows, reading), total, page, use


async def _unassign(request: Request, template: str, e164: str) -> tuple[str, str] | None:
    service = dashboard(request).service

    def work() -> None:
        service.registry.unassign(template, [normalize_e164(e164)])
        service.sync()

    try:
        await run_in_threadpool(work)
    except (NumsimError, ValueError) as error:
        return "remove", str(error)
    return None


ROUTES = [
    Route("/templates", templates, methods=["GET", "POST"]),
    Route("/template", pool, methods=["GET", "POST"]),
]
