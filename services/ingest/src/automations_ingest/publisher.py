"""Validates batches of events, stamps `received` and publishes the good ones to EVENTS."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from automations.v1 import event_pb2
from automations_common.broker import JetStreamPublisher, OutgoingMessage
from automations_common.errors import InvalidArgument
from automations_common.streams import Streams
from automations_common.timestamps import to_timestamp
from automations_ingest.convert import candidate
from automations_ingest.settings import EventLimits
from automations_ingest.validation import check_event

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Rejection:
    """One refused event of a batch."""

    index: int
    event_id: str
    reason: str
    field: str


@dataclass
class EmitOutcome:
    """Accepted ids (durably in the stream) and the refused events, in request order."""

    accepted_ids: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class EventPublisher:
    """The one way events enter EVENTS from this service (gRPC and webhooks alike)."""

    def __init__(
        self,
        jetstream: JetStreamPublisher,
        streams: Streams,
        workspace: str,
        limits: EventLimits,
        clock: Clock = utc_now,
        publish_timeout_seconds: float = 10.0,
    ) -> None:
        self._jetstream = jetstream
        self._subject = streams.events_subject(workspace)
        self._limits = limits
        self._clock = clock
        self._timeout = publish_timeout_seconds

    async def emit(self, events: Sequence[event_pb2.Event]) -> EmitOutcome:
        """Publish the valid events of a batch; return once they are all in the stream.

        InvalidArgument for an empty or oversized request, Unavailable if JetStream does
        not confirm every publish (the caller retries the batch; ids make that harmless).
        """
        if not events:
            raise InvalidArgument.for_field("events", "the batch is empty", reason="EMPTY_BATCH")
        if len(events) > self._limits.max_batch_events:
            raise InvalidArgument.for_field(
                "events",
                f"{len(events)} events in one request; at most "
                f"{self._limits.max_batch_events} are allowed",
                reason="BATCH_TOO_LARGE",
            )
        outcome = EmitOutcome()
        outgoing: list[OutgoingMessage] = []
        received = to_timestamp(self._clock())
        total_bytes = 0
        for index, message in enumerate(events):
            view = candidate(message)
            total_bytes += view.size_bytes
            verdict = check_event(view, self._limits)
            if verdict.problem is not None:
                path = f"events[{index}]"
                if verdict.problem.field:
                    path += "." + verdict.problem.field
                outcome.rejected.append(Rejection(index, message.id, verdict.problem.reason, path))
                continue
            message.id = verdict.canonical_id
            message.received_time.CopyFrom(received)
            outgoing.append(
                OutgoingMessage(self._subject, message.SerializeToString(), verdict.canonical_id)
            )
            outcome.accepted_ids.append(verdict.canonical_id)
        if total_bytes > self._limits.max_batch_bytes:
            raise InvalidArgument.for_field(
                "events",
                f"the request carries {total_bytes} bytes of events; at most "
                f"{self._limits.max_batch_bytes} are allowed",
                reason="BATCH_TOO_LARGE",
            )
        if outgoing:
            await self._jetstream.publish(outgoing, self._timeout)
        return outcome
