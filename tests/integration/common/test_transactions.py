"""Transactions: synchronous Core work committed as a whole, on SQLite files and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from automations_common.database import Transactions, create_engine, new_metadata

metadata = new_metadata()
things = sa.Table(
    f"things_{uuid.uuid4().hex[:8]}",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


@pytest.fixture
async def transactions(database_url: str) -> AsyncIterator[Transactions]:
    """`Transactions` over a database holding an empty `things` table."""
    engine = create_engine(database_url)
    transactions = Transactions(engine)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield transactions
    finally:
        await transactions.close()
        async with engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)
        await engine.dispose()


def _count(connection: Connection) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(things)).scalar_one())


async def test_work_commits_whole_or_not_at_all(transactions: Transactions) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def insert(connection: Connection) -> int:
        connection.execute(things.insert(), [{"id": 1, "data": {"k": [1]}, "at": at}])
        return _count(connection)

    assert await transactions.write(insert) == 1

    def insert_then_fail(connection: Connection) -> None:
        connection.execute(things.insert(), [{"id": 2, "data": {}, "at": at}])
        raise ValueError("changed my mind")

    with pytest.raises(ValueError, match="changed my mind"):
        await transactions.write(insert_then_fail)
    assert await transactions.read(_count) == 1  # the failed work left nothing behind

    # What the thread wrote, the async engine reads, with the same types.
    async with transactions.engine.connect() as connection:
        row = (await connection.execute(sa.select(things))).one()
    assert row.data == {"k": [1]}
    assert row.at.replace(tzinfo=UTC) == at


async def test_writes_from_many_tasks_all_land(transactions: Transactions) -> None:
    at = datetime.now(UTC)

    def insert(i: int) -> Callable[[Connection], object]:
        return lambda connection: connection.execute(
            things.insert(), [{"id": i, "data": [i], "at": at}]
        )

    await asyncio.gather(*(transactions.write(insert(i)) for i in range(50)))
    assert await transactions.read(_count) == 50


async def test_closed_transactions_say_so(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/closed.db")
    transactions = Transactions(engine)
    await transactions.close()
    with pytest.raises(RuntimeError, match="closed"):
        await transactions.write(_count)
    await engine.dispose()
