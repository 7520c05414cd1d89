"""The Numbers API: the registry over HTTP. Each change reaches the allocator at once."""

from __future__ import annotations

import io
import json
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ...bulk import COLUMNS, ImportReport
from ...credentials import CredentialError, CredentialRef
from ...errors import InvalidRequestError
from ...numbers import OutboundNumber, Provider, channels_warning, imported_channels_warning
from ...phone import normalize_e164
from ..models import ImportReportOut, NumberIn, NumberSettings, Rotation, answers, number_row
from ..state import Service, gc_held

router = APIRouter(tags=["numbers"])
OnExisting = Literal["error", "update", "skip"]
CSV = {"type": "string", "description": "the CSV columns (see the README), header first"}
SAMPLE_CSV = "e164,provider,stir_shaken_attested,label\n+14155550104,twilio,true,SF fourth line\n"
# The import's body is read by the route itself (CSV or JSON), so it is declared here.
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {**CSV, "examples": [SAMPLE_CSV]}},
            "application/json": {
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/NumberIn"}}
            },
        },
    }
}
IMPORT_ANSWERS: dict[int | str, dict[str, Any]] = {
    **answers(400, 409, 415, 503),
    422: {
        "description": "some rows were rejected (the good ones landed), or bad input",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/ImportReportOut"},
                        {"$ref": "#/components/schemas/ErrorOut"},
                    ]
                }
            }
        },
    },
}


def _service(request: Request) -> Service:
    service: Service = request.app.state.numsim
    return service


@router.get("/numbers", responses=answers(404))
def list_numbers(
    request: Request, template: str | None = None, provider: str | None = None
) -> list[dict[str, Any]]:
    """Every number (or a template's pool), optionally of one provider."""
    wanted = None if provider is None else Provider(provider).value
    rows = _service(request).registry.rows(template)
    return [row for row in rows if wanted is None or row["provider"] == wanted]


@router.post("/numbers", status_code=201, responses=answers(409, 503))
def add_number(request: Request, response: Response, body: NumberIn) -> dict[str, Any]:
    """Add one number; a Twilio number given more than one channel is added with a
    `Warning` header saying it carries one call (as the CLI warns)."""
    service = _service(request)
    number = body.number()
    resolvable(number.credentials)
    service.registry.add(number, templates=body.templates)
    service.sync()
    warn(response, channels_warning(number))
    return number_row(number, service.registry.templates_of(number.e164))


@router.get(
    "/numbers/export",
    response_class=Response,
    responses={200: {"description": "the CSV file", "content": {"text/csv": {"schema": CSV}}}},
)
def export_numbers(request: Request) -> Response:
    """Every number as the CSV `numsim numbers export` writes (no secrets)."""
    out = io.StringIO()
    _service(request).registry.export_csv(out)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="numbers.csv"'},
    )


@router.post(
    "/numbers/import",
    response_model=ImportReportOut,
    responses=IMPORT_ANSWERS,
    openapi_extra=IMPORT_BODY,
)
async def import_numbers(request: Request, on_existing: OnExisting = "error") -> JSONResponse:
    """A CSV file (Content-Type text/csv) or a JSON list of numbers. Good rows land;
    each bad one is reported by line (CSV) or position (JSON). 422 if any was bad."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if kind not in ("application/json", "text/csv", "text/plain", "application/csv"):
        return JSONResponse(
            {"error": "send the numbers as text/csv or as a JSON list (application/json)"},
            status_code=415,
        )
    service = _service(request)

    def work() -> tuple[ImportReport, dict[str, Any]]:  # parsing too: off the event loop
        registry = service.registry
        with gc_held():
            if kind == "application/json":
                report = registry.import_rows(_json_rows(body), on_existing=on_existing)
            else:
                report = registry.import_csv(io.BytesIO(body), on_existing=on_existing)
            service.sync()
        return report, _report(report)

    report, shown = await run_in_threadpool(work)
    response = JSONResponse(shown, status_code=200 if report.ok else 422)
    warn(response, *shown["warnings"])
    return response


@router.get("/numbers/{e164}", responses=answers(404))
def get_number(request: Request, e164: str) -> dict[str, Any]:
    registry = _service(request).registry
    number = registry.get(e164)
    return number_row(number, registry.templates_of(number.e164))


@router.patch("/numbers/{e164}", responses=answers(404, 409, 503))
def update_number(
    request: Request, response: Response, e164: str, body: NumberSettings
) -> dict[str, Any]:
    """Change the settings given (limits, flags, account...); live leases are kept."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidRequestError("nothing to update: give a setting, e.g. max_concurrent_calls")
    if changes.get("credentials") is not None:
        resolvable(CredentialRef.parse(changes["credentials"]))
    service = _service(request)
    number = service.registry.update(e164, **changes)
    service.sync()
    warn(response, channels_warning(number))
    return number_row(number, service.registry.templates_of(number.e164))


