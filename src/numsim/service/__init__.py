"""numsim.service: the HTTP service (`numsim serve`), and a Prometheus collector.

Needs the service extra. `AllocatorCollector` needs only prometheus-client, so it is
imported without FastAPI: `from numsim.service.metrics import AllocatorCollector`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import create_app
    from .metrics import AllocatorCollector

__all__ = ["AllocatorCollector", "create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "AllocatorCollector":
        from .metrics import AllocatorCollector

        return AllocatorCollector
    raise AttributeError(f"module 'numsim.service' has no attribute {name!r}")
