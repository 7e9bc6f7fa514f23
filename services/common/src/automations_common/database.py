"""Database engine, sessions and migrations (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson
import sqlalchemy
from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection, Engine, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

log = logging.getLogger(__name__)

T = TypeVar("T")

# Naming convention so migrations produce the same constraint names on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and foreign keys."""
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, json_serializer=json_text)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        json_serializer=json_text,
    )


SQLITE_BUSY_SECONDS = 30.0


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL (kept in the file, so a no-op once done). Switching a new file
    needs its write lock, and SQLite answers "locked" at once, without the busy wait, while
    another process holds it: processes starting together on a new file retry here."""
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def json_text(value: object) -> str:
    """JSON column text as the engines write it."""
    # JSON columns are written on every stored event: orjson is about ten times faster
    # than the standard library here. Non-string keys become strings, as with `json`.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class Transactions:
    """Runs synchronous Core work (a function of a Connection) in one transaction, off the
    event loop: the way for hot paths that run a few statements per batch.

    With aiosqlite every cursor, execute, fetch and commit is a hop to its thread and back:
    a five-statement transaction made 17 hops and cost ~4 ms of CPU. For a SQLite file the
    whole function runs in one hop instead, with the sqlite3 driver on a thread of its own
    (~0.4 ms with its statements built once); SQLite admits one writer at a time anyway.
    Other backends run it on the async engine (`run_sync`), where each statement is a
    network round trip regardless.
    If the caller is cancelled, work already handed to the thread still runs to its end.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if _is_sqlite_file(engine.url):
            self._sync = sqlalchemy.create_engine(
                engine.url.set(drivername="sqlite"),
                connect_args={"timeout": 30},
                json_serializer=json_text,
            )
            event.listen(self._sync, "connect", _sqlite_pragmas)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-transactions")

    async def write(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` in a transaction, committed when it returns."""
        if self._thread is None:
            async with self.engine.begin() as connection:
                return await connection.run_sync(work)
        return await self._on_thread(self._in_transaction, work)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` for reading; nothing it does is committed."""
        if self._thread is None:
            async with self.engine.connect() as connection:
                return await connection.run_sync(work)
        return await self._on_thread(self._in_connection, work)

    async def close(self) -> None:
        """Release the thread and its connections; the async engine is the caller's."""
        if self._sync is not None and self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sync.dispose)
            self._thread.shutdown()
            self._sync = None

    async def _on_thread(
        self, run: Callable[[Engine, Callable[[Connection], T]], T], work: Callable[[Connection], T]
    ) -> T:
        if self._sync is None:
            raise RuntimeError("these transactions were closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, run, self._sync, work)

    @staticmethod
    def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
        with engine.begin() as connection:
            return work(connection)

    @staticmethod
    def _in_connection(engine: Engine, work: Callable[[Connection], T]) -> T:
        with engine.connect() as connection:
            return work(connection)


def _is_sqlite_file(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


def upsert_insert(dialect: str) -> Callable[[Any], Any]:
    """The `insert` construct with ON CONFLICT clauses for `dialect` (SQLite or PostgreSQL)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def migrate(engine: AsyncEngine, script_location: Path, version_table: str) -> None:
    """Bring the schema to the newest revision. Each service keeps its own version table,
    so services may share one database without touching each other's tables. Processes
    starting together (replicas, the ingest API and its persister) migrate one at a time."""

    def upgrade(connection: Connection) -> None:
        _lock_for_migration(connection, version_table)
        config = Config()
        config.set_main_option("script_location", str(script_location))
        config.attributes["connection"] = connection
        config.attributes["version_table"] = version_table
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


def _lock_for_migration(connection: Connection, version_table: str) -> None:
    """Hold the database's migration lock until this transaction ends."""
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(version_table.encode()).digest()[:8], signed=True)
        connection.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif connection.dialect.name == "sqlite":
        # The driver opens no transaction before DDL; take the write lock now, so a
        # second process waits (busy timeout) instead of creating the same tables.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def run_migrations_in_env(target_metadata: MetaData | None = None) -> None:
    """Body of every service's alembic `env.py`: migrate on the connection `migrate` passed."""
    from alembic import context

    config = context.config
    connection: Any = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through automations_common.database.migrate()")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
