"""A running suite for end-to-end tests: one per session, plus fresh ones for crash tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from automations_common.devstack import Stack


@pytest.fixture(scope="session")
def stack(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The three services as processes, found by the client through its environment."""
    suite = Stack(
        nats_url, tmp_path_factory.mktemp("stack"), namespace=f"e2e{uuid.uuid4().hex[:8]}"
    )
    saved = {key: os.environ.get(key) for key in suite.client_env}
    try:
        suite.start_all()
        os.environ.update(suite.client_env)
        yield suite
    finally:
        suite.stop_all()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
