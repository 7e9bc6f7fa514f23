"""The action ledger in SQL: one row per action id, written before acting, terminal after."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from automations_actions.runs import ActionRun, Attempt, RunQuery, RunState
from automations_actions.tables import action_run, as_utc

# What a later save of the same run may change.
_CHANGING = ("state", "attempts", "reason", "result", "rendered_request", "updated", "finished")


class SqlLedger:
    """Reads and writes action runs, a whole batch per transaction.

    Core connections, not ORM sessions: the ledger is on every action's path and a
    session's bookkeeping cost more than the statements.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._upserts: dict[str, Any] = {}
        self._writing = asyncio.Lock()

    async def load(self, ids: Iterable[str]) -> dict[str, ActionRun]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        async with self._engine.connect() as connection:
            rows = (
                (await connection.execute(select(action_run).where(action_run.c.id.in_(wanted))))
                .mappings()
                .all()
            )
        return {row["id"]: _from_row(row) for row in rows}

    async def save(self, runs: Sequence[ActionRun]) -> None:
        """Insert or overwrite `runs` in one transaction."""
        if not runs:
            return
        rows = [_to_row(run) for run in runs]
        # One writer at a time: two SQLite transactions at once make one of them sleep in
        # SQLite's busy handler (up to 100 ms a step), which showed as a latency tail.
        async with self._writing, self._engine.begin() as connection:
            await connection.execute(self._upsert(connection.dialect.name), rows)

    def _upsert(self, dialect: str) -> Any:
        # Built once per dialect: constructing the statement costs more than running it.
        statement = self._upserts.get(dialect)
        if statement is None:
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            base = insert(action_run)
            statement = base.on_conflict_do_update(
                index_elements=["id"],
                set_={name: base.excluded[name] for name in _CHANGING},
            )
            self._upserts[dialect] = statement
        return statement

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
        created=as_utc(row["created"]),
        updated=as_utc(row["updated"]),
        finished=as_utc(row["finished"]) if row["finished"] is not None else None,
    )
