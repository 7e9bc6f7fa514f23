"""call-webhook through the running service: rendering, exactly once, retries, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from automations.v1 import action_run_pb2, action_service_pb2, automation_pb2
from automations_common.devstack import free_port
from tests.integration.actions.harness import (
    Harness,
    actions_settings,
    demo_event,
    named,
    running_actions,
    stored_events,
    triggered_action,
    webhook_action,
)
from tests.support.grpc_typing import error_reason
from tests.support.receivers import HttpReceiver

pytestmark = pytest.mark.timeout(60)

SUCCEEDED = action_run_pb2.ACTION_RUN_STATE_SUCCEEDED
FAILED = action_run_pb2.ACTION_RUN_STATE_FAILED


@pytest.fixture
async def actions(
    nats_url: str, namespace: str, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    async with running_actions(actions_settings(nats_url, namespace, sqlite_url, tmp_path)) as h:
        yield h


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.close()


async def test_webhook_gets_the_rendered_body_once_with_an_idempotency_key(
    nats_url: str, namespace: str, database_url: str, tmp_path: Path, receiver: HttpReceiver
) -> None:
    settings = actions_settings(nats_url, namespace, database_url, tmp_path)
    async with running_actions(settings) as actions:
        block = await actions.create_webhook_block(
            receiver.url + "/hook", headers={"X-Token": "s3cret"}
        )
        event = demo_event("demo.thing.42")
        message = triggered_action(
            webhook_action(block.id, "{{ event.resource.id }} {{ event.event }}"), event
        )
        await actions.publish(message)

        requests = await receiver.wait_for(1)
        run = await actions.finished_run(message.id)
        assert requests[0].text == "demo.thing.42 demo.ping"
        assert requests[0].path == "/hook"
        assert requests[0].method == "POST"
        assert requests[0].headers["Idempotency-Key"] == message.id
        assert requests[0].headers["X-Token"] == "s3cret"
        assert run.state == SUCCEEDED
        assert run.result["status_code"] == 200
        assert len(run.attempts) == 1
        assert run.rendered_request["body"] == "demo.thing.42 demo.ping"
        headers, url = run.rendered_request["headers"], run.rendered_request["url"]
        assert isinstance(headers, Struct)
        assert isinstance(url, str)
        assert headers["X-Token"] == "********"
        assert "/hook" not in url

        await _events_arrive(actions, message.id, "executed")
        [triggered] = actions.events_named("prefect.automation.action.triggered", message.id)
        [executed] = actions.events_named("prefect.automation.action.executed", message.id)
        labels = executed.resource.labels
        assert labels["prefect.resource.id"] == f"prefect.automation.{message.automation.id}"
        assert labels["prefect.resource.name"] == "ping the receiver"
        assert labels["prefect.trigger-type"] == "event"
        assert labels["prefect.posture"] == "Reactive"
        roles = [r.labels["prefect.resource.role"] for r in executed.related]
        assert roles == ["block", "block-type", "automation-triggered-event", "triggering-event"]
        assert executed.related[-1].labels["prefect.resource.id"] == f"prefect.event.{event.id}"
        assert executed.follows == triggered.id
        assert triggered.follows == event.id
        assert executed.payload.fields["status_code"].number_value == 200
        assert executed.payload.fields["action_type"].string_value == "call-webhook"
        await actions.assert_serving()


async def _events_arrive(actions: Harness, action_id: str, outcome: str) -> None:
    from tests.support.waiting import eventually

    await eventually(
        lambda: actions.events_named(f"prefect.automation.action.{outcome}", action_id),
        what=f"action.{outcome} event",
    )


async def test_a_redelivered_action_is_not_sent_again(
    actions: Harness, receiver: HttpReceiver
) -> None:
    block = await actions.create_webhook_block(receiver.url)
    message = triggered_action(webhook_action(block.id, "once"))
    await actions.publish(message)
    await actions.finished_run(message.id)
    # Another message id defeats JetStream's duplicate window, as a late redelivery would.
    await actions.publish(message, msg_id=message.id + "-again")
    second = triggered_action(webhook_action(block.id, "marker"))
    await actions.publish(second)
    await actions.finished_run(second.id)
    await receiver.wait_for(2)
    assert [r.text for r in receiver.requests] == ["once", "marker"]
    assert (await actions.run(message.id)).state == SUCCEEDED
    await actions.assert_serving()


async def test_a_500_then_200_is_retried_to_one_success(actions: Harness) -> None:
    receiver = HttpReceiver(statuses=[500, 200])
    try:
        block = await actions.create_webhook_block(receiver.url)
        message = triggered_action(webhook_action(block.id, "retry me"))
        await actions.publish(message)
        run = await actions.finished_run(message.id)
        assert run.state == SUCCEEDED
        assert [a.error for a in run.attempts] == ["the webhook answered 500", ""]
        assert run.attempts[0].transient
        keys = {r.headers["Idempotency-Key"] for r in receiver.requests}
        assert len(receiver.requests) == 2
        assert keys == {message.id}
        await _events_arrive(actions, message.id, "executed")
        # Published as attempt 1 ended and again with the outcome; EVENTS holds it once.
        stored = await stored_events(actions.nc, actions.app.streams)
        assert len(named(stored, "triggered", message.id)) == 1
        await actions.assert_serving()
    finally:
        receiver.close()


async def test_a_dead_receiver_is_retried_then_failed(actions: Harness) -> None:
    block = await actions.create_webhook_block(f"http://127.0.0.1:{free_port()}/gone")
    message = triggered_action(webhook_action(block.id, "anyone?"))
    await actions.publish(message)
    run = await actions.finished_run(message.id)
    assert run.state == FAILED
    assert len(run.attempts) == 3
    assert run.reason.startswith("gave up after 3 attempts: calling 127.0.0.1")
    await _events_arrive(actions, message.id, "failed")
    [failed] = actions.events_named("prefect.automation.action.failed", message.id)
    assert failed.payload.fields["reason"].string_value == run.reason
    await actions.assert_serving()


async def test_a_4xx_fails_at_once(actions: Harness) -> None:
    receiver = HttpReceiver(statuses=[404])
    try:
        block = await actions.create_webhook_block(receiver.url)
        message = triggered_action(webhook_action(block.id, "where?"))
        await actions.publish(message)
        run = await actions.finished_run(message.id)
        assert run.state == FAILED
        assert run.reason == "the webhook answered 404"
        assert run.result["status_code"] == 404
        assert len(run.attempts) == 1
        assert len(receiver.requests) == 1
        await _events_arrive(actions, message.id, "failed")
        await actions.assert_serving()
    finally:
        receiver.close()


async def test_unsafe_attributes_render_empty(actions: Harness, receiver: HttpReceiver) -> None:
    block = await actions.create_webhook_block(receiver.url)
    message = triggered_action(webhook_action(block.id, "[{{ ''.__class__ }}]"))
    await actions.publish(message)
    run = await actions.finished_run(message.id)
    assert run.state == SUCCEEDED
    assert receiver.requests[0].text == "[]"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ("{% for i in range(2) %}{% endfor %}" * 11, "contains 11 for loops"),
        ("{{ 'x' * 10**9 }}", "too large"),
    ],
    ids=["eleven-loops", "huge-repeat"],
)
async def test_template_problems_fail_the_action_without_sending(
    actions: Harness, receiver: HttpReceiver, payload: str, problem: str
) -> None:
    block = await actions.create_webhook_block(receiver.url)
    message = triggered_action(webhook_action(block.id, payload))
    await actions.publish(message)
    run = await actions.finished_run(message.id)
    assert run.state == FAILED
    assert run.reason.startswith("Template rendering failed")
    template_error = run.result["template_error"]
    assert isinstance(template_error, str)
    assert problem in template_error
    assert run.result["template_source"] == payload
    assert len(run.attempts) == 1
    await _events_arrive(actions, message.id, "failed")
    [failed] = actions.events_named("prefect.automation.action.failed", message.id)
    assert problem in failed.payload.fields["template_error"].string_value
    assert receiver.requests == []
    await actions.assert_serving()


@pytest.mark.parametrize(
    ("host", "allow_private", "what"),
    [
        ("127.0.0.1:{port}", False, "loopback"),
        ("169.254.169.254", False, "a cloud metadata address"),
        # Allowing private URLs does not open the metadata service.
        ("169.254.169.254", True, "a cloud metadata address"),
        ("[::ffff:127.0.0.1]:{port}", False, "loopback inside an IPv6 address"),
        # A name is checked after resolution, on the addresses the connection will use.
        ("localhost:{port}", False, "loopback"),
    ],
    ids=["loopback", "metadata", "metadata-even-if-private-allowed", "ipv4-mapped", "name"],
)
async def test_private_targets_are_refused(
    actions: Harness, receiver: HttpReceiver, host: str, allow_private: bool, what: str
) -> None:
    url = "http://" + host.format(port=receiver.port) + "/latest/meta-data"
    block = await actions.create_webhook_block(url, allow_private_urls=allow_private)
    message = triggered_action(webhook_action(block.id, "secrets please"))
    await actions.publish(message)
    run = await actions.finished_run(message.id)
    assert run.state == FAILED
    assert run.reason.startswith("blocked:")
    assert what in run.reason
    assert len(run.attempts) == 1
    assert receiver.requests == []
    await actions.assert_serving()


async def test_a_name_resolving_to_a_private_address_is_called_when_allowed(
    actions: Harness, receiver: HttpReceiver
) -> None:
    block = await actions.create_webhook_block(f"http://localhost:{receiver.port}/by-name")
    message = triggered_action(webhook_action(block.id, "hi"))
    await actions.publish(message)
    assert (await actions.finished_run(message.id)).state == SUCCEEDED
    assert receiver.requests[0].path == "/by-name"
    assert receiver.requests[0].headers["Host"] == f"localhost:{receiver.port}"


async def test_the_operator_allowlist_admits_a_private_target(
    nats_url: str, namespace: str, sqlite_url: str, tmp_path: Path, receiver: HttpReceiver
) -> None:
    settings = actions_settings(
        nats_url, namespace, sqlite_url, tmp_path, private_url_allowlist=["127.0.0.0/8"]
    )
    async with running_actions(settings) as actions:
        block = await actions.create_webhook_block(receiver.url, allow_private_urls=False)
        message = triggered_action(webhook_action(block.id, "allowed"))
        await actions.publish(message)
        assert (await actions.finished_run(message.id)).state == SUCCEEDED
        assert receiver.requests[0].text == "allowed"


async def test_missing_block_and_do_nothing(actions: Harness) -> None:
    missing = triggered_action(webhook_action("00000000-0000-0000-0000-000000000000", "x"))
    nothing = triggered_action(automation_pb2.Action(do_nothing=automation_pb2.DoNothingAction()))
    await actions.publish(missing)
    await actions.publish(nothing)
    assert (await actions.finished_run(missing.id)).reason.endswith("not found")
    assert (await actions.finished_run(nothing.id)).state == SUCCEEDED
    await _events_arrive(actions, nothing.id, "executed")


async def test_action_runs_are_listed_newest_first_with_filters_and_pages(
    actions: Harness, receiver: HttpReceiver
) -> None:
    block = await actions.create_webhook_block(receiver.url)
    messages = [triggered_action(webhook_action(block.id, f"n{i}")) for i in range(3)]
    for message in messages:
        await actions.publish(message)
        await actions.finished_run(message.id)
    failing = triggered_action(webhook_action("00000000-0000-0000-0000-000000000000", "x"))
    await actions.publish(failing)
    await actions.finished_run(failing.id)

    request = action_service_pb2.ListActionRunsRequest
    first = await actions.runs.ListActionRuns(request(page_size=2))
    second = await actions.runs.ListActionRuns(
        request(page_size=2, page_token=first.next_page_token)
    )
    listed = [r.id for r in [*first.action_runs, *second.action_runs]]
    assert listed == [failing.id, *[m.id for m in reversed(messages)]]
    assert second.next_page_token == ""
    failed = await actions.runs.ListActionRuns(request(states=[FAILED]))
    assert [r.id for r in failed.action_runs] == [failing.id]
    mine = await actions.runs.ListActionRuns(request(automation_id=messages[0].automation.id))
    assert [r.id for r in mine.action_runs] == [messages[0].id]
    later = Timestamp()
    later.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    assert not (await actions.runs.ListActionRuns(request(since=later))).action_runs
    assert len((await actions.runs.ListActionRuns(request(until=later))).action_runs) == 4

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await actions.runs.GetActionRun(
            action_service_pb2.GetActionRunRequest(id="00000000-0000-0000-0000-000000000000")
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(missing.value) == "ACTION_RUN_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await actions.runs.ListActionRuns(request(automation_id="nope"))
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "automation_id" in str(malformed.value.details())
    with pytest.raises(grpc.aio.AioRpcError) as token:
        await actions.runs.ListActionRuns(
            request(page_size=2, page_token=first.next_page_token, states=[FAILED])
        )
    assert token.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await actions.assert_serving()
