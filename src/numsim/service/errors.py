"""numsim's exceptions as HTTP answers: the CLI's messages, a 4xx, never a traceback.

Every error body is `{"error": "<message>"}` (a refusal adds its reasons)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import Match

from ..allocator import NoNumberAvailable
from ..credentials import CredentialError
from ..errors import (
    BackendMisconfigured,
    BackendUnavailable,
    ImportFileError,
    InvalidRequestError,
    RegistryError,
    UnknownNumberError,
    UnknownTemplateError,
)
from ..providers.errors import InvalidCallback, ProviderError

# Most specific first: InvalidRequestError is a RegistryError; RegistryError and
# ImportFileError are ValueErrors too.
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (UnknownNumberError, 404),
    (UnknownTemplateError, 404),
    (InvalidCallback, 403),
    (ImportFileError, 400),
    (InvalidRequestError, 422),
    (RegistryError, 409),
    (CredentialError, 422),
    (ValueError, 422),
    (BackendUnavailable, 503),
    (BackendMisconfigured, 503),
)


def install(app: FastAPI) -> None:
    for error_type, status in STATUS:
        app.add_exception_handler(error_type, _plain(status))
    app.add_exception_handler(NoNumberAvailable, _refusal)
    app.add_exception_handler(ProviderError, _provider)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)


def error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _plain(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return error(status, str(exc))

    return handle


async def _refusal(request: Request, exc: Exception) -> JSONResponse:
    """429 with Retry-After when time alone will lift the refusal, else 409."""
    assert isinstance(exc, NoNumberAvailable)
    response = error(
        429 if exc.retry_after is not None else 409,
        str(exc),
        reason=exc.reason,
        reasons=exc.reasons,
        retry_after=exc.retry_after,
    )
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


async def _provider(request: Request, exc: Exception) -> JSONResponse:
    """The provider refused or failed: 422 when it refused what the caller asked (an
    invalid destination), 503 with Retry-After when trying again can help, else 502.
    An unknown outcome says which call to settle (`GET /calls/{token}`)."""
    assert isinstance(exc, ProviderError)
    if exc.outcome_unknown:
        status = 502
    elif exc.retryable:
        status = 503
    elif exc.status in (400, 404):
        status = 422
    else:
        status = 502
    extra: dict[str, object] = {"provider": exc.provider.value, "code": exc.code}
    extra["outcome_unknown"] = exc.outcome_unknown
    if exc.token is not None:
        extra.update(token=exc.token, number=exc.number, destination=exc.destination)
    response = error(status, str(exc), **extra)
    if exc.retryable and exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for item in exc.errors():
        if item["type"] == "json_invalid":
            problems.append("the body is not valid JSON")
            continue
        source, *path = item["loc"]
        where = ".".join(str(part) for part in path) or "body"
        if source != "body" and item["type"] != "missing":  # a parameter, as the URL gave it
            where = f"{where}={item['input']}"
        problems.append(f"{where}: {item['msg']}")
    return error(422, "; ".join(problems))


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    response = error(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:  # Starlette names the first route's methods only
        response.headers["Allow"] = ", ".join(_allowed(request))
    return response


def _allowed(request: Request) -> list[str]:
    """The methods of the resource at this path: of the routes matching it, those of
    the most specific path (`/numbers/check` over `/numbers/{e164}`), as the document
    lists them."""
    served: dict[str, set[str]] = {}
    for route in iter_route_contexts(request.app.routes):
        if route.matches(request.scope)[0] is not Match.NONE and route.methods:
            served.setdefault(route.path_format or "", set()).update(route.methods)
    if not served:
        return []
    return sorted(served[min(served, key=lambda path: path.count("{"))])
