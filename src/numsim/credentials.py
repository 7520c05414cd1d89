"""Credentials as references: numsim stores where a secret lives, never the secret.

Public names (provider adapters resolve credentials through them): `CredentialRef`
(`parse`, `resolve`), `CredentialError`, `CREDENTIALS_DIR_ENV`.

- ``env:NAME`` reads the environment variable NAME.
- ``file:NAME`` reads a file inside the credentials directory (the `directory`
  argument of `resolve`, else ``$NUMSIM_CREDENTIALS_DIR``); NAME is relative to it.
  A path that leads out of it (``..``, an absolute path elsewhere, a symlink
  pointing out) is refused: whoever writes a registry row must not choose which
  file of the machine is sent to a provider as a token.

No message of this module holds a secret or the text after ``env:`` when that is
not a variable name (it may be a secret pasted by mistake).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import NumsimError

__all__ = ["CREDENTIALS_DIR_ENV", "CredentialError", "CredentialRef"]

CREDENTIALS_DIR_ENV = "NUMSIM_CREDENTIALS_DIR"
_SCHEMES = ("env", "file")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_MAX_SECRET_BYTES = 64 * 1024  # a token is a few dozen bytes; more is the wrong file


class CredentialError(NumsimError, ValueError):
    """A credential reference that is malformed or cannot be resolved (never shows a secret)."""


@dataclass(frozen=True, slots=True)
class CredentialRef:
    """A pointer to a secret: ``env:NAME`` (environment variable) or ``file:NAME``.

    Only `resolve()` reads the secret, and only an adapter placing a call
    should call it. The reference itself is safe to show, store and export.
    """

    scheme: str
    target: str

    @classmethod
    def parse(cls, value: object) -> CredentialRef:
        """A reference from ``"env:NAME"`` / ``"file:NAME"``; CredentialError otherwise."""
        if isinstance(value, CredentialRef):
            return value
        if not isinstance(value, str):
            raise CredentialError(
                f"credentials must be a reference string like 'env:TWILIO_AUTH_TOKEN', "
                f"got {type(value).__name__}"
            )
        scheme, sep, target = value.strip().partition(":")
        if not sep or scheme not in _SCHEMES or not target:
            # Never echo the value: it may be a secret pasted by mistake.
            raise CredentialError(
                "credentials must be a reference like 'env:NAME' or 'file:NAME', "
                "not the secret itself (value hidden)"
            )
        if scheme == "env" and not _ENV_NAME.fullmatch(target):
            raise CredentialError(
                "env: must be followed by an environment variable name (letters, digits "
                "and _, not starting with a digit); the text given is hidden, it may be a secret"
            )
        if scheme == "file" and not target.isprintable():
            raise CredentialError("file: must be followed by a file name (value hidden)")
        return cls(scheme, target)

    def resolve(self, directory: str | os.PathLike[str] | None = None) -> str:
        """Read the secret now; CredentialError (without the secret) if it cannot be.

        ``file:`` references resolve inside `directory`, else ``$NUMSIM_CREDENTIALS_DIR``.
        """
        if self.scheme == "env":
            secret = os.environ.get(self.target)
            if not secret:
                raise CredentialError(f"environment variable {self.target} is not set")
            return secret
        return _read_secret(_inside(_credentials_dir(directory), self.target))

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"

    def __repr__(self) -> str:
        return f"CredentialRef({str(self)!r})"


def _credentials_dir(directory: str | os.PathLike[str] | None) -> Path:
    configured = directory if directory is not None else os.environ.get(CREDENTIALS_DIR_ENV)
    if not configured:
        raise CredentialError(
            f"file: credentials are read only inside a credentials directory: "
            f"set {CREDENTIALS_DIR_ENV}"
        )
    base = Path(configured)
    if not base.is_dir():
        raise CredentialError(f"the credentials directory {base} is not a directory")
    return base.resolve()


def _inside(base: Path, target: str) -> Path:
    path = (base / target).resolve()  # follows symlinks, so a link out is caught below
    if not path.is_relative_to(base):
        raise CredentialError(
            f"credential file {target} is outside the credentials directory {base}; refused"
        )
    return path


def _read_secret(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_SECRET_BYTES + 1)
    except OSError as error:
        raise CredentialError(f"cannot read credential file {path}: {error.strerror}") from None
    if len(data) > _MAX_SECRET_BYTES:
        raise CredentialError(f"credential file {path} is larger than 64 KiB: not a credential")
    secret = data.decode("utf-8", errors="replace").strip()
    if "\ufffd" in secret:  # not raised from UnicodeDecodeError: its context holds the bytes
        raise CredentialError(f"credential file {path} is not UTF-8 text")
    if not secret:
        raise CredentialError(f"credential file {path} is empty")
    return secret
