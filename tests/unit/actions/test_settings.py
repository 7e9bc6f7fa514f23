"""ActionsSettings from the environment: prefix, nesting, defaults, the allow-list forms."""

from __future__ import annotations

import pytest

from automations_actions.__main__ import main
from automations_actions.settings import ActionsSettings
from automations_common.lifecycle import loop_factory


def test_defaults() -> None:
    settings = ActionsSettings()
    assert settings.grpc.port == 7473
    assert settings.automations_api_url == "127.0.0.1:7472"
    assert settings.prefect_api_url == ""
    assert settings.retry.max_attempts == 5


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIONS_GRPC__PORT", "9999")
    monkeypatch.setenv("ACTIONS_RETRY__MAX_ATTEMPTS", "2")
    monkeypatch.setenv("ACTIONS_PRIVATE_URL_ALLOWLIST", "10.0.0.0/8, hooks.internal")
    settings = ActionsSettings()
    assert settings.grpc.port == 9999
    assert settings.retry.max_attempts == 2
    assert settings.private_url_allowlist == ["10.0.0.0/8", "hooks.internal"]
    monkeypatch.setenv("ACTIONS_PRIVATE_URL_ALLOWLIST", '["192.168.0.0/16"]')
    assert ActionsSettings().private_url_allowlist == ["192.168.0.0/16"]


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "ACTIONS_PREFECT_API_URL" in capsys.readouterr().out


def test_orchestrator_credentials_ui_url_and_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIONS_PREFECT_API_URL", "http://127.0.0.1:4200/api")
    monkeypatch.setenv("ACTIONS_PREFECT_AUTH_STRING", "admin:pw")
    monkeypatch.setenv("ACTIONS_UI_URL", "http://127.0.0.1:4200")
    monkeypatch.setenv("ACTIONS_EVENT_LOOP", "asyncio")
    monkeypatch.setenv("ACTIONS_CONSUMER__COMMIT_LINGER_SECONDS", "0")
    settings = ActionsSettings()
    assert settings.prefect_api_key == ""
    assert settings.prefect_auth_string == "admin:pw"
    assert settings.ui_url == "http://127.0.0.1:4200"
    assert settings.event_loop == "asyncio"
    assert settings.consumer.commit_linger_seconds == 0
    assert loop_factory("asyncio") is None
    assert loop_factory("uvloop") is not None


def test_api_keys_and_the_key_sent_to_the_automations_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ActionsSettings().key_for_automations_api() == ""
    monkeypatch.setenv("ACTIONS_API_KEYS", "current,previous")
    settings = ActionsSettings()
    assert settings.accepted_api_keys() == ("current", "previous")
    # One key list for every service: the first key also opens the triggers service.
    assert settings.key_for_automations_api() == "current"
    monkeypatch.setenv("ACTIONS_AUTOMATIONS_API_KEY", "triggers-only")
    assert ActionsSettings().key_for_automations_api() == "triggers-only"
