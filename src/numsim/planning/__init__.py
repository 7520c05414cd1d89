"""Planning: Erlang bounds for sizing number pools (simulated sizing builds on these)."""

from .erlang import (
    erlang_b,
    erlang_c,
    mean_wait,
    offered_traffic,
    servers_for_blocking,
    servers_for_wait,
    wait_exceeds,
)

__all__ = [
    "erlang_b",
    "erlang_c",
    "mean_wait",
    "offered_traffic",
    "servers_for_blocking",
    "servers_for_wait",
    "wait_exceeds",
]
