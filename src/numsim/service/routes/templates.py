"""Templates over HTTP: each template's pool with its live use, and changes to it.

A pool changes by deltas (`PUT`/`DELETE /templates/{t}/numbers/{e164}`, idempotent), or
whole (`PUT /templates/{t}/numbers`, kept for rotation scripts). A template exists while
it has numbers, as in the registry. Template ids may hold `/` (not a `/numbers` segment).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.convertors import Convertor, register_url_convertor

from ...errors import UnknownTemplateError
from ...numbers import check_template_id
from ...phone import normalize_e164
from .. import live
from ..models import Pool, answers
from ..state import Service


class TemplateId(Convertor[str]):
    """A template id in a URL: it may hold `/`, but no `/numbers` segment, so each path
    names one route (`/templates/a/numbers` is template a's pool, not template
    "a/numbers")."""

    regex = r"[^/](?:[^/]|/(?!numbers(?:/|$)))*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("template", TemplateId())  # before the routes below use it
router = APIRouter(tags=["templates"])


def _service(request: Request) -> Service:
    service: Service = request.app.state.numsim
    return service


@router.get("/templates", responses=answers(503))
def list_templates(request: Request) -> list[dict[str, Any]]:
    """Every template with its pool's size and live use: channels in use of capacity."""
    allocator = _service(request).allocator
    pools = live.pools_use(allocator.templates, live.read(allocator))
    return [
        {"template": t, "numbers": use.numbers, "in_use": use.in_use, "capacity": use.capacity}
        for t, use in pools.items()
    ]


@router.get("/templates/{template:template}", responses=answers(404, 503))
def get_template(request: Request, template: str) -> dict[str, Any]:
    """The template's numbers (the CSV's columns) with their live state: channels in
    use of capacity, calls in the rolling hour and day, status. Reads only its numbers."""
    service = _service(request)
    rows = list(service.registry.rows(template))  # UnknownTemplateError: 404
    pool = [str(row["e164"]) for row in rows]
    reading = live.read(service.allocator, pool)
    use = live.pool_use(pool, reading)
    return {
        "template": template,
        "in_use": use.in_use,
        "capacity": use.capacity,
        "numbers": [live.with_live(row, reading) for row in rows],
    }


@router.put("/templates/{template:template}/numbers/{e164}", responses=answers(404, 503))
def assign_number(request: Request, template: str, e164: str) -> dict[str, Any]:
    """Add one number to the pool. Idempotent: `changed` is false if it was there."""
    service = _service(request)
    registry = service.registry
    template = check_template_id(template)
    number = registry.get(e164).e164  # UnknownNumberError: 404
    changed = template not in registry.templates_of(number)
    if changed:
        registry.assign(template, [number])
        service.sync()
    return {"template": template, "number": number, "changed": changed}


@router.delete("/templates/{template:template}/numbers/{e164}", responses=answers(404, 503))
def unassign_number(request: Request, template: str, e164: str) -> dict[str, Any]:
    """Take one number out of the pool (its calls in progress keep their leases).
    Idempotent: `changed` is false if it was not there."""
    service = _service(request)
    registry = service.registry
    number = registry.get(e164).e164  # UnknownNumberError: 404
    changed = template in registry.templates_of(number)
    if changed:
        registry.unassign(template, [number])
        service.sync()
    return {"template": template, "number": number, "changed": changed}


@router.put("/templates/{template:template}/numbers", responses=answers(404, 503))
def set_pool(request: Request, template: str, body: Pool) -> dict[str, Any]:
    """Make the template's pool exactly these numbers (assigning and unassigning).
    Bodies up to the import limit: a pool of thousands of numbers is one request."""
    service = _service(request)
    registry = service.registry
    template = check_template_id(template)
    wanted = list(dict.fromkeys(normalize_e164(n) for n in body.numbers))
    have = _pool(service, template)
    joining = [n for n in wanted if n not in have]
    if joining:
        registry.assign(template, joining)
    leaving = sorted(have - set(wanted))
    if leaving:
        registry.unassign(template, leaving)
    service.sync()
    return {"template": template, "numbers": sorted(wanted)}


def _pool(service: Service, template: str) -> set[str]:
    """The template's numbers now; none for a template without any."""
    try:
        return {str(row["e164"]) for row in service.registry.rows(template)}
    except UnknownTemplateError:
        return set()
