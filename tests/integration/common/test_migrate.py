"""Migrations: processes that start together on one database migrate one at a time."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from automations_common.database import create_engine, migrate
from automations_ingest.app import MIGRATIONS, VERSION_TABLE


async def test_processes_starting_together_migrate_one_at_a_time(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(engine, MIGRATIONS, VERSION_TABLE) for engine in engines))
        async with engines[0].connect() as connection:
            versions = (
                await connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))
            ).all()
            stored = (await connection.execute(sa.text("SELECT count(*) FROM event"))).scalar()
        assert len(versions) == 1
        assert stored == 0
    finally:
        for engine in engines:
            await engine.dispose()
