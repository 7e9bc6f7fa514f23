"""The engine's state rows, the outbox and the consumer position, committed together."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from automations_common.broker import OutgoingMessage
from automations_triggers.state import StateChanges, StateRow
from automations_triggers.tables import consumer_position, outbox, trigger_state

# Rows per IN (...) clause, well under every backend's parameter limit.
_CHUNK = 400


class EngineStateStore:
    """Reads everything once at start; afterwards only writes, one transaction per batch.

    Core connections, not ORM sessions: a commit per batch of events is this service's
    most frequent database call, and the session layer only adds work to each."""

    def __init__(self, engine: AsyncEngine, workspace: str, consumer: str) -> None:
        self._engine = engine
        self._workspace = workspace
        self._consumer = consumer

    async def load_rows(self) -> list[StateRow]:
        query = sa.select(trigger_state).where(trigger_state.c.workspace == self._workspace)
        async with self._engine.connect() as session:
            rows = (await session.execute(query)).all()
        return [StateRow(r.kind, r.key, r.automation_id, r.data) for r in rows]

    async def load_outbox(self) -> list[OutgoingMessage]:
        query = sa.select(outbox).where(outbox.c.workspace == self._workspace).order_by(outbox.c.id)
        async with self._engine.connect() as session:
            rows = (await session.execute(query)).all()
        return [OutgoingMessage(r.subject, bytes(r.data), r.msg_id) for r in rows]

    async def position(self) -> int:
        query = sa.select(consumer_position.c.stream_sequence).where(
            consumer_position.c.workspace == self._workspace,
            consumer_position.c.consumer == self._consumer,
        )
        async with self._engine.connect() as session:
            value = (await session.execute(query)).scalar_one_or_none()
        return int(value or 0)

    async def commit(
        self,
        changes: StateChanges,
        messages: Sequence[OutgoingMessage] = (),
        position: int | None = None,
        published: Sequence[str] = (),
    ) -> None:
        """State changes, the messages to publish and the position reached: all or nothing.
        `published`: ids of earlier messages JetStream has stored, to leave the outbox in
        the same transaction (saves one transaction per published batch)."""
        if not changes and not messages and position is None and not published:
            return
        async with self._engine.begin() as session:
            await self._delete_outbox(session, published)
            idents = [(r.kind, r.key) for r in changes.upserts] + list(changes.deletes)
            for start in range(0, len(idents), _CHUNK):
                await session.execute(
                    trigger_state.delete().where(
                        trigger_state.c.workspace == self._workspace,
                        sa.tuple_(trigger_state.c.kind, trigger_state.c.key).in_(
                            idents[start : start + _CHUNK]
                        ),
                    )
                )
            if changes.upserts:
                await session.execute(
                    trigger_state.insert(),
                    [
                        {
                            "workspace": self._workspace,
                            "kind": r.kind,
                            "key": r.key,
                            "automation_id": r.automation_id,
                            "data": r.data,
                        }
                        for r in changes.upserts
                    ],
                )
            if messages:
                await session.execute(
                    outbox.insert(),
                    [
                        {
                            "workspace": self._workspace,
                            "msg_id": m.msg_id,
                            "subject": m.subject,
                            "data": m.data,
                        }
                        for m in messages
                    ],
                )
            if position is not None:
                await self._save_position(session, position)

    async def _save_position(self, session: AsyncConnection, position: int) -> None:
        where = (
            consumer_position.c.workspace == self._workspace,
            consumer_position.c.consumer == self._consumer,
        )
        result = await session.execute(
            consumer_position.update()
            .where(*where, consumer_position.c.stream_sequence < position)
            .values(stream_sequence=position)
        )
        if result.rowcount:
            return
        exists = await session.execute(sa.select(sa.literal(1)).where(*where))
        if exists.first() is None:
            await session.execute(
                consumer_position.insert().values(
                    workspace=self._workspace, consumer=self._consumer, stream_sequence=position
                )
            )

    async def clear_outbox(self, msg_ids: Sequence[str]) -> None:
        """Forget messages JetStream has stored."""
        async with self._engine.begin() as session:
            await self._delete_outbox(session, msg_ids)

    async def _delete_outbox(self, session: AsyncConnection, msg_ids: Sequence[str]) -> None:
        for start in range(0, len(msg_ids), _CHUNK):
            await session.execute(
                outbox.delete().where(
                    outbox.c.workspace == self._workspace,
                    outbox.c.msg_id.in_(list(msg_ids[start : start + _CHUNK])),
                )
            )
