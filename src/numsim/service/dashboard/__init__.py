"""The Numbers dashboard: server-rendered pages over one service's registry and
allocator, mounted by `create_app` at /dashboard (and / leads there).

Its pages call the registry and the allocator in Python, not the HTTP API; the API's
bearer token is not accepted here and the dashboard's cookie is not accepted there.
Everything a page loads ships in this package (pages/, static/): no CDN.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ...allocator.callmap import CallMapSupport
from ...errors import NumsimError
from ..state import Service
from . import live, numbers, pools, signin
from .session import Sessions, SignOuts, Throttle
from .state import Live
from .web import SecurityHeaders, error_page, missing_page

HERE = Path(__file__).parent
PREFIX = "/dashboard"


class Dashboard:
    """The dashboard of `service`, signed into with `secret` (the API token, or the
    dashboard password if `password`); with `trust_proxy`, the X-Forwarded-Proto and
    X-Forwarded-For of the proxy in front are believed."""

    def __init__(
        self, service: Service, secret: str, *, password: bool = False, trust_proxy: bool = False
    ) -> None:
        self.service = service
        self.trust_proxy = trust_proxy
        backend = service.allocator.backend
        shared = backend.call_map() if isinstance(backend, CallMapSupport) else None
        self.sessions = Sessions(secret, signed_out=SignOuts(shared, service.allocator.clock))
        self.throttle = Throttle()
        self.live = Live(service.allocator)
        self.secret_name = "Password" if password else "API token"  # the field's label
        self.secret_words = "the dashboard password" if password else "the API token"
        self.pages = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "pages"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        routes = [
            *signin.ROUTES,
            *numbers.ROUTES,
            *pools.ROUTES,
            *live.ROUTES,
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        handlers = {NumsimError: error_page, HTTPException: missing_page}
        self.app = Starlette(routes=routes, exception_handlers=handlers)
        self.app.state.dashboard = self
        self.app.add_middleware(SecurityHeaders)


__all__ = ["PREFIX", "Dashboard"]
