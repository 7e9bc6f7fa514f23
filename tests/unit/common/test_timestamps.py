"""The fast Timestamp conversions give exactly what protobuf's own helpers give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf import timestamp_pb2

from automations_common.timestamps import to_datetime, to_timestamp


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(1_763_780_645, 678_901_234), (0, 0), (-1, 500_000_000), (5, 999)]
)
def test_to_datetime_matches_protobufs_own(seconds: int, nanos: int) -> None:
    stamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    assert to_datetime(stamp) == stamp.ToDatetime(tzinfo=UTC)
    assert to_datetime(stamp).tzinfo is UTC


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(2026, 11, 22, 8, 4, 5, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        datetime(2026, 11, 22, 3, 4, 5),  # naive: taken as UTC
    ],
)
def test_to_timestamp_matches_protobufs_own(moment: datetime) -> None:
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    assert to_timestamp(moment) == expected
    assert to_datetime(to_timestamp(moment)) == expected.ToDatetime(tzinfo=UTC)
