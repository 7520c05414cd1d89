"""`numsim serve`: the Numbers API, allocation over HTTP, provider webhooks and metrics."""

from __future__ import annotations

import argparse
import logging
import re
import socket
from typing import Any

from ..allocator import DEFAULT_CALLING_HOURS, DestinationLimit
from ..errors import RegistryError
from ..extras import needs_extra
from ..providers.base import is_url
from ..validation import finite, whole
from .numbers import DEFAULT_DB, _db, pairs


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the HTTP service (Numbers API, allocation, webhooks, metrics)",
        description="Every route but /callbacks/*, /healthz, /readyz, the API docs "
        "(/docs, /openapi.json) and the dashboard needs 'Authorization: Bearer <token>' "
        "($NUMSIM_API_TOKEN or --token-file). The dashboard (/) is signed into with the "
        "token, or --dashboard-password-file. Serve it behind a TLS-terminating reverse "
        "proxy.",
    )
    parser.add_argument("--db", help=f"registry file (default: $NUMSIM_DB or {DEFAULT_DB})")
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="share one pool: redis://host:port/db (a cluster: redis+cluster://host:port)",
    )
    parser.add_argument("--namespace", default="numsim", help="Redis namespace (default numsim)")
    parser.add_argument(
        "--replicas",
        type=int,
        default=0,
        metavar="N",
        help="with --redis: each allocation, release and renewal returns once N replicas "
        "have it (WAIT), so a failover keeps it; else 503 (default 0: no wait)",
    )
    parser.add_argument(
        "--replica-timeout",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how long to wait for the replicas (default 1)",
    )
    parser.add_argument(
        "--replace-policy",
        action="store_true",
        help="with --redis: replace the namespace's policy (lease TTL, destination limit, "
        "...) if other workers run it with another; without it such a start is refused",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--token-file", help="file holding the API token")
    parser.add_argument(
        "--dashboard-password-file",
        metavar="FILE",
        help="sign into the dashboard with the password in FILE (at least 16 characters) "
        "instead of the API token",
    )
    parser.add_argument(
        "--no-dashboard",
        dest="dashboard",
        action="store_false",
        help="serve the API only, without the dashboard at /",
    )
    parser.add_argument(
        "--public-url",
        help="the URL providers call this service at, e.g. https://numsim.example.com "
        "(webhook signatures cover it)",
    )
    parser.add_argument(
        "--trust-proxy",
        action="store_true",
        help="take the public URL from X-Forwarded-Proto/Host, and a dashboard visitor's "
        "address from X-Forwarded-For (only behind your proxy)",
    )
    parser.add_argument(
        "--inbound-url",
        action="append",
        default=[],
        metavar="[TEMPLATE=]URL",
        help="where an inbound call goes when its number has a free channel (your TwiML or "
        "Plivo XML); TEMPLATE=URL for the numbers of one template (repeat it), beside a "
        "default URL; without one inbound calls are rejected",
    )
    parser.add_argument(
        "--when-busy",
        default="reject",
        metavar="reject|URL",
        help="an inbound call to a full number: reject it as busy (default), or send it to URL",
    )
    parser.add_argument(
        "--twilio-shared-key",
        action="append",
        default=[],
        metavar="ACCOUNT=REF",
        help="a Twilio account's webhooks SharedKey secret, as a reference (env:NAME or "
        "file:NAME), to verify webhooks signed with it (HMAC-SHA256)",
    )
    parser.add_argument(
        "--provider-url",
        action="append",
        default=[],
        metavar="PROVIDER=URL",
        help="send a provider's API requests to URL instead of its public API (a staging "
        "endpoint, or numsim.testing.FakeTwilio), e.g. twilio=http://127.0.0.1:9000",
    )
    parser.add_argument(
        "--calling-hours",
        action="store_true",
        help="refuse calls outside the destination's calling hours (India 09:00-21:00, "
        "US 08:00-21:00, local time)",
    )
    parser.add_argument(
        "--destination-limit",
        metavar="CALLS/SECONDS",
        help="at most CALLS calls to one destination per SECONDS, e.g. 1/3600",
    )
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="close a connection whose request headers take longer, or whose body pauses "
        "longer, than this (default 10)",
    )
    parser.add_argument(
        "--sync-interval",
        type=float,
        default=2.0,
        help="seconds between re-reads of the registry for changes by other processes",
    )
    parser.add_argument(
        "--no-per-number-metrics",
        dest="per_number_metrics",
        action="store_false",
        help="leave each number's series out of /metrics (for very large pools; the "
        "per-template series stay)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with needs_extra("service", "numsim serve"):
        import uvicorn

        from ..service import create_app
        from ..service.auth import TokenError, load_secret, load_token
        from ..service.protocol import timed_protocol
    from ..registry import NumberRegistry

    try:
        token = load_token(args.token_file)
        password = None
        if args.dashboard_password_file is not None:
            password = load_secret(args.dashboard_password_file, "dashboard password file")
    except TokenError as error:
        raise ValueError(str(error)) from None
    whole("--port", args.port, minimum=1, maximum=65535)
    finite("--sync-interval", args.sync_interval, inclusive=False, error=RegistryError)
    options: dict[str, Any] = {}
    if args.calling_hours:
        options["calling_hours"] = DEFAULT_CALLING_HOURS
    if args.destination_limit:
        options["destination_limit"] = _destination_limit(args.destination_limit)
    if args.redis:
        from ..allocator.redis import RedisBackend

        options["backend"] = RedisBackend(
            args.redis,
            namespace=args.namespace,
            replicas=args.replicas,
            replica_timeout=args.replica_timeout,
            replace_policy=args.replace_policy,
        )
    if args.when_busy != "reject" and not is_url(args.when_busy):
        raise ValueError(f"--when-busy must be 'reject' or an http(s) URL, got {args.when_busy!r}")
    defaults = [url for url in args.inbound_url if is_url(url)]
    per_template = pairs(
        "--inbound-url",
        "an http(s) URL or TEMPLATE=URL",
        [u for u in args.inbound_url if not is_url(u)],
    )
    protocol = timed_protocol(args.read_timeout)
    _check_address(args.host, args.port)
    path = _db(args)
    registry = NumberRegistry(path, create=True)
    app = create_app(
        registry,
        token=token,
        public_url=args.public_url,
        inbound_url=defaults[-1] if defaults else None,
        inbound_urls=per_template,
        busy_url=None if args.when_busy == "reject" else args.when_busy,
        provider_urls=pairs("--provider-url", "PROVIDER=URL", args.provider_url),
        twilio_shared_keys=pairs(
            "--twilio-shared-key", "ACCOUNT=REF", args.twilio_shared_key, echo=False
        ),
        trust_proxy=args.trust_proxy,
        sync_interval=args.sync_interval,
        per_number_metrics=args.per_number_metrics,
        dashboard=args.dashboard,
        dashboard_password=password,
        **options,
    )
    try:
        logging.getLogger("uvicorn.access").addFilter(_hide_query_values)
        uvicorn.run(
            app,
            http=protocol,
            host=args.host,
            port=args.port,
            log_level="info",
            proxy_headers=args.trust_proxy,
            server_header=False,
        )
    finally:
        registry.close()
        backend = options.get("backend")
        if backend is not None:  # the app's allocator closed it too; closing is idempotent
            backend.close()
    return 0


def _check_address(host: str, port: int) -> None:
    """Bind where uvicorn will, and let go: a port in use or a host that is not this
    machine's is one line here, where uvicorn would log its own error and exit 3. (A
    process that takes the port in between still gets uvicorn's error.)"""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ValueError(f"--host {host}: {error.strerror}") from None
    for family, kind, proto, _, address in addresses:  # asyncio listens on each, like this
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as error:
                raise ValueError(
                    f"cannot listen on {host} port {port} (--host, --port): {error.strerror}"
                ) from None


def _destination_limit(text: str) -> DestinationLimit:
    calls, _, seconds = text.partition("/")
    try:
        max_calls, per_seconds = int(calls), float(seconds)
    except ValueError:
        raise ValueError(
            f"--destination-limit must be CALLS/SECONDS such as 1/3600, got {text!r}"
        ) from None
    return DestinationLimit(max_calls, per_seconds)  # its own errors name the bad part


_QUERY_VALUE = re.compile(r"([?&][^=&\s]*=)[^&\s]*")


def _hide_query_values(record: logging.LogRecord) -> bool:
    """Access log lines keep their paths and query field names, never the values: a
    query may carry a token sent by mistake, or the MAC of an Exotel callback URL (with
    it, anyone reading the logs could forge those callbacks)."""
    if isinstance(record.args, tuple):
        record.args = tuple(
            _QUERY_VALUE.sub(r"\1(hidden)", a) if isinstance(a, str) else a for a in record.args
        )
    return True
