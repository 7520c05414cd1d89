"""What a pool costs a month in number rental, so providers compare for the same load.

The defaults are the providers' published list prices of one US local number, in
US dollars a month (Twilio $1.15, Plivo $0.50). Exotel sells numbers inside its
plans rather than one by one, so it has no default: pass your contract's prices
(`prices={"exotel": ...}`), which override any default. Call minutes are not
included: they scale with the load, not with the pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..errors import PlanningError
from ..numbers import Provider
from ..validation import finite

MONTHLY_PRICE_USD: Mapping[str, float] = MappingProxyType({"twilio": 1.15, "plivo": 0.50})


def monthly_price(provider: str, prices: Mapping[str, float] | None = None) -> float | None:
    """The monthly price of one number of `provider`: `prices`, then the defaults; None
    when neither knows it."""
    name = Provider(provider).value
    table = {**MONTHLY_PRICE_USD, **(prices or {})}
    price = table.get(name)
    if price is None:
        return None
    return finite(f"the monthly price of a {name} number", price, error=PlanningError)


def cost_per_month(
    provider: str, numbers: int, prices: Mapping[str, float] | None = None
) -> float | None:
    """Monthly rental of `numbers` numbers of `provider` (None when its price is unknown)."""
    price = monthly_price(provider, prices)
    return None if price is None else round(price * numbers, 2)
