"""numsim.sim: replay campaign load through the real allocator in simulated time.

from numsim.sim import Scenario, simulate
result = simulate(Scenario.from_toml("scenario.toml"), seed=1)
result.summary(); result.calls; result.plot_busy()
replicate(scenario, 10, seed=1).summary()  # 95% confidence intervals, in parallel
"""

from .distributions import Distribution
from .engine import SimClock
from .result import SimulationResult
from .run import Replications, replicate, simulate, sweep
from .scenario import (
    Arrivals,
    CallModel,
    Campaign,
    NumberGroup,
    Replay,
    Scenario,
    ScenarioError,
)

__all__ = [
    "Arrivals",
    "CallModel",
    "Campaign",
    "Distribution",
    "NumberGroup",
    "Replay",
    "Replications",
    "Scenario",
    "ScenarioError",
    "SimClock",
    "SimulationResult",
    "replicate",
    "simulate",
    "sweep",
]
