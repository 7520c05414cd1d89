"""Providers registered once: each provider's adapter, default pacing and inbound answer.

`numsim.providers`, the service (one adapter per account in the registry), the inbound
webhook's answer and the CLI read this table; adding a provider is a `Provider` member,
an adapter module and one row here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..numbers import Provider

if TYPE_CHECKING:
    from .base import ProviderAdapter


@dataclass(frozen=True, slots=True)
class Registration:
    """How numsim talks to one provider."""

    provider: Provider
    adapter: str  # "module:Class" in numsim.providers, imported on first use (SDKs are optional)
    cps: float  # default pacing per account: calls (or API requests) a second
    # The XML element that rejects an inbound call on a full number (in a <Response>,
    # after a redirect to the answer URL otherwise); None: the provider's flow reads the
    # webhook's HTTP status instead (Exotel's Passthru applet: 200 go on, 302 busy).
    busy_element: str | None

    @property
    def class_name(self) -> str:
        return self.adapter.partition(":")[2]


PROVIDERS: Mapping[Provider, Registration] = MappingProxyType(
    {
        r.provider: r
        for r in (
            Registration(Provider.TWILIO, "twilio:TwilioAdapter", 1.0, '<Reject reason="busy"/>'),
            Registration(Provider.PLIVO, "plivo:PlivoAdapter", 2.0, '<Hangup reason="busy"/>'),
            Registration(Provider.EXOTEL, "exotel:ExotelAdapter", 200 / 60, None),
        )
    }
)


def registration(provider: Provider) -> Registration:
    """The provider's row; a clear error (not a KeyError) for one never registered."""
    found = PROVIDERS.get(provider)
    if found is None:
        raise ValueError(f"provider {provider.value!r} has no adapter registered in numsim")
    return found


def adapter_class(provider: Provider) -> type[ProviderAdapter]:
    """The provider's adapter class, imported now (it needs the providers extra)."""
    module, _, name = registration(provider).adapter.partition(":")
    try:
        imported = import_module(f"{__package__}.{module}")
    except ImportError as error:
        raise ImportError(
            f"{name} needs the providers extra: pip install 'numsim[providers]' ({error.name} "
            "is missing)"
        ) from None
    adapter: type[ProviderAdapter] = getattr(imported, name)
    return adapter
