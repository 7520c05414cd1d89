"""Optional extras (redis, sim, ...): the install command that works where numsim runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import NumsimError

_CHECKOUT = Path(__file__).resolve().parents[2]  # src/numsim/ -> the source checkout, if any


class MissingExtra(NumsimError, ModuleNotFoundError):
    """Something needs an extra that is not installed; the message says what to install.

    Still a ModuleNotFoundError for library callers; the CLI prints it as one line."""


def install_command(extra: str) -> str:
    """`pip install -e '<checkout>[extra]'` in a source checkout, else from PyPI."""
    pyproject = _CHECKOUT / "pyproject.toml"
    if pyproject.is_file() and 'name = "numsim"' in pyproject.read_text(encoding="utf-8"):
        return f"pip install -e '{_CHECKOUT}[{extra}]'"
    return f"pip install 'numsim[{extra}]'"


def missing_extra(extra: str, what: str, missing: ModuleNotFoundError) -> MissingExtra:
    """The error to raise when `what` needs `extra` and its module is not installed."""
    return MissingExtra(
        f"{what} needs the {extra} extra ({missing.name} is not installed): "
        f"{install_command(extra)}",
        name=missing.name,
    )


@contextmanager
def needs_extra(extra: str, what: str) -> Iterator[None]:
    """Imports inside that fail raise MissingExtra, naming `extra` and how to install it."""
    try:
        yield
    except MissingExtra:
        raise
    except ModuleNotFoundError as missing:
        raise missing_extra(extra, what, missing) from None
