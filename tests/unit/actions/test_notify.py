"""The message shapes and placeholder rules of notify.py (no servers)."""

from __future__ import annotations

from typing import Any

import pytest

from automations_actions.notify import slack_payload, substitute, teams_payload


def test_slack_payload() -> None:
    assert slack_payload("Down", "db is down") == {"text": "*Down*\ndb is down"}
    assert slack_payload("", "just a body") == {"text": "just a body"}


def test_teams_adaptive_card_for_workflow_urls() -> None:
    payload = teams_payload("https://prod.westeurope.logic.azure.com/workflows/x", "S", "B")
    assert payload["type"] == "message"
    content = payload["attachments"][0]["content"]
    assert content["type"] == "AdaptiveCard"
    assert [block["text"] for block in content["body"]] == ["S", "B"]


def test_teams_message_card_for_legacy_connector_urls() -> None:
    payload = teams_payload("https://acme.webhook.office.com/webhookb2/x", "S", "B")
    assert payload["@type"] == "MessageCard"
    assert (payload["title"], payload["text"], payload["summary"]) == ("S", "B", "S")


VALUES = {"subject": "S", "body": "B", "name": "pager", "token": "t0k", "count": 3}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{subject}}", "S"),
        ("{{ body }}", "B"),
        ("Bearer {{token}}", "Bearer t0k"),
        ("{{count}}", 3),  # a whole placeholder keeps the value's type
        ("n={{count}}", "n=3"),
        ("{{unknown}}", "{{unknown}}"),
        ({"a": ["{{subject}}", {"b": "{{name}}"}], "n": 1}, {"a": ["S", {"b": "pager"}], "n": 1}),
        (None, None),
    ],
)
def test_substitute(template: Any, expected: Any) -> None:
    assert substitute(template, VALUES) == expected
