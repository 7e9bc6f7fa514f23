"""Block rules without storage: masking, keeping masked secrets, validation, encryption."""

from __future__ import annotations

from typing import Any

import pytest

from automations_actions.blocks import (
    MASK,
    Block,
    keep_masked_secrets,
    masked,
    normalized_config,
)
from automations_common.errors import InvalidArgument


def test_every_secret_kind_is_masked() -> None:
    cases: dict[str, dict[str, Any]] = {
        "webhook": {"url": "https://x/y", "headers": {"A": "1"}},
        "slack_webhook": {"url": "https://hooks.slack.com/x"},
        "microsoft_teams_webhook": {"url": "https://teams/x"},
        "email": {"password": "pw", "username": "me"},
        "custom_webhook": {"url": "https://x", "secrets": {"token": "t"}},
        "apprise": {"url": "tgram://token/chat"},
    }
    for kind, config in cases.items():
        shown = masked(Block("id", "n", kind, config)).config
        assert "1" not in str(shown.get("headers"))
        assert shown.get("password", MASK) == MASK
        if kind != "custom_webhook" and kind != "email":
            assert shown["url"] == MASK
        if kind == "email":
            assert shown["username"] == "me"
        if kind == "custom_webhook":
            assert shown["secrets"] == {"token": MASK}
            assert shown["url"] == "https://x"


def test_a_masked_secret_keeps_the_stored_value() -> None:
    stored = {"url": "https://real", "headers": {"A": "1", "B": "2"}}
    new = {"url": MASK, "headers": {"A": MASK, "B": "changed", "C": "new"}}
    assert keep_masked_secrets(new, stored, "webhook") == {
        "url": "https://real",
        "headers": {"A": "1", "B": "changed", "C": "new"},
    }


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"url": "ftp://x"}, "block.webhook.url"),
        ({"url": "http://"}, "block.webhook.url"),
        ({"url": "http://user:pw@host/"}, "block.webhook.url"),
        ({"url": "http://host:99999/"}, "block.webhook.url"),
        ({"url": "https://ok", "method": "TRACE"}, "block.webhook.method"),
        ({"url": "https://ok", "headers": {"Bad Name": "x"}}, "block.webhook.headers"),
    ],
)
def test_bad_webhook_config_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        normalized_config("webhook", config, "block.webhook")
    assert field in [v.field for v in info.value.violations]


def test_defaults_are_filled_in() -> None:
    assert normalized_config("webhook", {"url": "https://ok"}, "p")["method"] == "POST"
    email = normalized_config(
        "email",
        {
            "smtp_server": "s",
            "from_email": "a@b",
            "to_emails": ["c@d"],
            "smtp_security": "SMTP_SECURITY_SSL",
        },
        "p",
    )
    assert email["smtp_port"] == 465
