"""The `automations` command against the running services: output and exit codes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from automations import AutomationsClient
from automations_common.devstack import Stack
from tests.unit.client.prefect_documents import DOCUMENTS

IGNORED = {"id", "created", "updated"}


def _without_ids(document: Any) -> Any:
    """A document with the server-assigned ids and times left out, at every level."""
    if isinstance(document, dict):
        return {k: _without_ids(v) for k, v in document.items() if k not in IGNORED}
    if isinstance(document, list):
        return [_without_ids(item) for item in document]
    return document


def automations(stack: Stack, *argv: str) -> tuple[int, str, str]:
    command = [str(Path(sys.executable).parent / "automations"), *argv]
    env = {"PATH": str(Path(sys.executable).parent), **stack.client_env}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    return done.returncode, done.stdout, done.stderr


async def cli(stack: Stack, *argv: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(automations, stack, *argv)


async def test_each_command_against_the_running_services(stack: Stack, tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    document = {
        "name": name,
        "trigger": {"type": "event", "expect": [f"{name}.ping"], "posture": "Reactive"},
        "actions": [{"type": "do-nothing"}],
    }
    path = tmp_path / "automation.json"
    path.write_text(json.dumps(document))

    code, out, err = await cli(stack, "-o", "json", "create", "--from-file", str(path))
    assert code == 0, err
    created = json.loads(out)
    created = created[0] if isinstance(created, list) else created
    automation_id = created["id"]

    code, out, _ = await cli(stack, "ls")
    assert code == 0
    assert name in out
    code, out, _ = await cli(stack, "-o", "json", "inspect", automation_id)
    assert code == 0
    assert json.loads(out)["name"] == name

    code, _, err = await cli(stack, "pause", automation_id)
    assert code == 0, err
    code, out, _ = await cli(stack, "-o", "json", "inspect", name)
    assert json.loads(out)["enabled"] is False
    code, _, err = await cli(stack, "resume", automation_id)
    assert code == 0, err

    document["description"] = "changed from the CLI"
    path.write_text(json.dumps(document))
    code, _, err = await cli(stack, "update", "--from-file", str(path), "--id", automation_id)
    assert code == 0, err
    code, out, _ = await cli(stack, "-o", "json", "inspect", automation_id)
    assert json.loads(out)["description"] == "changed from the CLI"

    code, out, err = await cli(
        stack, "-o", "json", "events", "emit", f"{name}.ping", "--resource-id", f"{name}.res"
    )
    assert code == 0, err

    async def stored() -> bool:
        code, out, _ = await cli(stack, "-o", "json", "events", "query", "--event", f"{name}.*")
        return code == 0 and f"{name}.ping" in out

    for _ in range(50):
        if await stored():
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the emitted event was never stored")

    code, out, _ = await cli(stack, "-o", "json", "runs", "ls")
    assert code == 0
    code, out, _ = await cli(stack, "blocks", "ls")
    assert code == 0

    code, _, _ = await cli(stack, "delete", automation_id)
    assert code == 0
    code, _, err = await cli(stack, "inspect", automation_id)
    assert code == 1
    assert "not found" in err.lower()
    code, _, err = await cli(stack, "inspect")
    assert code == 2


async def test_a_prefect_export_loads_unchanged(stack: Stack, tmp_path: Path) -> None:
    for label, exported in DOCUMENTS.items():
        document = dict(exported, name=f"{exported['name']}-{uuid.uuid4().hex[:6]}")
        path = tmp_path / f"{label}.json"
        path.write_text(json.dumps(document))
        code, out, err = await cli(stack, "-o", "json", "create", "--from-file", str(path))
        assert code == 0, err
        created = json.loads(out)
        created = created[0] if isinstance(created, list) else created
        code, out, _ = await cli(stack, "-o", "json", "inspect", created["id"])
        assert _without_ids(json.loads(out)) == _without_ids(document), label


async def test_applying_a_triggers_file_twice_leaves_one_set_of_owned_automations(
    stack: Stack, tmp_path: Path
) -> None:
    deployment = str(uuid.uuid4())
    path = tmp_path / "prefect.yaml"
    path.write_text(
        "deployments:\n"
        "  - name: etl\n"
        "    triggers:\n"
        "      - expect: [upstream.done]\n"
        "        parameters: {run_for: '{{ event.resource.id }}'}\n"
        "      - posture: Proactive\n"
        "        expect: [upstream.heartbeat]\n"
        "        within: 60\n"
    )
    for _ in range(2):
        code, _, err = await cli(
            stack, "-o", "json", "triggers", "apply", deployment, "-f", str(path)
        )
        assert code == 0, err

    async with _client(stack) as client:
        owned = await client.list_related_automations(f"prefect.deployment.{deployment}")
    assert sorted(a.name for a in owned) == ["etl__automation_1", "etl__automation_2"]
    for automation in owned:
        (action,) = automation.actions
        assert action.type == "run-deployment"
        assert str(action.deployment_id) == deployment


def _client(stack: Stack) -> AutomationsClient:
    return AutomationsClient(
        api_url=stack.address("triggers"),
        events_url=stack.address("ingest"),
        actions_url=stack.address("actions"),
    )
