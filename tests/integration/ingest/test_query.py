"""QueryEvents and CountEvents over events that went through EVENTS and the persister."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from automations.v1 import event_filter_pb2 as f
from automations.v1 import event_pb2, events_service_pb2_grpc
from automations.v1 import events_service_pb2 as pb
from automations_ingest.counting import PIVOT
from tests.integration.ingest.conftest import make_event
from tests.support.waiting import eventually


def _ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _labels(**values: list[str]) -> event_pb2.ResourceSpecification:
    spec = event_pb2.ResourceSpecification()
    for key, patterns in values.items():
        spec.labels[key.replace("__", ".")].values.extend(patterns)
    return spec


BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
async def stored(events_stub: events_service_pb2_grpc.EventsServiceAsyncStub) -> dict[str, str]:
    """Four events with distinct names, resources, related resources and payloads."""
    e1 = make_event(
        "demo.ping",
        "demo.thing.1",
        labels={"kind": "thing", "color": "red"},
        related=[
            {
                "prefect.resource.id": "demo.flow.a",
                "prefect.resource.role": "flow",
                "prefect.resource.name": "alpha",
            }
        ],
        payload={"message": "hello world"},
        occurred=BASE + timedelta(seconds=1),
    )
    e2 = make_event(
        "demo.pong",
        "demo.thing.2",
        labels={"kind": "thing", "color": "blue"},
        related=[
            {"prefect.resource.id": "demo.flow.b", "prefect.resource.role": "flow"},
            {"prefect.resource.id": "demo.tag.x", "prefect.resource.role": "tag"},
        ],
        payload={"message": "goodbye"},
        occurred=BASE + timedelta(seconds=2),
    )
    e3 = make_event(
        "other.event",
        "other.res.3",
        labels={"kind": "widget", "prefect.resource.name": "Widget Three"},
        payload={"message": "hello there"},
        occurred=BASE + timedelta(seconds=3),
    )
    e4 = make_event(
        "demo.ping",
        "demo.thing.1",
        labels={"kind": "thing", "color": "green"},
        related=[{"prefect.resource.id": "demo.flow.a", "prefect.resource.role": "flow"}],
        occurred=BASE + timedelta(seconds=4),
    )
    events = [e1, e2, e3, e4]
    reply = await events_stub.EmitEvents(pb.EmitEventsRequest(events=events))
    assert reply.accepted_count == 4

    async def all_stored() -> bool:
        page = await events_stub.QueryEvents(pb.QueryEventsRequest())
        return page.total_size == 4

    await eventually(all_stored, what="the persister stored the events")
    return {"e1": e1.id, "e2": e2.id, "e3": e3.id, "e4": e4.id}


async def test_every_filter_field(events_stub, stored) -> None:
    ids = stored
    cases: list[tuple[str, f.EventFilter, list[str]]] = [
        ("no filter, newest first", f.EventFilter(), ["e4", "e3", "e2", "e1"]),
        ("order ASC", f.EventFilter(order=f.EVENT_ORDER_ASC), ["e1", "e2", "e3", "e4"]),
        (
            "occurred since/until inclusive",
            f.EventFilter(
                occurred=f.OccurredFilter(
                    since=_ts(BASE + timedelta(seconds=2)), until=_ts(BASE + timedelta(seconds=3))
                )
            ),
            ["e3", "e2"],
        ),
        (
            "event prefix",
            f.EventFilter(event=f.EventNameFilter(prefix=["demo."])),
            ["e4", "e2", "e1"],
        ),
        (
            "event exclude_prefix",
            f.EventFilter(event=f.EventNameFilter(exclude_prefix=["demo."])),
            ["e3"],
        ),
        ("event name", f.EventFilter(event=f.EventNameFilter(name=["demo.pong"])), ["e2"]),
        (
            "event exclude_name",
            f.EventFilter(event=f.EventNameFilter(exclude_name=["demo.ping"])),
            ["e3", "e2"],
        ),
        (
            "resource id",
            f.EventFilter(resource=f.ResourceFilter(id=["demo.thing.1"])),
            ["e4", "e1"],
        ),
        (
            "resource id_prefix",
            f.EventFilter(resource=f.ResourceFilter(id_prefix=["demo.thing"])),
            ["e4", "e2", "e1"],
        ),
        (
            "resource label glob",
            f.EventFilter(resource=f.ResourceFilter(labels=_labels(color=["r*"]))),
            ["e1"],
        ),
        (
            "resource label negation (missing label never matches)",
            f.EventFilter(resource=f.ResourceFilter(labels=_labels(color=["!red"]))),
            ["e4", "e2"],
        ),
        (
            "resource labels: keys AND, values OR, ? matches one character",
            f.EventFilter(
                resource=f.ResourceFilter(labels=_labels(kind=["thing"], color=["gr?en", "blue"]))
            ),
            ["e4", "e2"],
        ),
        (
            "resource distinct keeps the newest per resource",
            f.EventFilter(resource=f.ResourceFilter(id_prefix=["demo.thing"], distinct=True)),
            ["e4", "e2"],
        ),
        ("related id", f.EventFilter(related=[f.RelatedFilter(id=["demo.flow.a"])]), ["e4", "e1"]),
        ("related role", f.EventFilter(related=[f.RelatedFilter(role=["tag"])]), ["e2"]),
        (
            "related resources_in_roles",
            f.EventFilter(
                related=[
                    f.RelatedFilter(
                        resources_in_roles=[f.ResourceInRole(id="demo.flow.b", role="flow")]
                    )
                ]
            ),
            ["e2"],
        ),
        (
            "related labels",
            f.EventFilter(
                related=[f.RelatedFilter(labels=_labels(prefect__resource__name=["alp*"]))]
            ),
            ["e1"],
        ),
        (
            "related entries are AND-ed",
            f.EventFilter(related=[f.RelatedFilter(role=["flow"]), f.RelatedFilter(role=["tag"])]),
            ["e2"],
        ),
        (
            "related excludes the primary resource",
            f.EventFilter(related=[f.RelatedFilter(id=["demo.thing.1"])]),
            [],
        ),
        (
            "any_resource id (related)",
            f.EventFilter(any_resource=[f.AnyResourceFilter(id=["demo.flow.b"])]),
            ["e2"],
        ),
        (
            "any_resource id (primary)",
            f.EventFilter(any_resource=[f.AnyResourceFilter(id=["demo.thing.1"])]),
            ["e4", "e1"],
        ),
        (
            "any_resource id_prefix",
            f.EventFilter(any_resource=[f.AnyResourceFilter(id_prefix=["other."])]),
            ["e3"],
        ),
        (
            "any_resource labels",
            f.EventFilter(any_resource=[f.AnyResourceFilter(labels=_labels(color=["blue"]))]),
            ["e2"],
        ),
        ("id", f.EventFilter(id=f.EventIdFilter(id=[ids["e3"]])), ["e3"]),
        ("text: any term", f.EventFilter(text=f.TextFilter(query="hello")), ["e3", "e1"]),
        (
            "text: required and excluded",
            f.EventFilter(text=f.TextFilter(query="+hello -there")),
            ["e1"],
        ),
        (
            "text: OR of terms",
            f.EventFilter(text=f.TextFilter(query="goodbye HELLO")),
            ["e3", "e2", "e1"],
        ),
        ("text: exclude only", f.EventFilter(text=f.TextFilter(query="-demo")), ["e3"]),
        (
            "text searches related labels",
            f.EventFilter(text=f.TextFilter(query="demo.tag.x")),
            ["e2"],
        ),
    ]
    failures = []
    for name, event_filter, expected in cases:
        page = await events_stub.QueryEvents(pb.QueryEventsRequest(filter=event_filter))
        got = [next(k for k, v in ids.items() if v == e.id) for e in page.events]
        if got != expected or page.total_size != len(expected):
            failures.append(f"{name}: expected {expected}, got {got} (total {page.total_size})")
    assert not failures, "\n".join(failures)


async def test_returned_events_keep_every_field(events_stub, stored) -> None:
    page = await events_stub.QueryEvents(
        pb.QueryEventsRequest(filter=f.EventFilter(id=f.EventIdFilter(id=[stored["e2"]])))
    )
    (event,) = page.events
    assert event.event == "demo.pong"
    assert event.resource.labels["color"] == "blue"
    assert [r.labels["prefect.resource.role"] for r in event.related] == ["flow", "tag"]
    assert event.payload["message"] == "goodbye"
    assert event.occurred_time.ToDatetime(tzinfo=UTC) == BASE + timedelta(seconds=2)
    assert event.HasField("received_time")


async def test_page_tokens_walk_the_results_and_belong_to_their_query(events_stub, stored) -> None:
    first = await events_stub.QueryEvents(pb.QueryEventsRequest(page_size=3))
    assert len(first.events) == 3
    assert first.total_size == 4
    assert first.next_page_token
    second = await events_stub.QueryEvents(
        pb.QueryEventsRequest(page_size=3, page_token=first.next_page_token)
    )
    assert [e.id for e in second.events] == [stored["e1"]]
    assert second.total_size == 4
    assert not second.next_page_token

    other_query = pb.QueryEventsRequest(
        page_size=3,
        page_token=first.next_page_token,
        filter=f.EventFilter(event=f.EventNameFilter(prefix=["demo."])),
    )
    for request in (other_query, pb.QueryEventsRequest(page_size=3, page_token="garbage!")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await events_stub.QueryEvents(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in (caught.value.details() or "")


async def test_bad_filters_are_invalid_argument(events_stub) -> None:
    bad = [
        f.EventFilter(text=f.TextFilter(query="x" * 201)),
        f.EventFilter(
            occurred=f.OccurredFilter(since=_ts(BASE), until=_ts(BASE - timedelta(seconds=1)))
        ),
    ]
    for event_filter in bad:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await events_stub.QueryEvents(pb.QueryEventsRequest(filter=event_filter))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await events_stub.QueryEvents(pb.QueryEventsRequest(page_size=-1))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _window(seconds: int) -> f.EventFilter:
    return f.EventFilter(
        occurred=f.OccurredFilter(since=_ts(BASE), until=_ts(BASE + timedelta(seconds=seconds)))
    )


async def test_count_by_event_and_resource(events_stub, stored) -> None:
    by_event = await events_stub.CountEvents(
        pb.CountEventsRequest(filter=_window(10), countable=pb.COUNTABLE_EVENT)
    )
    assert [(c.value, c.count) for c in by_event.counts] == [
        ("demo.ping", 2),
        ("demo.pong", 1),
        ("other.event", 1),
    ]
    ping = by_event.counts[0]
    assert ping.start_time.ToDatetime(tzinfo=UTC) == BASE + timedelta(seconds=1)
    assert ping.end_time.ToDatetime(tzinfo=UTC) == BASE + timedelta(seconds=4)

    by_resource = await events_stub.CountEvents(
        pb.CountEventsRequest(filter=_window(10), countable=pb.COUNTABLE_RESOURCE)
    )
    assert [(c.value, c.label, c.count) for c in by_resource.counts] == [
        ("demo.thing.1", "demo.thing.1", 2),
        ("other.res.3", "Widget Three", 1),
        ("demo.thing.2", "demo.thing.2", 1),
    ]


async def test_count_by_time_bins_are_aligned_and_zero_filled(events_stub, stored) -> None:
    reply = await events_stub.CountEvents(
        pb.CountEventsRequest(
            filter=_window(5), countable=pb.COUNTABLE_TIME, time_unit=pb.TIME_UNIT_SECOND
        )
    )
    assert [c.count for c in reply.counts] == [0, 1, 1, 1, 1, 0]
    assert reply.counts[0].start_time.ToDatetime(tzinfo=UTC) == BASE
    assert reply.counts[0].end_time.ToDatetime(tzinfo=UTC) == BASE + timedelta(seconds=1)

    wide = await events_stub.CountEvents(
        pb.CountEventsRequest(
            filter=_window(5),
            countable=pb.COUNTABLE_TIME,
            time_unit=pb.TIME_UNIT_SECOND,
            time_interval=7,
        )
    )
    assert sum(c.count for c in wide.counts) == 4
    for count in wide.counts:
        offset = (count.start_time.ToDatetime(tzinfo=UTC) - PIVOT).total_seconds()
        assert offset % 7 == 0

    daily = await events_stub.CountEvents(
        pb.CountEventsRequest(filter=_window(5), countable=pb.COUNTABLE_DAY)
    )
    assert sum(c.count for c in daily.counts) == 4
    assert all(c.start_time.ToDatetime(tzinfo=UTC).hour == 0 for c in daily.counts)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await events_stub.CountEvents(
            pb.CountEventsRequest(
                filter=_window(7200), countable=pb.COUNTABLE_TIME, time_unit=pb.TIME_UNIT_SECOND
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1000" in (caught.value.details() or "")


async def test_unknown_ids_simply_match_nothing(events_stub, stored) -> None:
    page = await events_stub.QueryEvents(
        pb.QueryEventsRequest(filter=f.EventFilter(id=f.EventIdFilter(id=[str(uuid.uuid4())])))
    )
    assert list(page.events) == []
    assert page.total_size == 0
