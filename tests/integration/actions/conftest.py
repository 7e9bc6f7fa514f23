"""The real Prefect server for orchestration-action tests (one per session, on loopback).

Tests that use `prefect_api_url` are marked `prefect` and get a longer timeout, because
the first one may install Prefect into its cached virtualenv (tests/support/prefect_server.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.prefect_server import PrefectServer, ensure_prefect_venv

PREFECT_TEST_TIMEOUT_SECONDS = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "prefect_api_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.prefect)
            item.add_marker(pytest.mark.timeout(PREFECT_TEST_TIMEOUT_SECONDS))


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    server = PrefectServer(ensure_prefect_venv(), tmp_path_factory.mktemp("prefect"))
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prefect_api_url(prefect_server: PrefectServer) -> str:
    """`http://127.0.0.1:<port>/api` of a running Prefect server on SQLite."""
    return prefect_server.api_url
