"""The pre-launch check over HTTP: `numsim numbers check`'s findings, as JSON.

Included before the Numbers API's router: `/numbers/check` is this route, not a number.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ...prelaunch import check_numbers
from ..models import CheckOut, answers
from ..state import Service

router = APIRouter(tags=["numbers"])


@router.get("/numbers/check", response_model=CheckOut, responses=answers(404))
def check(
    request: Request,
    template: str | None = None,
    region: Annotated[list[str], Query(description="a country the templates call")] = [],  # noqa: B006
    offline: bool = False,
) -> dict[str, Any]:
    """Before a campaign: credentials that do not resolve here, numbers their provider
    says the account does not own or that lack voice (`offline`: not asked), and numbers
    that may not call the regions their templates call (`region`, repeated; default:
    each template's own numbers' countries), under this service's compliance rules.
    200 either way: `ok` says whether anything was found."""
    service: Service = request.app.state.numsim
    report = check_numbers(
        service.registry,
        template=template,
        regions=region,
        compliance=service.allocator.compliance,
        provider=not offline,
        provider_urls=service.provider_urls,
    )
    return report.to_dict()
