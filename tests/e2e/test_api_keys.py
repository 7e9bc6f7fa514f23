"""The three services started with API keys (DESIGN §8): calls need an accepted key, health
and reflection do not, the client and the CLI send one, incoming webhooks keep their own
secrets, and pause-automation still reaches the triggers service."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from automations import (
    Automation,
    AutomationsClient,
    DoNothing,
    Event,
    EventFilter,
    EventTrigger,
    IncomingWebhook,
    PauseAutomation,
    PermissionDeniedError,
    Resource,
)
from automations.v1 import (
    automation_service_pb2,
    automation_service_pb2_grpc,
    block_service_pb2,
    block_service_pb2_grpc,
    webhook_service_pb2,
    webhook_service_pb2_grpc,
)
from automations_common.devstack import SERVICES, Stack
from tests.support.grpc_typing import error_reason, health_stub, reflection_stub
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(120)

# Two keys, as during a rotation; actions sends the first to triggers by default.
KEYS = ("key-one", "key-two")
Metadata = tuple[tuple[str, str], ...]


@pytest.fixture(scope="module")
def stack(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    keys = ",".join(KEYS)
    suite = Stack(
        nats_url,
        tmp_path_factory.mktemp("keyed"),
        namespace=f"keys{uuid.uuid4().hex[:8]}",
        extra_env={f"{service.upper()}_API_KEYS": keys for service in SERVICES},
    )
    try:
        suite.start_all()
        yield suite
    finally:
        suite.stop_all()


def client(stack: Stack, api_key: str | None) -> AutomationsClient:
    return AutomationsClient(
        api_url=stack.address("triggers"),
        events_url=stack.address("ingest"),
        actions_url=stack.address("actions"),
        api_key=api_key,
    )


def bearer(key: str) -> Metadata:
    return (("authorization", f"Bearer {key}"),)


def cheap_call(service: str, channel: grpc.aio.Channel) -> Callable[[Metadata], Awaitable[Any]]:
    """A read-only call on `service` that any caller with a key may make."""
    if service == "triggers":
        automations = automation_service_pb2_grpc.AutomationServiceStub(channel)
        return lambda metadata: automations.CountAutomations(
            automation_service_pb2.CountAutomationsRequest(), metadata=metadata
        )
    if service == "ingest":
        webhooks = webhook_service_pb2_grpc.WebhookServiceStub(channel)
        return lambda metadata: webhooks.ListWebhooks(
            webhook_service_pb2.ListWebhooksRequest(), metadata=metadata
        )
    blocks = block_service_pb2_grpc.BlockServiceStub(channel)
    return lambda metadata: blocks.ListBlocks(
        block_service_pb2.ListBlocksRequest(), metadata=metadata
    )


@pytest.mark.parametrize("service", SERVICES)
async def test_a_call_needs_one_of_the_keys(stack: Stack, service: str) -> None:
    async with grpc.aio.insecure_channel(stack.address(service)) as channel:
        call = cheap_call(service, channel)
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await call(())
        assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "authorization: Bearer <key>" in (missing.value.details() or "")
        assert error_reason(missing.value) == "API_KEY_MISSING"

        with pytest.raises(grpc.aio.AioRpcError) as wrong:
            await call(bearer("not-a-key"))
        assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "not one this service accepts" in (wrong.value.details() or "")
        assert error_reason(wrong.value) == "API_KEY_INVALID"

        for key in KEYS:
            await call(bearer(key))


@pytest.mark.parametrize("service", SERVICES)
async def test_health_and_reflection_need_no_key(stack: Stack, service: str) -> None:
    async with grpc.aio.insecure_channel(stack.address(service)) as channel:
        reply = await health_stub(channel).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        listed: set[str] = set()
        async for response in reflection_stub(channel).ServerReflectionInfo(iter([request])):
            listed |= {s.name for s in response.list_services_response.service}
        assert "grpc.health.v1.Health" in listed


async def test_the_python_client_works_with_a_key_and_says_why_without(stack: Stack) -> None:
    name = f"keyed-{uuid.uuid4().hex[:8]}"
    keyed = client(stack, KEYS[1])
    try:
        created = await keyed.create_automation(
            Automation(
                name=name, trigger=EventTrigger(expect={f"{name}.ping"}), actions=[DoNothing()]
            )
        )
        assert created.id is not None
        assert (await keyed.get_automation(created.id)).name == name
        result = await keyed.emit_events(
            [Event(event=f"{name}.ping", resource=Resource({"prefect.resource.id": name}))]
        )
        assert len(result.accepted_ids) == 1
        await keyed.list_blocks()
        await keyed.list_action_runs(limit=1)
    finally:
        await keyed.aclose()

    keyless = client(stack, None)
    try:
        with pytest.raises(PermissionDeniedError) as caught:
            await keyless.list_automations()
        assert "authorization: Bearer <key>" in caught.value.message
        assert caught.value.reason == "API_KEY_MISSING"
    finally:
        await keyless.aclose()


def run_cli(stack: Stack, api_key: str | None, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(Path(sys.executable).parent), **stack.client_env}
    if api_key is not None:
        env["AUTOMATIONS_API_KEY"] = api_key
    command = [str(Path(sys.executable).parent / "automations"), *argv]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


async def test_the_cli_sends_the_key_from_its_environment(stack: Stack) -> None:
    done = await asyncio.to_thread(run_cli, stack, KEYS[0], "ls")
    assert done.returncode == 0, done.stderr
    refused = await asyncio.to_thread(run_cli, stack, None, "ls")
    assert refused.returncode == 1
    assert "authorization: Bearer <key>" in refused.stderr
    given = await asyncio.to_thread(run_cli, stack, None, "--api-key", KEYS[1], "ls")
    assert given.returncode == 0, given.stderr


async def test_incoming_webhooks_keep_their_own_secrets_not_the_api_keys(stack: Stack) -> None:
    suffix = uuid.uuid4().hex[:8]
    keyed = client(stack, KEYS[0])
    try:
        webhook = await keyed.create_webhook(
            IncomingWebhook(
                name=f"hook-{suffix}",
                template=(
                    f'{{"event": "hook.{suffix}", "resource": {{"prefect.resource.id": "hook.1"}}}}'
                ),
            )
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.http_port}") as http:
            reply = await http.post(f"/hooks/{webhook.slug}", json={})
        assert reply.status_code == 202, reply.text

        async def stored() -> bool:
            found = await keyed.query_events(EventFilter(event_names=[f"hook.{suffix}"]))
            return len(found) == 1

        await eventually(stored, timeout=20, what="the webhook's event in the store")
    finally:
        await keyed.aclose()


async def test_pause_automation_reaches_triggers_with_the_actions_services_key(
    stack: Stack,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    keyed = client(stack, KEYS[1])
    try:
        target = await keyed.create_automation(
            Automation(
                name=f"target-{suffix}",
                trigger=EventTrigger(expect={f"never.{suffix}"}),
                actions=[DoNothing()],
            )
        )
        assert target.id is not None
        assert target.enabled
        pauser = await keyed.create_automation(
            Automation(
                name=f"pauser-{suffix}",
                trigger=EventTrigger(
                    expect={f"pause.{suffix}"}, match={"prefect.resource.id": "pause.*"}
                ),
                actions=[PauseAutomation(automation_id=target.id)],
            )
        )
        await asyncio.sleep(1.0)  # the new automation is loaded through the change hint
        await keyed.emit_events(
            [Event(event=f"pause.{suffix}", resource=Resource({"prefect.resource.id": "pause.1"}))]
        )

        target_id = target.id

        async def paused() -> bool:
            return not (await keyed.get_automation(target_id)).enabled

        await eventually(paused, timeout=30, what="the target automation paused")
        runs = await keyed.list_action_runs(automation_id=pauser.id)
        assert [r.state for r in runs] == ["succeeded"], (runs, stack.logs())
    finally:
        await keyed.aclose()
