"""`python -m automations_triggers --help` documents every setting and its variable."""

from __future__ import annotations

import pytest

from automations_triggers.__main__ import main
from automations_triggers.settings import TriggersSettings


def test_help_lists_the_environment_variables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for variable in (
        "TRIGGERS_NATS__URL",
        "TRIGGERS_GRPC__PORT",
        "TRIGGERS_DATABASE_URL",
        "TRIGGERS_BATCH_SIZE",
        "TRIGGERS_RECONCILE_SECONDS",
    ):
        assert variable in out
    assert "7472" in out


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIGGERS_GRPC__PORT", "9999")
    monkeypatch.setenv("TRIGGERS_NATS__NAMESPACE", "x")
    settings = TriggersSettings()
    assert settings.grpc.port == 9999
    assert settings.nats.namespace == "x"
    assert TriggersSettings.model_construct().grpc.port == 7472
