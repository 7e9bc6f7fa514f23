"""EventEmitter batches by size, retries a failed batch with the same ids, and flushes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automations import EmitResult, Event, EventEmitter, RejectedEvent, UnavailableError
from automations._events import follows_id, uuid7


class RecordingSend:
    """The emitter's transport seam: records batches, fails the first `failures` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.batches: list[list[str]] = []

    async def __call__(self, batch: list[Event]) -> EmitResult:
        self.batches.append([str(e.id) for e in batch])
        if self.failures:
            self.failures -= 1
            raise UnavailableError("stream down")
        rejected = [
            RejectedEvent(i, str(e.id), "no resource id", "resource")
            for i, e in enumerate(batch)
            if not e.resource.id
        ]
        bad = {r.event_id for r in rejected}
        return EmitResult([str(e.id) for e in batch if str(e.id) not in bad], rejected)


def _event(n: int, resource_id: str = "demo.1") -> Event:
    return Event(event=f"demo.{n}", resource={"prefect.resource.id": resource_id})


async def test_a_full_buffer_goes_out_as_one_batch() -> None:
    send = RecordingSend()
    async with EventEmitter(send=send, max_batch=3, flush_interval=60) as emitter:
        for n in range(7):
            await emitter.emit(_event(n))
        assert [len(b) for b in send.batches] == [3, 3]
    assert [len(b) for b in send.batches] == [3, 3, 1]
    assert emitter.accepted_count == 7


async def test_a_failed_batch_is_sent_again_with_the_same_ids() -> None:
    send = RecordingSend(failures=2)
    emitter = EventEmitter(send=send, max_batch=2, retry_delay=0)
    await emitter.emit(_event(1))
    await emitter.emit(_event(2))
    assert len(send.batches) == 3
    assert send.batches[0] == send.batches[1] == send.batches[2]
    assert emitter.accepted_count == 2


async def test_giving_up_raises_and_keeps_the_events() -> None:
    send = RecordingSend(failures=5)
    emitter = EventEmitter(send=send, max_batch=10, max_attempts=2, retry_delay=0)
    await emitter.emit(_event(1))
    with pytest.raises(UnavailableError):
        await emitter.flush()
    send.failures = 0
    await emitter.aclose()
    assert send.batches[-1] == send.batches[0]
    assert emitter.accepted_count == 1


async def test_refused_events_are_collected() -> None:
    send = RecordingSend()
    emitter = EventEmitter(send=send)
    await emitter.emit({"event": "x", "resource": {}})
    await emitter.emit(_event(2))
    await emitter.aclose()
    assert emitter.accepted_count == 1
    assert [r.reason for r in emitter.rejected] == ["no resource id"]


def test_follows_is_kept_only_within_five_minutes() -> None:
    leader = _event(0)
    assert follows_id(leader.occurred + timedelta(minutes=4), leader) == leader.id
    assert follows_id(leader.occurred - timedelta(minutes=4), leader) == leader.id
    assert follows_id(leader.occurred + timedelta(minutes=5), leader) is None
    assert follows_id(datetime.now(UTC), None) is None


def test_uuid7_is_version_7_and_time_ordered() -> None:
    first, second = uuid7(), uuid7()
    assert first.version == 7
    assert first.variant == "specified in RFC 4122"
    assert first.int >> 80 <= second.int >> 80
    assert first != second
