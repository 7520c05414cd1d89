"""create_app: the numsim service as an ASGI app, to run with `numsim serve` or to
mount in your own (`your_app.mount("/numsim", create_app(...))`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..allocator import Allocator
from ..credentials import CredentialRef
from ..numbers import Provider
from ..providers.base import ProviderAdapter, base_url_of, is_url
from ..registry import NumberRegistry
from . import errors, openapi
from .auth import BearerAuth, check_token
from .dashboard import PREFIX as DASHBOARD
from .dashboard import Dashboard
from .dashboard.state import SAMPLE_EVERY
from .limits import DEFAULT_LIMIT, IMPORT_LIMIT, BodyLimit
from .query import known_fields_only
from .routes import allocations, callbacks, calls, checks, numbers, ops, templates
from .state import Service

log = logging.getLogger("numsim.service")
DEFAULT_SYNC_INTERVAL = 2.0


def create_app(
    registry: NumberRegistry,
    *,
    token: str,
    allocator: Allocator | None = None,
    adapters: Iterable[ProviderAdapter] | None = None,
    provider_urls: Mapping[str, str] | None = None,
    twilio_shared_keys: Mapping[str, str] | None = None,
    public_url: str | None = None,
    inbound_url: str | None = None,
    inbound_urls: Mapping[str, str] | None = None,
    busy_url: str | None = None,
    trust_proxy: bool = False,
    sync_interval: float | None = DEFAULT_SYNC_INTERVAL,
    body_limit: int = DEFAULT_LIMIT,
    import_limit: int = IMPORT_LIMIT,
    per_number_metrics: bool = True,
    dashboard: bool = True,
    dashboard_password: str | None = None,
    **allocator_options: Any,
) -> FastAPI:
    """The service over `registry`.

    `token`: the bearer token every route but webhooks and health checks requires.
    `allocator`: default `Allocator.from_registry(registry, **allocator_options)` (give
    `backend=RedisBackend(...)` there to share one pool between processes).
    `adapters`: the provider accounts webhooks verify against; default one per account
    the registry's numbers name, sending to `provider_urls[provider]` where given (a
    staging API, or numsim.testing.FakeTwilio). `twilio_shared_keys`: Twilio Account SID
    -> reference to its webhooks SharedKey secret, for webhooks signed with it.
    `public_url`: the URL providers call this app at (signatures cover it); else, with
    `trust_proxy`, X-Forwarded-Proto/Host decide (and for the dashboard, X-Forwarded-Proto
    whether its cookie is Secure, X-Forwarded-For's last entry whose sign-ins it throttles).
    `inbound_url`: where an inbound call goes when its number has a free channel (your
    TwiML / Plivo XML), or `inbound_urls[template]` for a number of that template (the
    first such template by name, for a number of several); `busy_url`: where it goes
    when the number is full (None: it is rejected as busy). Without `inbound_url`,
    inbound calls are rejected.
    `sync_interval`: seconds between re-reads of the registry, for changes made by
    other processes (None: only this app's own changes).
    `per_number_metrics`: False leaves each number's series out of /metrics (for very
    large pools; the per-template series stay).
    `dashboard`: serve the Numbers dashboard at /dashboard (/ leads there), signed into
    with the API token, or with `dashboard_password` if given (then only with it)."""
    token = check_token(token)
    if dashboard_password is not None:
        dashboard_password = check_token(dashboard_password, "the dashboard password")
    for name, url in (("public URL", public_url), ("inbound URL", inbound_url)):
        if url is not None and not is_url(url):
            raise ValueError(f"the {name} must be an http(s) URL, got {url!r}")
    for template, url in (inbound_urls or {}).items():
        if not is_url(url):
            raise ValueError(
                f"template {template}'s inbound URL must be an http(s) URL, got {url!r}"
            )
    if inbound_urls and inbound_url is None:
        raise ValueError("inbound URLs per template need a default inbound URL as well")
    if busy_url is not None and not is_url(busy_url):
        raise ValueError(f"the busy URL must be an http(s) URL, got {busy_url!r}")
    owned = allocator is None
    if allocator is None:
        allocator = Allocator.from_registry(registry, **allocator_options)
    elif allocator_options:
        raise TypeError("give allocator options or an allocator, not both")
    for reference in (twilio_shared_keys or {}).values():
        CredentialRef.parse(reference)  # a reference, never a pasted secret
    service = Service(
        registry,
        allocator,
        adapters,
        _provider_urls(provider_urls or {}),
        twilio_shared_keys,
        per_number_metrics=per_number_metrics,
    )
    board = None
    if dashboard:
        board = Dashboard(
            service,
            dashboard_password or token,
            password=dashboard_password is not None,
            trust_proxy=trust_proxy,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if sync_interval:
            tasks.append(
                asyncio.create_task(_every(sync_interval, service.refresh, "registry sync"))
            )
        if board is not None:
            tasks.append(
                asyncio.create_task(_every(SAMPLE_EVERY, board.live.sample, "pool sample"))
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            # The allocator this app made is its to close (its threads, and the backend
            # it was given for it); the registry and a given allocator are the caller's.
            if owned:
                await allocator.aclose()

    app = FastAPI(
        title="numsim",
        summary="Outbound number pools: the Numbers API, allocation, provider webhooks.",
        lifespan=lifespan,
        docs_url=None,  # openapi.install serves /docs from the package, not a CDN
        redoc_url=None,
        dependencies=[Depends(known_fields_only)],
    )
    app.state.numsim = service
    app.state.public_url = public_url
    app.state.trust_proxy = trust_proxy
    app.state.inbound = callbacks.Inbound(inbound_url, busy_url, dict(inbound_urls or {}))
    errors.install(app)
    openapi.install(app)
    for module in (checks, numbers, templates, allocations, calls, callbacks, ops):
        app.include_router(module.router)
    if board is not None:
        app.mount(DASHBOARD, board.app)
        for path in ("/", DASHBOARD):  # a path, not a URL: the browser keeps its origin
            app.add_api_route(path, _to_dashboard, include_in_schema=False)
    app.add_middleware(BodyLimit, limit=body_limit, import_limit=import_limit)
    app.add_middleware(BearerAuth, token=token)  # added last: runs first
    return app


def _provider_urls(given: Mapping[str, str]) -> dict[Provider, str]:
    urls = {}
    for name, url in given.items():
        provider = Provider(name)
        urls[provider] = base_url_of(url) or ""
    return urls


async def _every(interval: float, work: Callable[[], object], what: str) -> None:
    """Run `work` off the event loop every `interval` seconds, until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(work)
        except Exception as error:  # keep serving; the next round tries again
            log.warning("%s failed: %s", what, error)


def _to_dashboard(request: Request) -> RedirectResponse:
    root: str = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}{DASHBOARD}/", status_code=303)
