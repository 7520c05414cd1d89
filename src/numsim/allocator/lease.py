"""Leases: what an acquisition hands back, and what a release gives back."""

from __future__ import annotations

from dataclasses import dataclass

LeaseId = str  # opaque, unique across processes and restarts


@dataclass(slots=True, eq=False)
class Lease:
    """One call's hold on one channel of one number.

    `expires_at` (the backend's clock, epoch seconds) moves when the lease is
    renewed; a lease not renewed or released by then gives its channel back.
    """

    id: LeaseId
    number: str
    template: str | None
    destination: str | None
    call_id: str | None
    expires_at: float
    inbound: bool = False

    def __repr__(self) -> str:
        kind = "inbound" if self.inbound else f"{self.template} -> {self.destination}"
        return f"<Lease {self.id} {self.number} {kind}>"
