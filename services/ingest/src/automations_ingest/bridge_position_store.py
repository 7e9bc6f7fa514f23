"""The Prefect bridge's resume point in SQL: one row per (workspace, source)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from automations_common.database import upsert_insert
from automations_ingest.tables import bridge_position_table

P = bridge_position_table.c


class BridgePositionStore:
    """`ResumePoints` for one bridge source; the stored point only ever moves forward."""

    def __init__(
        self, engine: AsyncEngine, workspace: str, source: str, clock: Callable[[], datetime]
    ) -> None:
        self._engine = engine
        self._key = {"workspace": workspace, "source": source}
        self._clock = clock

    async def load(self) -> datetime | None:
        async with self._engine.connect() as connection:
            occurred: datetime | None = (
                await connection.execute(
                    select(P.occurred).where(
                        P.workspace == self._key["workspace"], P.source == self._key["source"]
                    )
                )
            ).scalar_one_or_none()
        return occurred

    async def save(self, occurred: datetime) -> None:
        insert = upsert_insert(self._engine.dialect.name)(bridge_position_table)
        statement = insert.values(
            **self._key, occurred=occurred, update_time=self._clock()
        ).on_conflict_do_update(
            index_elements=["workspace", "source"],
            set_={"occurred": insert.excluded.occurred, "update_time": insert.excluded.update_time},
            where=P.occurred < insert.excluded.occurred,
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)
