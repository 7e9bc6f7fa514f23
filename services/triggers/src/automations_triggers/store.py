"""Automations in SQL (SQLite or PostgreSQL): rows <-> AutomationDocument, keyset pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from automations_triggers.automations import LifecycleEvent
from automations_triggers.documents import AutomationDocument, ListFilter, related_resources
from automations_triggers.tables import (
    automation,
    automation_related_resource,
    automation_tag,
    outbox,
)

# The `trigger_outbox` row that carries a lifecycle event (lifecycle_events.LifecycleOutbox).
OutboxRow = Callable[[LifecycleEvent], dict[str, Any]]

# Sort orders: (column, descending).
ORDERS: dict[str, tuple[sa.Column[Any], bool]] = {
    "name_asc": (automation.c.name, False),
    "name_desc": (automation.c.name, True),
    "created_desc": (automation.c.created, True),
    "updated_desc": (automation.c.updated, True),
}


@dataclass(frozen=True)
class Signature:
    """Changes whenever an automation is added, changed or removed (for the reconcile)."""

    count: int
    last_updated: datetime | None


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _to_document(row: sa.Row[Any]) -> AutomationDocument:
    return AutomationDocument(
        id=row.id,
        workspace=row.workspace,
        name=row.name,
        description=row.description,
        enabled=row.enabled,
        tags=list(row.tags),
        trigger=row.trigger,
        actions=list(row.actions),
        actions_on_trigger=list(row.actions_on_trigger),
        actions_on_resolve=list(row.actions_on_resolve),
        owner_resource=row.owner_resource,
        created=_utc(row.created),
        updated=_utc(row.updated),
    )


def _values(doc: AutomationDocument) -> dict[str, Any]:
    return {
        "name": doc.name,
        "description": doc.description,
        "enabled": doc.enabled,
        "tags": doc.tags,
        "trigger": doc.trigger,
        "actions": doc.actions,
        "actions_on_trigger": doc.actions_on_trigger,
        "actions_on_resolve": doc.actions_on_resolve,
        "updated": doc.updated,
    }


class AutomationStore:
    """CRUD of one workspace's automations; every call is its own transaction, and every
    insert, replace and delete writes its lifecycle event to the outbox in it."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], workspace: str, outbox_row: OutboxRow
    ) -> None:
        self._sessions = sessions
        self._workspace = workspace
        self._outbox_row = outbox_row

    def _mine(self) -> sa.ColumnElement[bool]:
        return automation.c.workspace == self._workspace

    async def insert(self, doc: AutomationDocument, event: LifecycleEvent) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                automation.insert().values(
                    id=doc.id,
                    workspace=self._workspace,
                    owner_resource=doc.owner_resource,
                    created=doc.created,
                    **_values(doc),
                )
            )
            await self._sync_children(session, doc)
            await session.execute(outbox.insert().values(self._outbox_row(event)))

    async def replace(self, doc: AutomationDocument, event: LifecycleEvent) -> bool:
        """Overwrite the mutable fields; False if the automation is gone."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                automation.update()
                .where(self._mine(), automation.c.id == doc.id)
                .values(**_values(doc))
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                return False
            await self._sync_children(session, doc)
            await session.execute(outbox.insert().values(self._outbox_row(event)))
            return True

    async def _sync_children(self, session: AsyncSession, doc: AutomationDocument) -> None:
        await session.execute(
            automation_tag.delete().where(automation_tag.c.automation_id == doc.id)
        )
        tags = sorted(set(doc.tags))
        if tags:
            await session.execute(
                automation_tag.insert(), [{"automation_id": doc.id, "tag": t} for t in tags]
            )
        # Ownership is never cleared by a sync (as in Prefect): keep owned rows, redo the rest.
        rr = automation_related_resource
        await session.execute(
            rr.delete().where(rr.c.automation_id == doc.id, rr.c.owned.is_(False))
        )
        owned = set(
            await session.scalars(sa.select(rr.c.resource_id).where(rr.c.automation_id == doc.id))
        )
        rows = [
            {
                "automation_id": doc.id,
                "resource_id": rid,
                "owned": is_owned,
                "workspace": self._workspace,
            }
            for rid, is_owned in related_resources(doc).items()
            if rid not in owned
        ]
        if rows:
            await session.execute(rr.insert(), rows)

    async def get(self, automation_id: str) -> AutomationDocument | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    sa.select(automation).where(self._mine(), automation.c.id == automation_id)
                )
            ).first()
        return None if row is None else _to_document(row)

    async def delete(self, automation_id: str, event: LifecycleEvent) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(
                automation.delete().where(self._mine(), automation.c.id == automation_id)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            await session.execute(outbox.insert().values(self._outbox_row(event)))
            return True

    async def list_page(
        self, where: ListFilter, page_size: int, after: dict[str, Any] | None
    ) -> tuple[list[AutomationDocument], dict[str, Any] | None]:
        """One page in `where.order`, starting after the position `after`; and the next
        page's position, or None on the last page. Keyset paging on (sort key, id)."""
        column, descending = ORDERS[where.order]
        query = sa.select(automation).where(self._mine(), *self._conditions(where))
        if after is not None:
            key: Any = after["k"]
            if column.type.python_type is datetime:
                key = datetime.fromisoformat(key)
            beyond = (column < key) if descending else (column > key)
            same_key_beyond = (
                (automation.c.id < after["id"]) if descending else (automation.c.id > after["id"])
            )
            query = query.where(sa.or_(beyond, sa.and_(column == key, same_key_beyond)))
        if descending:
            query = query.order_by(column.desc(), automation.c.id.desc())
        else:
            query = query.order_by(column.asc(), automation.c.id.asc())
        async with self._sessions() as session:
            rows = (await session.execute(query.limit(page_size + 1))).all()
        docs = [_to_document(r) for r in rows[:page_size]]
        if len(rows) <= page_size:
            return docs, None
        last = rows[page_size - 1]
        key_value = getattr(last, column.name)
        if isinstance(key_value, datetime):
            key_value = key_value.isoformat()
        return docs, {"k": key_value, "id": last.id}

    def _conditions(self, where: ListFilter) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if where.names:
            conditions.append(automation.c.name.in_(where.names))
        if where.enabled is not None:
            conditions.append(automation.c.enabled.is_(where.enabled))
        for tag in sorted(set(where.tags)):
            conditions.append(
                sa.exists().where(
                    automation_tag.c.automation_id == automation.c.id, automation_tag.c.tag == tag
                )
            )
        return conditions

    async def count(self, enabled: bool | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(automation).where(self._mine())
        if enabled is not None:
            query = query.where(automation.c.enabled.is_(enabled))
        async with self._sessions() as session:
            return int((await session.execute(query)).scalar_one())

    async def related_to(self, resource_id: str) -> list[AutomationDocument]:
        rr = automation_related_resource
        query = (
            sa.select(automation)
            .join(rr, rr.c.automation_id == automation.c.id)
            .where(self._mine(), rr.c.resource_id == resource_id)
            .order_by(automation.c.name, automation.c.id)
        )
        async with self._sessions() as session:
            return [_to_document(r) for r in (await session.execute(query)).all()]

    async def delete_owned(self, resource_id: str, created_before: datetime) -> list[str]:
        """Delete what `resource_id` owns, created no later than `created_before` (a guard
        against removing an automation re-created concurrently); the deleted ids."""
        rr = automation_related_resource
        async with self._sessions.begin() as session:
            ids = list(
                await session.scalars(
                    sa.select(automation.c.id)
                    .join(rr, rr.c.automation_id == automation.c.id)
                    .where(
                        self._mine(),
                        rr.c.resource_id == resource_id,
                        rr.c.owned.is_(True),
                        automation.c.created <= created_before,
                    )
                )
            )
            if ids:
                await session.execute(automation.delete().where(automation.c.id.in_(ids)))
        return ids

    async def enabled(self) -> list[AutomationDocument]:
        query = sa.select(automation).where(self._mine(), automation.c.enabled.is_(True))
        async with self._sessions() as session:
            return [_to_document(r) for r in (await session.execute(query)).all()]

    async def signature(self) -> Signature:
        query = sa.select(sa.func.count(), sa.func.max(automation.c.updated)).where(self._mine())
        async with self._sessions() as session:
            count, last = (await session.execute(query)).one()
        return Signature(int(count), None if last is None else _utc(last))

    async def get_many(self, ids: Sequence[str]) -> list[AutomationDocument]:
        query = sa.select(automation).where(self._mine(), automation.c.id.in_(list(ids)))
        async with self._sessions() as session:
            return [_to_document(r) for r in (await session.execute(query)).all()]
