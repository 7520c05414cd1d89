"""The pure formulas, below both the simulator and planning: Erlang B and C, M/M/c+D
(callers who give up), and a scenario's offered load in their terms. Core only (no
simulator needed); `numsim.planning` re-exports the public ones."""
