"""Credentials as references: numsim stores where a secret lives, never the secret."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_SCHEMES = ("env", "file")


class CredentialError(ValueError):
    """A credential reference that is malformed or cannot be resolved."""


@dataclass(frozen=True, slots=True)
class CredentialRef:
    """A pointer to a secret: ``env:NAME`` (environment variable) or ``file:PATH``.

    Only `resolve()` reads the secret, and only an adapter placing a call
    should call it. The reference itself is safe to show, store and export.
    """

    scheme: str
    target: str

    @classmethod
    def parse(cls, value: object) -> CredentialRef:
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
                "credentials must be a reference like 'env:NAME' or 'file:PATH', "
                "not the secret itself (value hidden)"
            )
        if scheme == "env" and not target.replace("_", "").isalnum():
            raise CredentialError(f"env credential {target!r} is not a variable name")
        return cls(scheme, target)

    def resolve(self) -> str:
        """Read the secret now. Raises CredentialError (without the secret) if missing."""
        if self.scheme == "env":
            secret = os.environ.get(self.target)
            if not secret:
                raise CredentialError(f"environment variable {self.target} is not set")
            return secret
        try:
            return Path(self.target).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise CredentialError(
                f"cannot read credential file {self.target}: {error.strerror}"
            ) from None

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"

    def __repr__(self) -> str:
        return f"CredentialRef({str(self)!r})"
