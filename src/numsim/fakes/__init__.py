"""Fake provider APIs on 127.0.0.1 for tests (numsim's and yours): `FakeTwilio`,
`FakePlivo`, `FakeExotel`. Each answers the requests a dialer sends, in the provider's own JSON,
checks the account's Basic auth, scripts faults (`fail_next`), and posts status
callbacks signed as the provider signs them. Point an adapter at one with
`base_url=fake.url`. Reach them through `numsim.testing`."""

from __future__ import annotations

from .exotel import FakeExotel
from .plivo import FakePlivo
from .twilio import FakeTwilio

__all__ = ["FakeExotel", "FakePlivo", "FakeTwilio"]
