"""Why a call got no number, and when to try again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from enum import StrEnum

from ..errors import NumsimError
from ..numbers import CAPS


class Reason(StrEnum):
    """Why a number (or the call as a whole) was refused. Members are strings:
    ``refusal.reason == Reason.BUSY`` and ``refusal.reason == "busy"`` agree."""

    # Per number.
    BUSY = "busy"  # every channel is carrying a call; a release frees one
    HOURLY_CAP = "hourly_cap"  # max_calls_per_hour reached in the rolling hour
    DAILY_CAP = "daily_cap"  # max_calls_per_day reached in the rolling 24 h
    NOT_COMPLIANT = "not_compliant"  # lacks the registration its destination needs
    # For the call as a whole.
    DESTINATION_LIMIT = "destination_limit"  # this destination had its calls for now
    CALLING_HOURS = "calling_hours"  # outside the destination's calling hours
    EMPTY_POOL = "empty_pool"  # the template has no numbers


# Plain strings inside numsim (they print and serialize as themselves); equal to Reason's.
BUSY = Reason.BUSY.value
HOURLY_CAP = Reason.HOURLY_CAP.value
DAILY_CAP = Reason.DAILY_CAP.value
NOT_COMPLIANT = Reason.NOT_COMPLIANT.value
DESTINATION_LIMIT = Reason.DESTINATION_LIMIT.value
CALLING_HOURS = Reason.CALLING_HOURS.value
EMPTY_POOL = Reason.EMPTY_POOL.value


class Kind(StrEnum):
    """What a refusal reason is a want of; each reason has exactly one (KINDS)."""

    SHORTAGE = "shortage"  # numbers: a waiting caller queues behind its class for one
    POOL = "pool"  # numbers in the template at all: more numbers remove it
    RULE = "rule"  # the call's own rule: it waits for its own time, holding nobody up


# Every refusal reason, declared once here with its kind; a cap's reason is declared by
# the cap itself (numbers.CAPS), and is a shortage like busy. The waiting queue, the
# simulator's results, sizing and the metrics read them from here.
KINDS: Mapping[str, Kind] = {
    BUSY: Kind.SHORTAGE,
    **{spec.cap.reason: Kind.SHORTAGE for spec in CAPS if spec.cap is not None},
    NOT_COMPLIANT: Kind.RULE,
    DESTINATION_LIMIT: Kind.RULE,
    CALLING_HOURS: Kind.RULE,
    EMPTY_POOL: Kind.POOL,
}
REASONS = tuple(KINDS)
# Counter keys of Backend.stats() for refusals: "refused:<reason>" counts every refusal,
# "refused_in:<template>:<reason>" those of a template's call (an inbound call has none).
# A reason holds no ":", a template id may: the reason is what follows the last ":".
REFUSALS = "refused:"
TEMPLATE_REFUSALS = "refused_in:"
SHORTAGE_REASONS = frozenset(r for r, kind in KINDS.items() if kind is Kind.SHORTAGE)
RULE_REASONS = tuple(r for r, kind in KINDS.items() if kind is Kind.RULE)


class NoNumberAvailable(NumsimError):
    """No number of the pool can take the call now.

    `reason` is the call's one reason; `reasons` maps each pool number to why it
    could not take the call (empty when a rule for the whole call refused it; on
    Redis, a sample of a bigger pool: `pool_size` then says how many it holds).
    `retry_after` is the seconds until time alone could let the call through
    (a rolling window or the destination limit frees a slot, calling hours
    open), or None when only a release can help.
    """

    def __init__(
        self,
        reason: str,
        *,
        reasons: Mapping[str, str] | None = None,
        retry_after: float | None = None,
        template: str | None = None,
        destination: str | None = None,
        pool_size: int | None = None,
    ) -> None:
        self.reason = reason
        self.reasons = dict(reasons or {})
        self.pool_size = pool_size
        self.retry_after = retry_after
        self.template = template
        self.destination = destination
        super().__init__(reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __str__(self) -> str:
        """The message, built when read: most refusals are handled, never printed (a
        simulation makes thousands). `args` holds the reason alone."""
        if self.template:
            target = f" for {self.destination}" if self.destination else ""
            text = f"no number of template {self.template!r} can take a call{target}: {self.reason}"
        else:
            text = f"{self.destination or 'the number'} cannot take an inbound call: {self.reason}"
        if self.reasons:
            counts = Counter(self.reasons.values())
            listed = ", ".join(f"{n} {why}" for why, n in sorted(counts.items()))
            if self.pool_size is not None and self.pool_size > len(self.reasons):
                listed = (
                    f"a sample of {len(self.reasons)} of its {self.pool_size} numbers: {listed}"
                )
            text += f" ({listed})"
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:.3f} s"
        return text

    def __reduce__(self) -> tuple[object, ...]:  # picklable across processes
        return (
            _rebuild,
            (
                self.reason,
                self.reasons,
                self.retry_after,
                self.template,
                self.destination,
                self.pool_size,
            ),
        )


def _rebuild(
    reason: str,
    reasons: dict[str, str],
    retry_after: float | None,
    template: str | None,
    destination: str | None,
    pool_size: int | None = None,
) -> NoNumberAvailable:
    return NoNumberAvailable(
        reason,
        reasons=reasons,
        retry_after=retry_after,
        template=template,
        destination=destination,
        pool_size=pool_size,
    )
