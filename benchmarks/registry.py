"""Registry benchmark: CSV import against the leanest load of the same rows into SQLite.

The baseline reads the file with csv.reader and inserts the rows with one
executemany into a table of the same columns, in one transaction: no validation,
no templates, no duplicate check. Ours is `NumberRegistry.import_csv`. The report
adds the seconds and rows per second of one import of 1,000,000 rows (the goal: under
20 s), and the peak memory of one import at 50,000 and at 1,000,000 rows, each in a
fresh process: streaming keeps the two alike (the numbers of a file, seen once, are
not kept in the phone-parsing cache).

python -m benchmarks.registry 1000000   # one import of that many rows: seconds, CPU s, peak MB
"""

from __future__ import annotations

import csv
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from numsim import NumberRegistry

from .harness import Case, cpu_timed

ROWS = 50_000
GOAL_ROWS = 1_000_000  # imported in under 20 s, the goal
HEADER = ("e164", "provider", "max_concurrent_calls", "max_calls_per_hour", "templates", "label")
_AREAS = ("415", "212", "312", "206", "617", "303", "404", "512", "702", "305")


def write_rows(path: Path, rows: int) -> Path:
    """A valid CSV of `rows` distinct Plivo numbers (fiction-free NANP ranges)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for index in range(rows):
            area, rest = _AREAS[index // 990_000], index % 990_000
            e164 = f"+1{area}{201 + rest // 10_000}{rest % 10_000:04d}"
            writer.writerow((e164, "plivo", 5, 200, f"t{index % 50}", f"row {index}"))
    return path


class _Files:
    """CSV files by row count and fresh database paths, in one temporary directory."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="numsim-bench-")
        self._csv: dict[int, Path] = {}
        self._count = 0

    def csv(self, rows: int) -> Path:
        if rows not in self._csv:
            self._csv[rows] = write_rows(Path(self._dir.name) / f"{rows}.csv", rows)
        return self._csv[rows]

    def database(self) -> str:
        self._count += 1
        return os.path.join(self._dir.name, f"{self._count}.db")

    def close(self) -> None:
        self._dir.cleanup()


def import_once(csv_path: Path, database: str) -> None:
    with NumberRegistry(database) as registry:
        report = registry.import_csv(str(csv_path))
    assert report.ok, report


def baseline_once(csv_path: Path, database: str) -> None:
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"CREATE TABLE numbers ({', '.join(HEADER)}, PRIMARY KEY (e164))")
    with csv_path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        db.execute("BEGIN")
        db.executemany(f"INSERT INTO numbers VALUES ({', '.join('?' * len(HEADER))})", reader)
        db.execute("COMMIT")
    db.close()


def peak(rows: int) -> dict[str, float]:
    """Seconds (wall clock, and CPU: the wall clock grows when other jobs share the
    cores) and peak RSS (MB) of one `numsim` import of `rows` rows, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.registry", str(rows)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    seconds, cpu, megabytes = map(float, done.stdout.split())
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": megabytes}


def cases() -> Iterator[Case]:
    files = _Files()

    def subject(n: int) -> None:
        import_once(files.csv(n), files.database())

    def baseline(n: int) -> None:
        baseline_once(files.csv(n), files.database())

    small, large = peak(ROWS), peak(GOAL_ROWS)
    yield Case(
        "import_vs_sqlite_executemany",
        f"CSV import of {ROWS:,} numbers: NumberRegistry.import_csv (validated, templates, "
        "duplicates) vs csv.reader + one sqlite executemany of the same rows",
        cpu_timed(subject),
        cpu_timed(baseline),
        ops=ROWS,
        rounds=3,
        close=files.close,
        info={
            f"seconds_{GOAL_ROWS}_rows": large["seconds"],
            f"cpu_seconds_{GOAL_ROWS}_rows": large["cpu_seconds"],
            "rows_per_second": round(GOAL_ROWS / large["seconds"]),
            f"peak_rss_mb_{ROWS}_rows": small["peak_rss_mb"],
            f"peak_rss_mb_{GOAL_ROWS}_rows": large["peak_rss_mb"],
        },
    )


def main(rows: int) -> None:
    files = _Files()
    try:
        path = files.csv(rows)
        started, cpu = time.perf_counter(), time.process_time()
        import_once(path, files.database())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"{seconds:.3f} {cpu:.3f} {peak_kb / 1024:.1f}")
    finally:
        files.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
