"""Bearer-token auth for every route but the public ones, as ASGI middleware.

Middleware rather than a per-route dependency: a route added later is protected
without anyone remembering to (the OpenAPI document declares the scheme from the same
`is_public`). The token is compared in constant time and never echoed.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import NumsimError
from .asgi import send_error

TOKEN_VARIABLE = "NUMSIM_API_TOKEN"
MIN_TOKEN_LENGTH = 16
# Providers cannot send our token: their webhooks prove themselves by signature. A
# browser cannot send it either: the dashboard's pages check their own session cookie;
# the API's docs page, its files and the OpenAPI document are public (they describe the
# API; every call from them still needs the token).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/openapi.json", "/", "/dashboard"})
PUBLIC_PREFIXES = ("/callbacks/", "/docs/assets/", "/dashboard/")


class TokenError(NumsimError, ValueError):
    """No usable API token configured."""


def load_token(token_file: str | None = None) -> str:
    """The API token: from `token_file` if given, else $NUMSIM_API_TOKEN."""
    if token_file is not None:
        return load_secret(token_file, "token file")
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise TokenError(f"set ${TOKEN_VARIABLE} or give --token-file: the API needs a token")
    return check_token(token, f"${TOKEN_VARIABLE}")


def load_secret(path: str, what: str) -> str:
    """A secret read from a file (the API token, the dashboard password), checked as a token."""
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise TokenError(f"cannot read {what} {path}: {error.strerror}") from None
    return check_token(secret, f"{what} {path}")


def check_token(token: object, where: str = "the API token") -> str:
    if not isinstance(token, str) or len(token.strip()) < MIN_TOKEN_LENGTH:
        raise TokenError(f"{where} must be at least {MIN_TOKEN_LENGTH} characters")
    if not token.isascii() or any(c.isspace() for c in token.strip()):
        raise TokenError(f"{where} must be printable ASCII without spaces")
    return token.strip()


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class BearerAuth:
    """Refuses (401) a request to a protected path without `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = b"Bearer " + check_token(token).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(own_path(scope)):
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        reason = "missing bearer token" if not given else "wrong bearer token"
        message = f"{reason}: send Authorization: Bearer <token>"
        await send_error(send, 401, message, [(b"www-authenticate", b"Bearer")])


def own_path(scope: Scope) -> str:
    """The path inside this app, also when it is mounted under a prefix."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path
