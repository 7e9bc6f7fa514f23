"""A migrated database and its `Transactions`, closed and disposed afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from automations_common.database import Transactions, create_engine, migrate


@asynccontextmanager
async def migrated(url: str, migrations: Path, version_table: str) -> AsyncIterator[Transactions]:
    """`Transactions` over a fresh engine on `url` with the service's schema; the engine
    is `transactions.engine`."""
    engine = create_engine(url)
    transactions = Transactions(engine)
    try:
        await migrate(engine, migrations, version_table)
        yield transactions
    finally:
        await transactions.close()
        await engine.dispose()
