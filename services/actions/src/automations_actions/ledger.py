"""The action ledger in SQL: one row per action id, written before acting, terminal after."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select
from sqlalchemy.engine import RowMapping

from automations_actions.runs import ActionRun, Attempt, RunQuery, RunState
from automations_actions.tables import action_run, as_utc
from automations_common.database import Transactions, upsert_insert

# What a later save of the same run may change.
_CHANGING = (
    "state",
    "attempts",
    "reason",
    "result",
    "rendered_request",
    "resulting_related",
    "updated",
    "finished",
)


class SqlLedger:
    """Reads and writes action runs, a whole batch per transaction.

    Core statements run as one piece of work (`Transactions`), not ORM sessions: the
    ledger is on every action's path and a session's bookkeeping cost more than the
    statements.
    """

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions
        self._engine = transactions.engine
        dialect = self._engine.dialect.name
        insert = upsert_insert(dialect)
        # Built once: constructing a statement costs more than running it.
        self._select_ids = select(action_run).where(
            action_run.c.id.in_(bindparam("ids", expanding=True))
        )
        self._insert_new = insert(action_run).on_conflict_do_nothing(index_elements=["id"])
        upsert = insert(action_run)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=["id"], set_={name: upsert.excluded[name] for name in _CHANGING}
        )
        # One ledger transaction at a time: on SQLite the thread of `Transactions` runs them
        # one by one anyway (two at once made one sleep in SQLite's busy handler, a latency
        # tail); on PostgreSQL two upserting the same runs in another order could deadlock.
        self._writing = asyncio.Lock()

    async def claim(self, runs: Sequence[ActionRun]) -> dict[str, ActionRun]:
        """Insert each run whose id the ledger does not hold yet, in one transaction; the
        runs it already held, as they were."""
        if not runs:
            return {}
        rows = {run.id: _to_row(run) for run in runs}

        def insert_new(connection: Connection) -> list[RowMapping]:
            held = list(connection.execute(self._select_ids, {"ids": list(rows)}).mappings())
            known = {row["id"] for row in held}
            fresh = [row for run_id, row in rows.items() if run_id not in known]
            if fresh:
                connection.execute(self._insert_new, fresh)
            return held

        async with self._writing:
            held = await self._transactions.write(insert_new)
        return {row["id"]: _from_row(row) for row in held}

    async def save(self, runs: Sequence[ActionRun]) -> None:
        """Insert or overwrite `runs` in one transaction."""
        if not runs:
            return
        rows = [_to_row(run) for run in runs]
        async with self._writing:
            await self._transactions.write(
                lambda connection: connection.execute(self._upsert, rows)
            )

    async def get(self, workspace: str, run_id: str) -> ActionRun | None:
        async with self._engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(action_run).where(
                            action_run.c.workspace == workspace, action_run.c.id == run_id
                        )
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _from_row(row)

    async def list(
        self, query: RunQuery, after: Mapping[str, Any] | None, limit: int
    ) -> tuple[list[ActionRun], dict[str, Any] | None]:
        """Newest first; `after` is the position the previous page ended at."""
        statement = select(action_run).where(action_run.c.workspace == query.workspace)
        if query.automation_id:
            statement = statement.where(action_run.c.automation_id == query.automation_id)
        if query.states:
            statement = statement.where(action_run.c.state.in_([str(s) for s in query.states]))
        if query.since is not None:
            statement = statement.where(action_run.c.created >= query.since)
        if query.until is not None:
            statement = statement.where(action_run.c.created < query.until)
        if after:
            created = datetime.fromisoformat(str(after["created"]))
            statement = statement.where(
                or_(
                    action_run.c.created < created,
                    and_(action_run.c.created == created, action_run.c.id < str(after["id"])),
                )
            )
        statement = statement.order_by(action_run.c.created.desc(), action_run.c.id.desc())
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement.limit(limit + 1))).mappings().all()
        runs = [_from_row(row) for row in rows[:limit]]
        position = None
        if len(rows) > limit:
            last = rows[limit - 1]
            position = {"created": as_utc(last["created"]).isoformat(), "id": last["id"]}
        return runs, position


def _to_row(run: ActionRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "workspace": run.workspace,
        "automation_id": run.automation_id,
        "automation_name": run.automation_name,
        "action_index": run.action_index,
        "action_type": run.action_type,
        "state": str(run.state),
        "firing_id": run.firing_id,
        "triggering_event_id": run.triggering_event_id,
        "attempts": [a.to_json() for a in run.attempts],
        "reason": run.reason,
        "result": run.result,
        "rendered_request": run.rendered_request,
        "resulting_related": run.resulting_related,
        "created": run.created,
        "updated": run.updated,
        "finished": run.finished,
    }


def _from_row(row: RowMapping) -> ActionRun:
    return ActionRun(
        id=row["id"],
        workspace=row["workspace"],
        automation_id=row["automation_id"],
        automation_name=row["automation_name"],
        action_index=row["action_index"],
        action_type=row["action_type"],
        state=RunState(row["state"]),
        firing_id=row["firing_id"],
        triggering_event_id=row["triggering_event_id"],
        attempts=[Attempt.from_json(a) for a in row["attempts"] or []],
        reason=row["reason"],
        result=dict(row["result"] or {}),
        rendered_request=row["rendered_request"],
        resulting_related=list(row["resulting_related"] or []),
        created=as_utc(row["created"]),
        updated=as_utc(row["updated"]),
        finished=as_utc(row["finished"]) if row["finished"] is not None else None,
    )
