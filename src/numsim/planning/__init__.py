"""Planning: how many numbers a load needs.

The formulas (Erlang B and C, the campaign estimate, costs) need only the core;
size_pool() simulates, so it needs the sim extra and is imported on first use.
"""

import importlib
from typing import Any

from ..errors import PlanningError
from ..formulas.analytic import OfferedLoad, erlang_figures, offered_load
from ..formulas.erlang import (
    Impatient,
    erlang_b,
    erlang_c,
    mean_wait,
    offered_traffic,
    servers_for_blocking,
    servers_for_wait,
    wait_exceeds,
)
from .campaign import CampaignEstimate, campaign_estimate
from .cost import MONTHLY_PRICE_USD, cost_per_month, monthly_price
from .targets import FinishBy, MaxBlocking, MaxMeanWait, ServiceLevel, Target

_SIMULATED = {
    "CampaignCompletion": "completion",
    "CampaignEvaluation": "evaluation",
    "campaign_completion": "completion",
    "evaluate_campaign": "evaluation",
    "Evaluation": "evaluation",
    "evaluate": "evaluation",
    "IntervalSizing": "intervals",
    "size_intervals": "intervals",
    "Sizing": "sizing",
    "size_pool": "sizing",
}

__all__ = [
    "MONTHLY_PRICE_USD",
    "CampaignCompletion",
    "CampaignEstimate",
    "CampaignEvaluation",
    "Evaluation",
    "FinishBy",
    "Impatient",
    "IntervalSizing",
    "MaxBlocking",
    "MaxMeanWait",
    "OfferedLoad",
    "PlanningError",
    "ServiceLevel",
    "Sizing",
    "Target",
    "campaign_completion",
    "campaign_estimate",
    "cost_per_month",
    "erlang_b",
    "erlang_c",
    "erlang_figures",
    "evaluate",
    "evaluate_campaign",
    "mean_wait",
    "monthly_price",
    "offered_load",
    "offered_traffic",
    "servers_for_blocking",
    "servers_for_wait",
    "size_intervals",
    "size_pool",
    "wait_exceeds",
]


def __getattr__(name: str) -> Any:
    if name in _SIMULATED:
        module = importlib.import_module(f".{_SIMULATED[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'numsim.planning' has no attribute {name!r}")
