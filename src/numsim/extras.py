"""Optional extras (redis, sim, ...): the install command that works where numsim runs."""

from __future__ import annotations

from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]  # src/numsim/ -> the source checkout, if any


def install_command(extra: str) -> str:
    """`pip install -e '<checkout>[extra]'` in a source checkout, else from PyPI."""
    pyproject = _CHECKOUT / "pyproject.toml"
    if pyproject.is_file() and 'name = "numsim"' in pyproject.read_text(encoding="utf-8"):
        return f"pip install -e '{_CHECKOUT}[{extra}]'"
    return f"pip install 'numsim[{extra}]'"


def missing_extra(extra: str, what: str, missing: ModuleNotFoundError) -> ModuleNotFoundError:
    """The error to raise when `what` needs `extra` and its module is not installed."""
    return ModuleNotFoundError(
        f"{what} needs the {extra} extra ({missing.name} is not installed): "
        f"{install_command(extra)}",
        name=missing.name,
    )
