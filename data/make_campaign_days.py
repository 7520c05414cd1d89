"""Write campaign_days.csv: three weekdays of a reminders campaign's outbound attempts.

Run `python data/make_campaign_days.py` to regenerate it (seeded, so the file is stable).
New contacts arrive in an intraday shape (a morning peak at 10:00-12:00, a lunch dip,
a smaller evening peak), only inside 09:00-21:00 IST. The chance a call is answered
depends on the hour (low at lunch, higher in the evening); an unanswered contact is
redialled after two hours, at most three attempts, and a redial that would fall
after 21:00 moves into 09:00-10:00 the next morning.
"""

import csv
import heapq
import math
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# New contacts dialled per hour, by local hour (09:00-20:59).
NEW_PER_HOUR = {
    9: 150,
    10: 380,
    11: 420,
    12: 260,
    13: 80,
    14: 100,
    15: 130,
    16: 160,
    17: 200,
    18: 250,
    19: 180,
    20: 60,
}
# Share of attempts answered, by local hour.
ANSWER_RATE = {
    9: 0.30,
    10: 0.33,
    11: 0.33,
    12: 0.28,
    13: 0.22,
    14: 0.26,
    15: 0.30,
    16: 0.32,
    17: 0.36,
    18: 0.40,
    19: 0.42,
    20: 0.38,
}
DAYS = 3
MAX_ATTEMPTS = 3
REDIAL_GAP = timedelta(hours=2)
RING_OUT_SECONDS = 30.0
OPEN, CLOSE = 9, 21
ZONE = ZoneInfo("Asia/Kolkata")
FIRST_DAY = datetime(2026, 1, 12, tzinfo=ZONE)  # a Monday


def within_hours(moment: datetime, rng: random.Random) -> datetime:
    """The moment, or a moment in the next 09:00-10:00 when it falls outside calling hours
    (spread over the hour, as a dialler works through its overnight backlog)."""
    if OPEN <= moment.hour < CLOSE:
        return moment
    day = moment if moment.hour < OPEN else moment + timedelta(days=1)
    opening = day.replace(hour=OPEN, minute=0, second=0, microsecond=0)
    return opening + timedelta(seconds=rng.uniform(0, 3600))


def main() -> None:
    rng = random.Random(2027)
    # (when, contact id, attempt): first attempts of every day, then redials as they fall due.
    due: list[tuple[datetime, int, int]] = []
    contacts = 0
    for day in range(DAYS):
        for hour, per_hour in NEW_PER_HOUR.items():
            moment = FIRST_DAY + timedelta(days=day, hours=hour)
            end = moment + timedelta(hours=1)
            while True:
                moment += timedelta(seconds=rng.expovariate(per_hour / 3600))
                if moment >= end:
                    break
                due.append((moment, contacts, 1))
                contacts += 1
    heapq.heapify(due)
    destinations = rng.sample(range(10_000_000), contacts)
    last = FIRST_DAY + timedelta(days=DAYS - 1, hours=CLOSE)
    rows = []
    while due:
        moment, contact, attempt = heapq.heappop(due)
        if moment >= last:
            continue  # the campaign stops at the last day's close
        answered = rng.random() < ANSWER_RATE[moment.hour]
        ring = rng.uniform(5, 25)
        talk = rng.lognormvariate(math.log(120) - 0.32, 0.8)
        hold = ring + talk if answered else RING_OUT_SECONDS
        rows.append(
            {
                "timestamp": moment.isoformat(timespec="seconds"),
                "template": "reminders",
                "destination": f"+91987{destinations[contact]:07d}",
                "holding_seconds": round(hold, 1),
                "outcome": "answered" if answered else "no_answer",
                "attempt": attempt,
            }
        )
        if not answered and attempt < MAX_ATTEMPTS:
            redial = within_hours(moment + timedelta(seconds=hold) + REDIAL_GAP, rng)
            heapq.heappush(due, (redial, contact, attempt + 1))
    path = Path(__file__).with_name("campaign_days.csv")
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} attempts to {contacts} contacts to {path}")


if __name__ == "__main__":
    main()
