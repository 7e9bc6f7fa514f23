"""Each CLI command against a real gRPC server, with its output and exit code."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from automations import AutomationsClient
from automations._cli import main

from ...unit.client.prefect_documents import DOCUMENTS
from .fakes import FakeStack

DOCUMENT = {
    "name": "cli demo",
    "trigger": {"type": "event", "expect": ["demo.ping"], "posture": "Reactive"},
    "actions": [{"type": "do-nothing"}],
}


class Cli:
    def __init__(self, stack: FakeStack) -> None:
        self.address = stack.address

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        client = AutomationsClient(
            api_url=self.address, events_url=self.address, actions_url=self.address
        )
        code = main(list(argv), client=client, stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli(threaded_stack: FakeStack) -> Cli:
    return Cli(threaded_stack)


def test_the_automation_commands(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "automation.json"
    path.write_text(json.dumps(DOCUMENT))
    code, out, _ = cli("create", "--from-file", str(path), "-o", "json")
    assert code == 0
    [created] = json.loads(out)
    automation_id = created["id"]

    code, out, _ = cli("ls")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["ID", "NAME", "ENABLED"]
    assert "cli demo" in out
    assert "Reactive: expecting 1 of ['demo.ping']" in out

    code, out, _ = cli("inspect", "cli demo", "-o", "json")
    assert code == 0
    shown = json.loads(out)
    assert shown["id"] == automation_id
    assert shown["trigger"]["expect"] == ["demo.ping"]
    code, out, _ = cli("inspect", automation_id)
    assert "name: cli demo" in out

    assert cli("disable", automation_id)[0] == 0
    assert json.loads(cli("inspect", automation_id, "-o", "json")[1])["enabled"] is False
    assert cli("enable", "cli demo")[0] == 0
    assert json.loads(cli("inspect", automation_id, "-o", "json")[1])["enabled"] is True

    changed = DOCUMENT | {"name": "renamed"}
    code, _, _ = cli("update", "--id", automation_id, "--from-json", json.dumps(changed))
    assert code == 0
    assert "renamed" in cli("ls")[1]

    code, out, _ = cli("delete", "renamed", "-o", "json")
    assert code == 0
    assert json.loads(out) == [{"id": automation_id, "name": "renamed"}]
    code, _, err = cli("delete", automation_id)
    assert code == 1
    assert "not found" in err


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_ids(v) for k, v in value.items() if k not in {"id", "created", "updated"}
        }
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_a_prefect_export_loads_unchanged(cli: Cli, tmp_path: Path, name: str) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(DOCUMENTS[name]))
    code, out, err = cli("create", "--from-file", str(path), "-o", "json")
    assert code == 0, err
    [created] = json.loads(out)
    code, out, _ = cli("inspect", created["id"], "-o", "json")
    assert _without_ids(json.loads(out)) == _without_ids(DOCUMENTS[name])


def test_delete_all_needs_yes(cli: Cli) -> None:
    cli("create", "--from-json", json.dumps([DOCUMENT, DOCUMENT | {"name": "two"}]))
    code, _, err = cli("delete", "--all")
    assert code == 1
    assert "--yes" in err
    code, out, _ = cli("delete", "--all", "--yes", "-o", "json")
    assert code == 0
    assert len(json.loads(out)) == 2
    assert cli("ls")[1] == "(none)\n"


def test_server_refusals_exit_with_1_and_name_the_field(cli: Cli) -> None:
    code, _, err = cli("create", "--from-json", json.dumps(DOCUMENT | {"name": ""}))
    assert code == 1
    assert "automation.name" in err


def test_events_commands(cli: Cli, threaded_stack: FakeStack) -> None:
    code, out, _ = cli(
        "events", "emit", "demo.ping", "-r", "demo.1", "-l", "k=v", "-p", '{"n": 1}', "-o", "json"
    )
    assert code == 0
    [emitted] = json.loads(out)
    stored = threaded_stack.events.stored[emitted["id"]]
    assert dict(stored.resource.labels) == {"prefect.resource.id": "demo.1", "k": "v"}
    code, out, _ = cli("events", "query", "-e", "demo.ping")
    assert code == 0
    assert "demo.ping" in out
    assert "demo.1" in out
    code, out, _ = cli("events", "tail", "-o", "json")
    assert code == 0
    assert json.loads(out.splitlines()[0])["event"] == "demo.ping"


def test_blocks_and_runs_commands(cli: Cli, threaded_stack: FakeStack) -> None:
    from pydantic import SecretStr

    from automations import Webhook

    address = threaded_stack.address
    with AutomationsClient(api_url=address, events_url=address, actions_url=address) as client:
        Webhook(url=SecretStr("http://x")).save("hook", client=client)
    code, out, err = cli("blocks", "create", "slack_webhook", "s", "-j", '{"url": "https://s"}')
    assert code == 0, err
    assert "slack_webhook" in out
    code, _, err = cli("blocks", "create", "slack_webhook", "s", "-j", '{"url": "https://t"}')
    assert code == 1
    assert "overwrite" in err
    assert cli("blocks", "create", "slack_webhook", "s", "-j", "{}", "--overwrite")[0] == 1
    code, out, _ = cli("blocks", "ls")
    assert code == 0
    assert "hook" in out
    assert "webhook" in out
    code, out, _ = cli("blocks", "inspect", "hook", "-o", "json")
    assert json.loads(out)["url"] == "**********"
    assert cli("blocks", "delete", "hook")[0] == 0
    assert cli("blocks", "inspect", "hook")[0] == 1

    code, out, _ = cli("runs", "ls", "--automation", "a")
    assert code == 0
    assert out.count("call-webhook") == 2
    code, out, _ = cli("runs", "ls", "-o", "json", "--state", "succeeded")
    assert len(json.loads(out)) == 5
    assert cli("runs", "ls", "--state", "done")[0] == 1


def test_applying_a_triggers_file_twice_leaves_one_set(
    cli: Cli, threaded_stack: FakeStack, tmp_path: Path
) -> None:
    deployment = "b3514963-02b1-47a5-93d1-6eeb131041cb"
    path = tmp_path / "prefect.yaml"
    path.write_text(
        "deployments:\n"
        "  - name: etl\n"
        "    triggers:\n"
        "      - expect: [a.b]\n"
        "        parameters: {x: '{{ event.id }}'}\n"
        "      - posture: Proactive\n"
        "        expect: [c.d]\n"
    )
    for _ in range(2):
        code, out, err = cli("triggers", "apply", deployment, "-f", str(path), "-o", "json")
        assert code == 0, err
        assert [a["name"] for a in json.loads(out)] == ["etl__automation_1", "etl__automation_2"]
    stored = threaded_stack.automations.stored.values()
    assert sorted(a.name for a in stored) == ["etl__automation_1", "etl__automation_2"]
    assert {a.owner_resource for a in stored} == {f"prefect.deployment.{deployment}"}


def test_webhooks_commands(cli: Cli, threaded_stack: FakeStack) -> None:
    code, out, err = cli(
        "webhooks", "create", "gh", "-t", '{"event": "x"}', "--slug", "gh", "-o", "json"
    )
    assert code == 0, err
    [created] = json.loads(out)
    assert created["slug"] == "gh"
    code, out, _ = cli("webhooks", "ls")
    assert out.splitlines()[0].split() == ["ID", "NAME", "SLUG", "ENABLED", "VERIFICATION"]
    assert "gh" in out
    assert cli("webhooks", "disable", created["id"])[0] == 0
    code, out, _ = cli("webhooks", "inspect", created["id"], "-o", "json")
    assert json.loads(out)["enabled"] is False
    assert cli("webhooks", "enable", created["id"])[0] == 0
    assert cli("webhooks", "delete", created["id"])[0] == 0
    code, _, err = cli("webhooks", "delete", created["id"])
    assert code == 1
    assert "not found" in err
