"""campaign_completion(): how long a pool takes to work through its campaigns, simulated
with an interval, beside the closed-form estimate that names the dominant limit."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from ..sim.run import CAMPAIGN_FINISHED, COMPLETION, replicate
from ..sim.scenario import Scenario
from .campaign import CampaignEstimate, campaign_estimate


@dataclass(frozen=True)
class CampaignCompletion:
    """Hours until every campaign is done (answered or out of attempts). A run whose
    campaigns had not finished by the scenario's end counts as lasting until then: with
    any such run (`at_least`), the figures are lower bounds."""

    hours: float  # mean over replications
    low: float  # confidence interval
    high: float
    finished: float  # share of runs whose campaigns finished within the horizon
    estimate: CampaignEstimate  # the closed form, and which limit dominates

    @property
    def binding_constraint(self) -> str:
        return self.estimate.binding_constraint

    @property
    def at_least(self) -> bool:
        """Whether some run did not finish (so the hours are a lower bound)."""
        return self.finished < 1.0


def campaign_completion(
    scenario: Scenario,
    *,
    replications: int = 10,
    seed: int = 0,
    confidence: float = 0.95,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> CampaignCompletion:
    """Simulate `scenario`'s campaigns `replications` times (in worker processes, as
    replicate() does) and put the closed-form estimate beside the result."""
    estimate = campaign_estimate(scenario)
    runs = replicate(
        scenario, replications, seed=seed, executor=executor, workers=workers, progress=progress
    )
    mean, low, high = runs.interval(COMPLETION, confidence)
    finished = runs.values(CAMPAIGN_FINISHED)
    return CampaignCompletion(mean, low, high, sum(finished) / len(finished), estimate)
