"""The event store's writes: idempotent batch inserts and retention by age."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, delete, not_, or_, select

from automations_common.database import Transactions, json_text, upsert_insert
from automations_ingest.events import RESOURCE_ID, RESOURCE_ROLE, EventRecord
from automations_ingest.globbing import LIKE_ESCAPE, prefix_to_like
from automations_ingest.tables import event_resource_table, event_table

log = logging.getLogger(__name__)


# The event store's columns in table order, for the SQLite fast path below.
_EVENT_COLUMNS = tuple(column.name for column in event_table.columns)
_RESOURCE_COLUMNS = tuple(column.name for column in event_resource_table.columns)


def _sqlite_insert(table: Any, columns: tuple[str, ...], keys: str) -> str:
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT ({keys}) DO NOTHING"
    )


def _sqlite_time(value: datetime) -> str:
    """What SQLAlchemy stores for a UtcDateTime on SQLite: naive UTC, microseconds always."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def _sqlite_rows(
    records: Sequence[EventRecord],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of `records` as the sqlite3 driver takes them, in column order.

    SQLAlchemy's per-value bind processing (datetimes, JSON) cost about a third of the
    persister's CPU; here each value is converted once, by hand."""
    events = []
    resources = []
    for r in records:
        occurred = _sqlite_time(r.occurred)
        events.append(
            (
                r.id,
                r.workspace,
                occurred,
                r.event,
                r.resource_id,
                json_text(r.resource),
                json_text(r.related),
                json_text(r.payload),
                r.follows,
                _sqlite_time(r.received) if r.received is not None else occurred,
            )
        )
        resources.append((r.id, 0, r.workspace, occurred, r.resource_id, "", json_text(r.resource)))
        for position, related in enumerate(r.related, start=1):
            resources.append(
                (
                    r.id,
                    position,
                    r.workspace,
                    occurred,
                    related.get(RESOURCE_ID, ""),
                    related.get(RESOURCE_ROLE, ""),
                    json_text(related),
                )
            )
    return events, resources


_SQLITE_INSERT_EVENTS = _sqlite_insert(event_table, _EVENT_COLUMNS, "id")
_SQLITE_INSERT_RESOURCES = _sqlite_insert(
    event_resource_table, _RESOURCE_COLUMNS, "event_id, position"
)


def _insert_sqlite(connection: Connection, records: Sequence[EventRecord]) -> None:
    events, resources = _sqlite_rows(records)
    connection.exec_driver_sql(_SQLITE_INSERT_EVENTS, events)
    connection.exec_driver_sql(_SQLITE_INSERT_RESOURCES, resources)


def event_row(record: EventRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "workspace": record.workspace,
        "occurred": record.occurred,
        "event": record.event,
        "resource_id": record.resource_id,
        "resource": record.resource,
        "related": record.related,
        "payload": record.payload,
        "follows": record.follows,
        "received": record.received or record.occurred,
    }


def resource_rows(record: EventRecord) -> list[dict[str, Any]]:
    rows = [
        {
            "event_id": record.id,
            "position": 0,
            "workspace": record.workspace,
            "occurred": record.occurred,
            "resource_id": record.resource_id,
            "role": "",
            "labels": record.resource,
        }
    ]
    for position, related in enumerate(record.related, start=1):
        rows.append(
            {
                "event_id": record.id,
                "position": position,
                "workspace": record.workspace,
                "occurred": record.occurred,
                "resource_id": related.get(RESOURCE_ID, ""),
                "role": related.get(RESOURCE_ROLE, ""),
                "labels": related,
            }
        )
    return rows


def record_from_row(row: RowMapping) -> EventRecord:
    return EventRecord(
        id=row["id"],
        occurred=row["occurred"],
        event=row["event"],
        resource=dict(row["resource"]),
        related=[dict(r) for r in row["related"]],
        payload=dict(row["payload"]),
        follows=row["follows"],
        received=row["received"],
        workspace=row["workspace"],
    )


class EventStore:
    """Writes events (once per id, whatever the redeliveries) and trims old ones."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions
        self._engine = transactions.engine
        dialect = self._engine.dialect.name
        self._sqlite = dialect == "sqlite"
        insert = upsert_insert(dialect)
        self._insert_events = insert(event_table).on_conflict_do_nothing(index_elements=["id"])
        self._insert_resources = insert(event_resource_table).on_conflict_do_nothing(
            index_elements=["event_id", "position"]
        )

    async def write(self, records: Sequence[EventRecord]) -> None:
        """Insert a batch in one transaction; ids already stored are left as they are."""
        if not records:
            return
        unique = list({r.id: r for r in records}.values())
        if self._sqlite:
            await self._transactions.write(lambda connection: _insert_sqlite(connection, unique))
            return
        events = [event_row(r) for r in unique]
        resources = [row for r in unique for row in resource_rows(r)]

        def insert(connection: Connection) -> None:
            connection.execute(self._insert_events, events)
            connection.execute(self._insert_resources, resources)

        await self._transactions.write(insert)

    async def get(self, event_id: str) -> EventRecord | None:
        async with self._engine.connect() as connection:
            row = (
                (await connection.execute(select(event_table).where(event_table.c.id == event_id)))
                .mappings()
                .first()
            )
        return record_from_row(row) if row is not None else None

    async def trim(
        self,
        now: datetime,
        default_age: timedelta,
        age_by_prefix: Mapping[str, timedelta],
        batch_size: int,
        max_batches: int = 1000,
    ) -> int:
        """Delete events (and their resource rows) older than their retention, in batches
        of `batch_size` so no transaction grows unbounded. Longest matching prefix wins."""
        deleted = 0
        for condition in _retention_conditions(now, default_age, age_by_prefix):
            for _ in range(max_batches):
                count = await self._delete_batch(condition, batch_size)
                deleted += count
                if count < batch_size:
                    break
        if deleted:
            log.info("retention removed %d events", deleted)
        return deleted

    async def _delete_batch(self, condition: ColumnElement[bool], batch_size: int) -> int:
        async with self._engine.begin() as connection:
            ids = list(
                (
                    await connection.execute(
                        select(event_table.c.id).where(condition).limit(batch_size)
                    )
                ).scalars()
            )
            if not ids:
                return 0
            await connection.execute(
                delete(event_resource_table).where(event_resource_table.c.event_id.in_(ids))
            )
            await connection.execute(delete(event_table).where(event_table.c.id.in_(ids)))
        return len(ids)


def _starts_with(prefix: str) -> ColumnElement[bool]:
    return event_table.c.event.like(prefix_to_like(prefix), escape=LIKE_ESCAPE)


def _retention_conditions(
    now: datetime, default_age: timedelta, age_by_prefix: Mapping[str, timedelta]
) -> list[ColumnElement[bool]]:
    prefixes = list(age_by_prefix)
    conditions: list[ColumnElement[bool]] = []
    default = event_table.c.occurred < now - default_age
    if prefixes:
        default = and_(default, not_(or_(*[_starts_with(p) for p in prefixes])))
    conditions.append(default)
    for prefix, age in age_by_prefix.items():
        # A longer prefix inside this one is governed by its own rule.
        longer = [p for p in prefixes if p != prefix and p.startswith(prefix)]
        condition = and_(_starts_with(prefix), event_table.c.occurred < now - age)
        if longer:
            condition = and_(condition, not_(or_(*[_starts_with(p) for p in longer])))
        conditions.append(condition)
    return conditions
