"""Write calls.csv: one synthetic day of a collections campaign's outbound calls.

Run `python data/make_calls.py` to regenerate it (seeded, so the file is stable).
Arrivals follow a day profile (busy mornings and evenings, nothing outside
09:00-21:00 IST); a third of attempts are answered (lognormal talk, mean 150 s),
the rest ring out after 30 s.
"""

import csv
import math
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

PROFILE = {
    9: 150,
    10: 220,
    11: 240,
    12: 180,
    13: 120,
    14: 140,
    15: 170,
    16: 200,
    17: 230,
    18: 260,
    19: 220,
    20: 130,
}
ZONE = ZoneInfo("Asia/Kolkata")


def main() -> None:
    rng = random.Random(2026)
    day = datetime(2026, 1, 5, tzinfo=ZONE)
    rows = []
    for hour, per_hour in PROFILE.items():
        moment = day + timedelta(hours=hour)
        end = moment + timedelta(hours=1)
        while True:
            moment += timedelta(seconds=rng.expovariate(per_hour / 3600))
            if moment >= end:
                break
            answered = rng.random() < 1 / 3
            hold = 20 + rng.lognormvariate(math.log(150) - 0.32, 0.8) if answered else 30.0
            rows.append(
                {
                    "timestamp": moment.isoformat(timespec="seconds"),
                    "template": "collections",
                    "destination": f"+9198765{rng.randrange(100_000):05d}",
                    "holding_seconds": round(hold, 1),
                    "outcome": "answered" if answered else "no_answer",
                }
            )
    path = Path(__file__).with_name("calls.csv")
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} calls to {path}")


if __name__ == "__main__":
    main()
