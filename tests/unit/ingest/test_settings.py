"""Ingest settings come from INGEST_* variables, nested with `__`."""

from __future__ import annotations

import pytest

from automations_ingest.__main__ import main
from automations_ingest.settings import IngestSettings


def test_defaults_match_make_run() -> None:
    settings = IngestSettings(_env_file=None)
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
    out = capsys.readouterr().out
    assert "INGEST_HTTP_PORT" in out
    assert "INGEST_PREFECT_BRIDGE__URL" in out


def test_the_prefect_bridge_is_off_by_default_and_configured_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert IngestSettings().prefect_bridge.url == ""
    monkeypatch.setenv("INGEST_PREFECT_BRIDGE__URL", "http://127.0.0.1:4200/api")
    monkeypatch.setenv("INGEST_PREFECT_BRIDGE__API_KEY", "pnu_secret")
    monkeypatch.setenv("INGEST_PREFECT_BRIDGE__EXCLUDE_EVENT_PREFIXES", '["prefect.log"]')
    monkeypatch.setenv("INGEST_PREFECT_BRIDGE__CATCH_UP_DELAY_SECONDS", "2.5")
    bridge = IngestSettings().prefect_bridge
    assert bridge.url == "http://127.0.0.1:4200/api"
    assert bridge.api_key is not None
    assert bridge.api_key.get_secret_value() == "pnu_secret"
    assert "pnu_secret" not in repr(bridge)
    assert bridge.auth_string is None
    assert bridge.exclude_event_prefixes == ["prefect.log"]
    assert bridge.catch_up_delay_seconds == 2.5
    assert bridge.batch_size == 100
