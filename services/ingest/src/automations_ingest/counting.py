"""Time bins for CountEvents: aligned to Prefect's pivot (2024-04-01 UTC), at most 1,000."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from automations_common.errors import InvalidArgument

PIVOT = datetime(2024, 4, 1, tzinfo=UTC)
MAX_BINS = 1000
MIN_INTERVAL = 0.01
UNIT_SECONDS = {"week": 604_800, "day": 86_400, "hour": 3_600, "minute": 60, "second": 1}


@dataclass(frozen=True)
class Bins:
    """`count` consecutive bins of `width_seconds`, the first starting at `start`."""

    start: datetime
    width_seconds: float
    count: int

    def bounds(self, index: int) -> tuple[datetime, datetime]:
        begin = self.start + timedelta(seconds=self.width_seconds * index)
        return begin, begin + timedelta(seconds=self.width_seconds)

    def index_of(self, moment: datetime) -> int:
        return math.floor((moment - self.start).total_seconds() / self.width_seconds)


def time_bins(since: datetime, until: datetime, unit: str, interval: float) -> Bins:
    """The bins covering [since, until]; InvalidArgument when there would be too many."""
    if unit not in UNIT_SECONDS:
        raise InvalidArgument.for_field("time_unit", f"unknown unit {unit!r}")
    if interval < MIN_INTERVAL:
        raise InvalidArgument.for_field("time_interval", f"must be at least {MIN_INTERVAL}")
    if until < since:
        raise InvalidArgument.for_field("filter.occurred", "until is before since")
    width = UNIT_SECONDS[unit] * interval
    offset = math.floor((since - PIVOT).total_seconds() / width)
    start = PIVOT + timedelta(seconds=offset * width)
    count = math.floor((until - start).total_seconds() / width) + 1
    if count > MAX_BINS:
        raise InvalidArgument.for_field(
            "time_interval",
            f"{count} bins of {interval} {unit}(s) between {since.isoformat()} and "
            f"{until.isoformat()}; at most {MAX_BINS} are allowed: widen the bins or "
            "narrow filter.occurred",
            reason="TOO_MANY_BINS",
        )
    return Bins(start, width, count)
