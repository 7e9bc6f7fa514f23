"""Count-by time bins: aligned to the 2024-04-01 pivot, at most 1,000."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automations_common.errors import InvalidArgument
from automations_ingest.counting import PIVOT, time_bins


def test_bins_align_to_the_pivot_and_cover_until_inclusively() -> None:
    since = datetime(2025, 3, 5, 10, 17, 30, tzinfo=UTC)
    bins = time_bins(since, since + timedelta(hours=2), "hour", 1)
    assert bins.start == datetime(2025, 3, 5, 10, tzinfo=UTC)
    assert bins.count == 3
    assert bins.bounds(1) == (
        datetime(2025, 3, 5, 11, tzinfo=UTC),
        datetime(2025, 3, 5, 12, tzinfo=UTC),
    )
    assert bins.index_of(since + timedelta(hours=1)) == 1


def test_weeks_start_on_the_pivot_monday_and_fractions_work() -> None:
    bins = time_bins(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC), "week", 1)
    assert (bins.start - PIVOT).days % 7 == 0
    assert bins.start.weekday() == 0
    half = time_bins(PIVOT, PIVOT + timedelta(seconds=1), "second", 0.5)
    assert half.count == 3
    assert half.width_seconds == 0.5


def test_more_than_a_thousand_bins_or_a_tiny_interval_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        time_bins(PIVOT, PIVOT + timedelta(seconds=1000), "second", 1)
    assert caught.value.violations[0].field == "time_interval"
    assert time_bins(PIVOT, PIVOT + timedelta(seconds=999), "second", 1).count == 1000
    with pytest.raises(InvalidArgument):
        time_bins(PIVOT, PIVOT, "second", 0.001)
    with pytest.raises(InvalidArgument):
        time_bins(PIVOT, PIVOT, "fortnight", 1)
