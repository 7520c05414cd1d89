"""Signing in (with the API token or the dashboard password) and out."""

from __future__ import annotations

import math

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .session import COOKIE, LIFETIME, VISIT_LIFETIME, Session
from .web import (
    base,
    client_address,
    dashboard,
    end_session,
    forbidden,
    from_another_site,
    guarded,
    over_tls,
    redirect,
    reload,
    render,
    session_of,
)


def _cookie(request: Request, response: Response, value: str, max_age: int) -> None:
    """HttpOnly, SameSite=Strict, scoped to the dashboard; Secure over TLS."""
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        path=base(request) or "/",
        secure=over_tls(request),
        httponly=True,
        samesite="strict",
    )


async def _visit(request: Request) -> tuple[Session, str | None]:
    """This visitor's session, or a new one (and its cookie) if it has none."""
    session = await session_of(request)
    if session is not None:
        return session, None
    return dashboard(request).sessions.start(signed_in=False)


async def sign_in_page(request: Request) -> Response:
    if from_another_site(request):
        return reload(request)
    session, cookie = await _visit(request)
    if session.signed_in:
        return redirect(request, "/numbers")
    return _sign_in_form(request, session, cookie, None)


def _sign_in_form(
    request: Request, session: Session, cookie: str | None, error: str | None, status: int = 200
) -> Response:
    context = {"secret_name": dashboard(request).secret_name, "error": error}
    response = render(request, session, "sign_in.html", context, status=status)
    if cookie is not None:
        _cookie(request, response, cookie, VISIT_LIFETIME)
    return response


async def sign_in(request: Request) -> Response:
    board = dashboard(request)
    session = await session_of(request)
    form = await request.form()
    if session is None or not board.sessions.csrf_ok(session, form.get("csrf")):
        return forbidden(request, session)
    address = client_address(request)
    wait = board.throttle.wait(address)
    if wait > 0:
        error = f"Too many failed sign-ins: try again in {math.ceil(wait)} s."
        return _sign_in_form(request, session, None, error, status=429)
    given = form.get("secret")
    if not isinstance(given, str) or not board.sessions.matches(given.strip()):
        board.throttle.failed(address)
        error = f"That is not {board.secret_words}."
        return _sign_in_form(request, session, None, error, status=401)
    _, cookie = board.sessions.start(signed_in=True)  # a new id: the visitor's is not reused
    await end_session(request, session)
    response = redirect(request, "/numbers")
    _cookie(request, response, cookie, LIFETIME)
    return response


@guarded
async def sign_out(request: Request, session: Session, form: FormData | None) -> Response:
    await end_session(request, session)
    response = redirect(request, "/sign-in")
    response.delete_cookie(COOKIE, path=base(request) or "/", httponly=True, samesite="strict")
    return response


@guarded
async def home(request: Request, session: Session, form: FormData | None) -> Response:
    return redirect(request, "/numbers")


ROUTES = [
    Route("/", home),
    Route("/sign-in", sign_in_page, methods=["GET"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/sign-out", sign_out, methods=["POST"]),
]