@router.delete("/numbers/{e164}", responses=answers(404, 409, 503))
def remove_number(request: Request, e164: str, force: bool = False) -> dict[str, Any]:
    """Refused while a template uses the number or a call holds it, unless `force`
    (calls in progress then keep their leases until released)."""
    return {"removed": _service(request).remove(e164, force=force)}


@router.post("/numbers/{e164}/rotate", responses=answers(404, 409, 503))
def rotate_number(
    request: Request, response: Response, e164: str, body: Rotation
) -> dict[str, Any]:
    """Swap the number for `new` in every template (one transaction). Refused (409)
    when `new` is already in one of those templates: that pool would shrink."""
    service = _service(request)
    new = body.new if isinstance(body.new, str) else body.new.number()
    templates = service.registry.rotate(e164, new)
    service.sync()
    if isinstance(new, OutboundNumber):
        warn(response, channels_warning(new))
    new_e164 = new if isinstance(new, str) else new.e164
    return {"old": normalize_e164(e164), "new": normalize_e164(new_e164), "templates": templates}


def resolvable(reference: CredentialRef | None) -> None:
    """Refuse a credential reference this server cannot read (a typo'd variable name):
    422 naming the reference, never a secret. Every webhook of that account would
    otherwise fail to verify."""
    if reference is None:
        return
    try:
        reference.resolve()
    except CredentialError as error:
        raise CredentialError(f"credentials {reference} cannot be read here: {error}") from None


def _json_rows(body: bytes) -> list[tuple[int, dict[str, str]]]:
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidRequestError(
            "the body is not valid JSON; send a JSON list of numbers"
        ) from None
    if not isinstance(items, list):
        raise InvalidRequestError("send a JSON list of numbers (objects with the CSV's columns)")
    return [(position, _cells(item)) for position, item in enumerate(items, start=1)]


def _cells(item: object) -> dict[str, str]:
    """A JSON number as CSV cells, so it is parsed by the same code as a CSV row."""
    if not isinstance(item, dict):
        return {"__fields__": "is not an object with the CSV's columns"}
    unknown = sorted(str(key) for key in item if key not in COLUMNS)
    if unknown:
        return {"__fields__": f"unknown field(s) {', '.join(map(repr, unknown))}"}
    cells = {}
    for key, value in item.items():
        if value is None:
            cells[str(key)] = ""
        elif isinstance(value, bool):
            cells[str(key)] = "true" if value else "false"
        elif isinstance(value, list):
            cells[str(key)] = ";".join(str(v) for v in value)
        else:
            cells[str(key)] = str(value)
    return cells


def _report(report: ImportReport) -> dict[str, Any]:
    """The report `numsim numbers import` prints, as fields and as its text."""
    return {
        "ok": report.ok,
        "added": report.added,
        "updated": report.updated,
        "skipped": report.skipped,
        "rejected": report.rejected,
        "errors": [{"line": e.line, "column": e.column, "reason": e.reason} for e in report.errors],
        "warnings": [w for w in (imported_channels_warning(report.twilio_channels),) if w],
        "report": str(report),
    }


def warn(response: Response, *messages: str | None) -> None:
    """Each warning as a standard header, `Warning: 299 - "<message>"` (RFC 7234's
    persistent miscellaneous warning), in the words the CLI prints."""
    for message in messages:
        if message:
            quoted = message.replace("\\", "\\\\").replace('"', '\\"')
            response.headers.append("Warning", f'299 - "{quoted}"')
