"""The planner notebooks run top to bottom (documentation that cannot rot), and what they
show is checked: a last cell, run in the notebook's own kernel, asserts its figures."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))

# Per notebook: assertions on the variables it leaves, so a notebook that runs but says
# something wrong fails.
CHECKS = {
    "pool-sizing": """
import math
assert table["blocked_fraction"].iloc[0] > table["blocked_fraction"].iloc[-1]  # more numbers
telling = table[table["erlang_b"] > 0.005]
gap = ((telling["blocked_fraction"] - telling["erlang_b"]).abs() / telling["erlang_b"]).mean()
assert gap < 0.3, f"simulated blocking strays {gap:.0%} from Erlang B"
assert max(result.busiest_rolling_hour().values()) <= 12  # the hourly cap holds
hours = summary["campaign_completion_hours"]
assert hours is not None and 0 < hours < math.inf
""",
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_what_it_says(path):
    notebook = nbformat.read(path, as_version=4)
    assert path.stem in CHECKS, f"{path.name} has no checks in tests/test_notebooks.py"
    notebook.cells.append(nbformat.v4.new_code_cell(CHECKS[path.stem]))
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
