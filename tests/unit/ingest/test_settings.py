"""Ingest settings come from INGEST_* variables, nested with `__`."""

from __future__ import annotations

import pytest

from automations_ingest.__main__ import main
from automations_ingest.settings import IngestSettings


def test_defaults_match_make_run() -> None:
    settings = IngestSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.grpc.port == 7471
    assert settings.http_port == 7480
    assert settings.limits.max_event_bytes == 1_500_000
    assert settings.limits.max_labels_per_resource == 500
    assert settings.limits.max_related_resources == 100
    assert settings.limits.max_event_name_chars == 1024
    assert settings.retention.default_days == 7


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_GRPC__PORT", "9999")
    monkeypatch.setenv("INGEST_HTTP_PORT", "0")
    monkeypatch.setenv("INGEST_NATS__NAMESPACE", "ns")
    monkeypatch.setenv("INGEST_RETENTION__DAYS_BY_PREFIX", '{"prefect.flow-run.heartbeat": 1}')
    settings = IngestSettings()
    assert settings.grpc.port == 9999
    assert settings.http_port == 0
    assert settings.nats.namespace == "ns"
    assert settings.retention.days_by_prefix == {"prefect.flow-run.heartbeat": 1.0}


def test_help_describes_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert "INGEST_HTTP_PORT" in capsys.readouterr().out
