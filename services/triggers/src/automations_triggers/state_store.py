"""The engine's state rows and the outbox, committed together."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import Connection

from automations_common.broker import OutgoingMessage
from automations_common.database import Transactions, upsert_insert
from automations_triggers.state import StateChanges, StateRow
from automations_triggers.tables import outbox, trigger_state

# Rows per IN (...) clause, well under every backend's parameter limit.
_CHUNK = 400


class EngineStateStore:
    """Reads everything once at start; afterwards only writes, one transaction per batch.

    Core statements run as one piece of work (`Transactions`), not ORM sessions: a commit
    per batch of events is this service's most frequent database call."""

    def __init__(self, transactions: Transactions, workspace: str) -> None:
        self._transactions = transactions
        self._engine = transactions.engine
        self._workspace = workspace
        self._statements = _Statements(self._engine.dialect.name, workspace)

    async def load_rows(self) -> list[StateRow]:
        query = sa.select(trigger_state).where(trigger_state.c.workspace == self._workspace)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [StateRow(r.kind, r.key, r.automation_id, r.data) for r in rows]

    async def load_outbox(self) -> list[OutgoingMessage]:
        query = sa.select(outbox).where(outbox.c.workspace == self._workspace).order_by(outbox.c.id)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [OutgoingMessage(r.subject, bytes(r.data), r.msg_id) for r in rows]

    async def commit(
        self,
        changes: StateChanges,
        messages: Sequence[OutgoingMessage] = (),
        published: Sequence[str] = (),
    ) -> None:
        """State changes and the messages to publish: all or nothing. `published`: ids of
        earlier messages JetStream has stored, to leave the outbox in the same transaction
        (saves one transaction per published batch)."""
        if not changes and not messages and not published:
            return
        await self._transactions.write(
            lambda connection: self._commit(connection, changes, messages, published)
        )

    def _commit(
        self,
        connection: Connection,
        changes: StateChanges,
        messages: Sequence[OutgoingMessage],
        published: Sequence[str],
    ) -> None:
        statements = self._statements
        self._delete_outbox(connection, published)
        deletes = list(changes.deletes)
        for start in range(0, len(deletes), _CHUNK):
            connection.execute(statements.delete_state, {"idents": deletes[start : start + _CHUNK]})
        if changes.upserts:
            connection.execute(
                statements.upsert_state,
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
            connection.execute(
                statements.insert_outbox,
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

    async def clear_outbox(self, msg_ids: Sequence[str]) -> None:
        """Forget messages JetStream has stored."""
        await self._transactions.write(lambda connection: self._delete_outbox(connection, msg_ids))

    def _delete_outbox(self, connection: Connection, msg_ids: Sequence[str]) -> None:
        for start in range(0, len(msg_ids), _CHUNK):
            connection.execute(
                self._statements.delete_outbox, {"ids": list(msg_ids[start : start + _CHUNK])}
            )


class _Statements:
    """The commit's statements, built once: building and hashing a statement per batch
    cost more than running it."""

    def __init__(self, dialect: str, workspace: str) -> None:
        upsert = upsert_insert(dialect)(trigger_state)
        self.upsert_state = upsert.on_conflict_do_update(
            index_elements=["workspace", "kind", "key"],
            set_={"automation_id": upsert.excluded.automation_id, "data": upsert.excluded.data},
        )
        self.delete_state = trigger_state.delete().where(
            trigger_state.c.workspace == workspace,
            sa.tuple_(trigger_state.c.kind, trigger_state.c.key).in_(
                sa.bindparam("idents", expanding=True)
            ),
        )
        self.insert_outbox = outbox.insert()
        self.delete_outbox = outbox.delete().where(
            outbox.c.workspace == workspace,
            outbox.c.msg_id.in_(sa.bindparam("ids", expanding=True)),
        )
