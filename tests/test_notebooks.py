"""The planner notebooks run top to bottom (documentation that cannot rot), what they
show is checked (a last cell, run in the notebook's own kernel, asserts its figures),
and their committed outputs are what the current code prints (`make notebooks`)."""

import difflib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))

# Per notebook: assertions on the variables it leaves, so a notebook that runs but says
# something wrong fails.
CHECKS = {
    "1-size-a-twilio-pool": """
assert second.reason == "busy" and set(reasons.values()) == {"busy"}  # one call per number
assert sizing.low >= 0.9 - sizing.tolerance and sizing.achieved >= 0.9 - sizing.tolerance
below = sizing.table.loc[sizing.numbers - 1]
assert not below["met"] and below["mean"] < 0.9  # one number fewer misses the target
assert sizing.numbers < sizing.erlang_numbers  # callers who give up unload the pool
assert sizing.binding_constraint == "concurrency"
assert capped_sizing.binding_constraint == "hourly_cap"
assert capped_sizing.numbers >= capped_sizing.floors["hourly_cap"] > sizing.numbers
assert capped_sizing.achieved >= 0.9 - capped_sizing.tolerance
levels = options.table["service_level"]
assert list(options.table.index) == [sizing.numbers - 2, sizing.numbers, sizing.numbers + 2]
assert levels.is_monotonic_increasing and levels.iloc[0] < 0.9 <= levels.iloc[2]
assert options.table.loc[sizing.numbers, "service_level_high"] >= 0.9
""",
    "2-compare-providers": """
twilio, plivo, exotel = (sizings[p] for p in ("twilio", "plivo", "exotel"))
assert twilio.numbers >= twilio.erlang_numbers - 1  # one channel a number: Erlang's count
assert plivo.erlang_numbers < plivo.floors["hourly_cap"] <= plivo.numbers
assert exotel.erlang_numbers < exotel.floors["hourly_cap"] <= exotel.numbers
assert {s.binding_constraint for s in (plivo, exotel)} == {"hourly_cap"}
assert twilio.numbers >= plivo.numbers and twilio.cost_per_month > plivo.cost_per_month
assert exotel.cost_per_month is None and comparison.loc["cost a month (USD)", "exotel"] == "in plan"
for s in sizings.values():
    assert s.achieved >= 0.9 - s.tolerance
""",
    "3-replay-a-campaign": """
rows = outcomes.to_dict("index")
assert rows["as recorded"]["attempts"] == len(log) == rows["as recorded"]["served"]
assert abs(rows["twice the load"]["attempts"] - 2 * len(log)) < 0.02 * len(log)
assert rows["+ 60 calls/hour per number"]["hourly_cap"] > 0
assert rows["+ calling hours 09:00-21:00"]["calling_hours"] > 0
redialled = rows["+ redials after 2 h"]
assert redialled["attempts"] > rows["twice the load"]["attempts"]
assert redialled["calling_hours"] > rows["+ calling hours 09:00-21:00"]["calling_hours"]
limited = rows["recorded + redials, 1 call per person per 4 h"]
redial_count = int((log["outcome"] == "no_answer").sum())
# every redial, and the few people the log itself calls twice within four hours
assert redial_count <= limited["destination_limit"] <= redial_count + 0.01 * len(log)
assert limited["served"] >= 0.99 * len(log)
assert set(by_hour.columns.astype(str)) == {"hourly_cap", "calling_hours"}
late = by_hour.index.hour >= 21
assert by_hour.loc[late, "hourly_cap"].sum() == 0 and by_hour.loc[late, "calling_hours"].sum() > 0
""",
    "4-time-of-day": """
assert list(hourly.index) == list(range(9, 21))
assert hourly["numbers"].idxmax() == 11
assert hourly["numbers"].max() > hourly.loc[13:17, "numbers"].max()  # the peak needs more
assert sizing.numbers == hourly["numbers"].max() > sizing.day_average_numbers  # every hour
assert sizing.achieved >= 0.9 - sizing.tolerance
afternoon, peak = served.columns
assert served.loc[11, afternoon] < 0.9 <= served.loc[11, peak]  # the fixed pool misses the peak
assert (served.loc[13:17, afternoon] >= 0.9).all() and (served[peak] >= 0.9).all()
assert day.table.loc[pools["afternoon"], "service_level_low"] >= 0.9  # the day hides the peak
""",
    "5-live-allocator": """
assert sorted(lease.number for lease in leases) == ["+12125550142", "+14155550100", "+14155550101"]
assert fourth.reason == "busy" and fourth.reasons["+13125550199"] == "not_compliant"
assert again.reason == "destination_limit" and again.retry_after == 3600
assert night.reason == "calling_hours" and night.retry_after == 11.5 * 3600
assert snapshot.counters["acquired"] == 4 and snapshot.counters["refused:busy"] == 1
assert request["data"]["From"] == call.lease.number and request["data"]["To"] == "+12125550147"
assert event.terminal and allocator.in_use(call.lease.number) == 0
""",
}
REDIS_CHECKS = """
assert shared.snapshot().counters["refused:busy"] == 1
"""


def execute(path, checks, cwd):
    """The notebook run in a fresh kernel started in `cwd` (a notebook finds its data
    wherever it runs), with `checks` appended as its last cell."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(checks))
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": cwd}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    return notebook


def printed(notebook):
    """Per code cell, what it printed and displayed as text (plots as their repr)."""
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        texts = []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stdout":
                texts.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                texts.append(output.data.get("text/plain", ""))
            elif output.output_type == "error":
                texts.append(output.ename)
        cells.append("".join(texts))
    return cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_what_it_says(path, monkeypatch, tmp_path):
    monkeypatch.delenv("NUMSIM_REDIS_URL", raising=False)
    assert path.stem in CHECKS, f"{path.name} has no checks in tests/test_notebooks.py"
    committed = printed(nbformat.read(path, as_version=4))
    now = printed(execute(path, CHECKS[path.stem], tmp_path))[: len(committed)]
    for index, (old, new) in enumerate(zip(committed, now, strict=True)):
        diff = "\n".join(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm=""))
        assert old == new, (
            f"{path.name}, code cell {index + 1}: the committed output is not what the code "
            f"prints now; run `make notebooks` and commit\n{diff}"
        )


def test_the_live_allocator_notebook_runs_against_redis(redis_server, monkeypatch, tmp_path):
    monkeypatch.setenv("NUMSIM_REDIS_URL", redis_server.url)  # the kernel inherits it
    path = next(p for p in NOTEBOOKS if p.stem == "5-live-allocator")
    execute(path, CHECKS[path.stem] + REDIS_CHECKS, tmp_path)
