"""What every dashboard page shares: rendering, the session guard (and its CSRF check),
redirects within the dashboard, what a trusted proxy says of the browser, and the
security headers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import STATUS
from .session import COOKIE, Session

if TYPE_CHECKING:
    from . import Dashboard

Handler = Callable[[Request, Session, FormData | None], Awaitable[Response]]

# Pages load nothing from elsewhere and run only the dashboard's own script.
HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def dashboard(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


def base(request: Request) -> str:
    """The dashboard's own path (with any prefix it is mounted under), for links."""
    root: str = request.scope.get("root_path", "")
    return root


def over_tls(request: Request) -> bool:
    """Whether the browser reached us over HTTPS: directly, or (with trust_proxy) as the
    proxy in front says in X-Forwarded-Proto; the session cookie is Secure then."""
    scheme = request.url.scheme
    if dashboard(request).trust_proxy:
        scheme = request.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
    return scheme == "https"


def client_address(request: Request) -> str:
    """The browser's address, which the sign-in throttle counts failures by. With
    trust_proxy, the last X-Forwarded-For entry: the one our proxy appended (those
    before it are the browser's to choose); without, the connection's own, so a
    proxy in front puts every browser behind one address."""
    address = request.client.host if request.client else "unknown"
    if dashboard(request).trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
        return forwarded or address
    return address


def link(request: Request, path: str, **query: object) -> str:
    """A path inside the dashboard, its query encoded (a number's + stays a +)."""
    given = {k: v for k, v in query.items() if v not in (None, "")}
    return base(request) + path + ("?" + urlencode(given, quote_via=quote) if given else "")


def redirect(request: Request, path: str, **query: object) -> RedirectResponse:
    return RedirectResponse(link(request, path, **query), status_code=303)


def render(
    request: Request,
    session: Session | None,
    page: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> HTMLResponse:
    template = dashboard(request).pages.get_template(page)
    html = template.render(
        base=base(request),
        link=functools.partial(link, request),
        csrf=session.csrf if session else "",
        signed_in=bool(session and session.signed_in),
        current=page.removesuffix(".html"),
        **context,
    )
    return HTMLResponse(html, status_code=status)


async def session_of(request: Request) -> Session | None:
    """The request's session, if its cookie holds a live one. Off the event loop: the
    sign-outs may be read from Redis."""
    sessions = dashboard(request).sessions
    return await run_in_threadpool(sessions.read, request.cookies.get(COOKIE))


async def end_session(request: Request, session: Session) -> None:
    """Refuse `session`'s cookie from now on (off the event loop, as session_of)."""
    await run_in_threadpool(dashboard(request).sessions.end, session)


def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page for signed-in sessions only: others go to sign in. A POST must carry the
    session's CSRF token (the form's hidden `csrf` field), else 403 and nothing changes."""

    @functools.wraps(handler)
    async def page(request: Request) -> Response:
        session = await session_of(request)
        if session is None or not session.signed_in:
            if from_another_site(request):
                return reload(request)
            return redirect(request, "/sign-in")
        form = None
        if request.method == "POST":
            form = await request.form()
            if not dashboard(request).sessions.csrf_ok(session, form.get("csrf")):
                return forbidden(request, session)
        return await handler(request, session, form)

    return page


def from_another_site(request: Request) -> bool:
    """Whether a link on another site led here (the browser's Sec-Fetch-Site): the
    browser then leaves the SameSite=Strict session cookie off, if it holds one."""
    cross = request.headers.get("sec-fetch-site") == "cross-site"
    return cross and request.method in ("GET", "HEAD")


def reload(request: Request) -> HTMLResponse:
    """The same page, asked for again by itself: same-site, so with the session cookie
    if the browser holds one. It sets no cookie (a visitor's would replace the session's)."""
    return render(request, None, "reload.html", {})


async def error_page(request: Request, exc: Exception) -> Response:
    """A numsim error no form took (the registry locked by another process, Redis down):
    its message on a page, with the status the API gives it; never a traceback."""
    status = next((code for kind, code in STATUS if isinstance(exc, kind)), 500)
    session = await session_of(request)
    return render(request, session, "error.html", {"message": str(exc)}, status=status)


async def missing_page(request: Request, exc: Exception) -> Response:
    """An address the dashboard has no page at (404), or a method it does not take
    (405): the dashboard's own page, not a bare "Not Found"."""
    status, message = 404, "The dashboard has no page at this address."
    if isinstance(exc, HTTPException) and exc.status_code != 404:
        status, message = exc.status_code, exc.detail
    session = await session_of(request)
    return render(request, session, "error.html", {"message": message}, status=status)


def forbidden(request: Request, session: Session | None) -> HTMLResponse:
    message = "This form has expired or did not come from this dashboard: nothing was changed."
    return render(request, session, "error.html", {"message": message}, status=403)


class SecurityHeaders:
    """Adds HEADERS to every dashboard response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {name.lower() for name, _ in headers}
                for name, value in HEADERS.items():
                    if name.encode() not in have:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
