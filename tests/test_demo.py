"""The README's first command runs this demo; it must keep telling the truth."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_demo_places_calls_and_shows_each_rule():
    result = subprocess.run(
        [sys.executable, "-m", "numsim", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout
    assert "added 9" in out
    assert "refused: busy (3 busy, 1 not_compliant)" in out
    assert "refused: calling_hours, retry after 3600 s" in out
    assert "refused: destination_limit" in out
    assert "Inbound callback rings +912240000011" in out
    assert "acquired=" in out and "refused:busy=1" in out
