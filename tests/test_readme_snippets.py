"""The README's Python snippets run as written, on the sample data (the dialer service
and the FakeTwilio example have their own tests in test_readme_dialer.py)."""

import re
import shutil
from pathlib import Path

import numsim

ROOT = Path(__file__).resolve().parents[1]


def run(name):
    """Run the ```python block after `<!-- name -->`; its namespace."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(rf"<!-- {name} -->\n```python\n(.*?)```", text, re.S)
    assert block, f"README.md lost its {name} snippet"
    namespace = {"__name__": "readme", "numsim": numsim}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    return namespace


def test_the_allocation_snippet_leases_and_releases():
    ns = run("allocating")
    assert ns["lease"].number == "+912240000011" and ns["lease"].call_id == "call-42"
    assert ns["allocator"].in_use("+912240000011") == 0
    assert ns["allocator"].release(ns["lease"]) is False  # idempotent, as it says


def test_the_registry_snippet_runs_on_the_sample_data(tmp_path, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data" / "numbers.csv", tmp_path / "data" / "numbers.csv")
    monkeypatch.chdir(tmp_path)
    ns = run("registry")
    registry = ns["registry"]
    try:
        assert ns["report"].ok and capsys.readouterr().out.startswith("added 9,")
        assert registry.get("+14155550100").max_calls_per_hour == 30
        assert registry.templates_of("+14155550100") == []  # still registered, unassigned
        assert registry.templates_of("+14155550102") == ["us-appointments"]
    finally:
        registry.close()
