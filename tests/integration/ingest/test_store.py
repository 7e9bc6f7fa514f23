"""The event store: the persister writes events with their resources; retention trims both."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import nats
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from automations.v1 import events_service_pb2 as pb
from automations_common.broker import JetStreamPublisher, OutgoingMessage
from automations_common.database import Transactions, create_engine, migrate
from automations_ingest.app import MIGRATIONS, VERSION_TABLE, IngestApp
from automations_ingest.events import EventRecord
from automations_ingest.retention import trim_once
from automations_ingest.settings import RetentionSettings
from automations_ingest.store import EventStore, event_row, resource_rows
from automations_ingest.tables import event_resource_table, event_table
from tests.integration.ingest.conftest import make_event
from tests.support.databases import migrated
from tests.support.waiting import eventually


async def test_the_persister_stores_events_with_their_resources(
    ingest: IngestApp, events_stub
) -> None:
    event = make_event(
        related=[
            {"prefect.resource.id": "demo.flow.a", "prefect.resource.role": "flow"},
            {"prefect.resource.id": "demo.tag.x", "prefect.resource.role": "tag", "extra": "1"},
        ],
        payload={"n": 1},
    )
    await events_stub.EmitEvents(pb.EmitEventsRequest(events=[event]))
    store = ingest.store
    assert store is not None
    stored = await eventually(lambda: store.get(event.id), what="the event is stored")
    assert stored.resource_id == "demo.thing.1"
    assert stored.payload == {"n": 1}
    assert stored.received is not None

    engine = create_engine(ingest.settings.database_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(
                        event_resource_table.c.position,
                        event_resource_table.c.resource_id,
                        event_resource_table.c.role,
                        event_resource_table.c.labels,
                    )
                    .where(event_resource_table.c.event_id == event.id)
                    .order_by(event_resource_table.c.position)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (0, "demo.thing.1", ""),
        (1, "demo.flow.a", "flow"),
        (2, "demo.tag.x", "tag"),
    ]
    assert rows[2][3]["extra"] == "1"


def _record(name: str, age: timedelta, now: datetime, index: int) -> EventRecord:
    return EventRecord(
        id=f"00000000-0000-4000-8000-{index:012d}",
        occurred=now - age,
        event=name,
        resource={"prefect.resource.id": f"demo.r.{index}"},
        related=[{"prefect.resource.id": "demo.rel", "prefect.resource.role": "x"}],
        received=now,
    )


async def test_writes_are_idempotent_and_retention_trims_by_age_and_prefix(
    database_url: str,
) -> None:
    async with migrated(database_url, MIGRATIONS, VERSION_TABLE) as transactions:
        engine = transactions.engine
        store = EventStore(transactions)
        now = datetime.now(UTC)
        records = [
            _record("demo.old", timedelta(days=8), now, 1),
            _record("demo.old", timedelta(days=8), now, 2),
            _record("demo.recent", timedelta(days=1), now, 3),
            _record("prefect.flow-run.heartbeat", timedelta(days=2), now, 4),
            _record("prefect.flow-run.heartbeat.special", timedelta(days=2), now, 5),
            _record("prefect.flow-run.Completed", timedelta(days=2), now, 6),
        ]
        await store.write(records)
        await store.write(records[:3])  # a redelivery changes nothing

        async def counts() -> tuple[int, int]:
            async with engine.connect() as connection:
                events = (
                    await connection.execute(select(func.count()).select_from(event_table))
                ).scalar_one()
                resources = (
                    await connection.execute(select(func.count()).select_from(event_resource_table))
                ).scalar_one()
            return int(events), int(resources)

        assert await counts() == (6, 12)
        settings = RetentionSettings(
            default_days=7,
            days_by_prefix={
                "prefect.flow-run.heartbeat": 1,
                "prefect.flow-run.heartbeat.special": 30,
            },
            batch_size=1,
        )
        removed = await trim_once(store, settings, now)
        assert removed == 3
        assert await counts() == (3, 6)
        remaining = {r.id for r in records if await store.get(r.id) is not None}
        assert remaining == {records[2].id, records[4].id, records[5].id}


async def test_an_event_the_database_refuses_does_not_block_the_others(
    ingest: IngestApp, events_stub
) -> None:
    # Ingest refuses NUL characters; another publisher to EVENTS might not. PostgreSQL
    # cannot store them, SQLite can: either way the persister stores the rest and goes on.
    odd = make_event(resource_id="demo.nul\x00id")
    reply = await events_stub.EmitEvents(pb.EmitEventsRequest(events=[odd]))
    assert [r.field for r in reply.rejected] == ['events[0].resource.labels["prefect.resource.id"]']

    good = make_event()
    client = await nats.connect(ingest.settings.nats.url)
    try:
        await JetStreamPublisher(client).publish(
            [
                OutgoingMessage(ingest.streams.events_subject(), e.SerializeToString(), e.id)
                for e in (odd, good)
            ],
        )
    finally:
        await client.close()
    store = ingest.store
    assert store is not None
    await eventually(lambda: store.get(good.id), what="the good event is stored")
    later = make_event()
    await events_stub.EmitEvents(pb.EmitEventsRequest(events=[later]))
    await eventually(lambda: store.get(later.id), what="the persister goes on")


async def test_the_sqlite_fast_path_stores_exactly_what_sqlalchemy_would(tmp_path: Path) -> None:
    """On SQLite the store writes through the driver itself; the rows must be the same."""
    now = datetime(2026, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    records = [
        _record("demo.fast", timedelta(0), now, 1),
        replace(
            _record("demo.fast", timedelta(seconds=1), now, 2),
            payload={"n": 1.5, "nested": {"é": [1, None, True]}},
            follows="00000000-0000-4000-8000-000000000001",
            received=None,
            occurred=now.replace(microsecond=0),
        ),
    ]

    async def stored_rows(url: str, write: Callable[[AsyncEngine], Awaitable[None]]) -> list[Any]:
        engine = create_engine(url)
        try:
            await migrate(engine, MIGRATIONS, VERSION_TABLE)
            await write(engine)
            async with engine.connect() as connection:
                rows = await connection.exec_driver_sql("SELECT * FROM event ORDER BY id")
                events = rows.all()
                rows = await connection.exec_driver_sql(
                    "SELECT * FROM event_resource ORDER BY event_id, position"
                )
                return [*events, *rows.all()]
        finally:
            await engine.dispose()

    async def fast(engine: AsyncEngine) -> None:
        transactions = Transactions(engine)
        try:
            await EventStore(transactions).write(records)
        finally:
            await transactions.close()

    async def through_sqlalchemy(engine: AsyncEngine) -> None:
        async with engine.begin() as connection:
            await connection.execute(insert(event_table), [event_row(r) for r in records])
            await connection.execute(
                insert(event_resource_table), [row for r in records for row in resource_rows(r)]
            )

    expected = await stored_rows(f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}", through_sqlalchemy)
    assert len(expected) == 6
    assert await stored_rows(f"sqlite+aiosqlite:///{tmp_path / 'fast.db'}", fast) == expected
