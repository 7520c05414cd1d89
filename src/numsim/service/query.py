"""Unknown query fields are refused, as unknown body fields are (`extra="forbid"`): a
misspelt filter (`/numbers?tempalte=sales`) must not silently answer every number.

Provider webhooks are exempt: a GET webhook's query holds the provider's call fields;
and so is what the OpenAPI document leaves out (pages, not API operations)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from .auth import is_public, own_path


async def known_fields_only(request: Request) -> None:
    """A dependency of every route: 422 naming a query field the route does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return  # not an API operation (the docs page, pages mounted beside the API)
    if is_public(own_path(request.scope)):
        return
    known = set(_query_fields(route.dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise ValueError(
            f"unknown query field(s) {', '.join(map(repr, unknown))}; this route takes {takes}"
        )


def _query_fields(dependant: Dependant) -> Iterator[str]:
    """The query fields a route takes, its dependencies' included."""
    yield from (param.alias for param in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _query_fields(sub)
