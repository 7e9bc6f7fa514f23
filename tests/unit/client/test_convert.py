"""Models survive the trip to protobuf and back; wire shapes are what the services expect."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from google.protobuf import timestamp_pb2
from pydantic import SecretStr

from automations import (
    AppriseNotification,
    Automation,
    CustomWebhookNotificationBlock,
    EmailServerCredentials,
    Event,
    EventFilter,
    MicrosoftTeamsWebhook,
    Resource,
    SlackWebhook,
    SMTPType,
    Webhook,
)
from automations import _convert as convert
from automations._blocks import Block
from automations.v1 import action_run_pb2, automation_pb2, events_service_pb2

from .prefect_documents import DOCUMENTS, STUCK_RUNS


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_automations_round_trip_through_protobuf(name: str) -> None:
    automation = Automation.model_validate(DOCUMENTS[name])
    message = convert.automation_to_proto(automation)
    back = convert.automation_from_proto(message).model_dump(mode="json")
    expected = automation.model_dump(mode="json")
    for key in ("created", "updated"):
        expected.pop(key, None)
    assert back == expected


def test_the_wire_shape_of_an_automation() -> None:
    message = convert.automation_to_proto(Automation.model_validate(STUCK_RUNS))
    compound = message.trigger.compound
    assert compound.require == automation_pb2.COMPOUND_REQUIRE_ANY
    assert compound.within.seconds == 3600
    assert not compound.triggers[1].sequence.HasField("within")
    proactive = compound.triggers[0].event
    assert proactive.posture == automation_pb2.POSTURE_PROACTIVE
    assert proactive.within.seconds == 15
    assert list(proactive.match.labels["prefect.resource.id"].values) == ["prefect.flow-run.*"]
    assert len(proactive.match_related) == 2
    assert list(proactive.match_related[0].labels["prefect.resource.name"].values) == [
        "etl",
        "load",
    ]
    run = message.actions[0].run_deployment
    assert run.source == automation_pb2.TARGET_SOURCE_SELECTED
    assert run.parameters["retries"] == 3
    assert not run.HasField("job_variables")
    assert message.actions[1].pause_deployment.source == automation_pb2.TARGET_SOURCE_INFERRED
    state = message.actions[6].change_flow_run_state
    assert state.state == automation_pb2.STATE_TYPE_FAILED
    assert state.HasField("name")
    assert not state.HasField("message")
    kinds = [a.WhichOneof("kind") for a in message.actions]
    assert kinds[:4] == [
        "run_deployment",
        "pause_deployment",
        "resume_deployment",
        "cancel_flow_run",
    ]
    assert message.actions_on_resolve[0].call_webhook.payload.startswith('{"run"')
    assert message.id == STUCK_RUNS["id"]


def test_whole_numbers_in_structs_come_back_as_ints() -> None:
    data = {"n": 3, "f": 2.5, "nested": {"list": [1, 2.0, "x", None, True]}}
    assert convert.struct_from_proto(convert.struct_to_proto(data)) == data
    back = convert.struct_from_proto(convert.struct_to_proto(data))
    assert isinstance(back["n"], int)
    assert isinstance(back["f"], float)


def test_server_timestamps_become_created_and_updated() -> None:
    message = convert.automation_to_proto(Automation.model_validate(DOCUMENTS["woodchonk"]))
    when = datetime(2025, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
    message.create_time.FromDatetime(when)
    message.update_time.FromDatetime(when)
    automation = convert.automation_from_proto(message)
    assert automation.created == automation.updated == when
    assert automation.model_dump(mode="json")["created"] == "2025-01-02T03:04:05.123000Z"


def test_events_round_trip_through_protobuf() -> None:
    leader = Event(event="a", resource=Resource({"prefect.resource.id": "x"}))
    event = Event(
        occurred=datetime(2025, 1, 1, tzinfo=UTC),
        event="demo.ping",
        resource={"prefect.resource.id": "demo.1", "k": "v"},
        related=[{"prefect.resource.id": "r", "prefect.resource.role": "tag"}],
        payload={"count": 2, "text": "hi"},
        follows=leader.id,
    )
    message = convert.event_to_proto(event)
    assert message.id == str(event.id)
    assert message.follows == str(leader.id)
    assert not message.HasField("received_time")
    assert convert.event_from_proto(message) == event
    plain = convert.event_to_proto(Event(event="b", resource={"prefect.resource.id": "y"}))
    assert plain.follows == ""
    assert not plain.HasField("payload")


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(2026, 11, 22, 8, 4, 5, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        datetime(2026, 11, 22, 3, 4, 5),  # naive: taken as UTC
    ],
)
def test_timestamps_match_protobufs_own_conversion(moment: datetime) -> None:
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    assert convert.timestamp_to_proto(moment) == expected


def test_rejections_keep_their_position_in_the_whole_list() -> None:
    response = events_service_pb2.EmitEventsResponse(
        accepted_ids=["a"],
        rejected=[events_service_pb2.RejectedEvent(index=1, event_id="b", reason="no", field="f")],
    )
    result = convert.emit_result_from_proto(response, offset=500)
    assert result.accepted_ids == ["a"]
    assert result.rejected[0].index == 501
    assert not result.ok


def test_event_filter_wire_shape() -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    message = convert.event_filter_to_proto(
        EventFilter(
            since=since,
            event_names=["prefect.flow-run.*", "x.y"],
            resource_ids=["demo.1"],
            resource_labels={"k": "v"},
            related_roles=["flow"],
            text="boom",
        )
    )
    assert message.occurred.since.ToDatetime(tzinfo=UTC) == since
    assert not message.occurred.HasField("until")
    assert list(message.event.prefix) == ["prefect.flow-run."]
    assert list(message.event.name) == ["x.y"]
    assert list(message.resource.labels.labels["k"].values) == ["v"]
    assert list(message.related[0].role) == ["flow"]
    assert message.text.query == "boom"
    assert message.order == 1


BLOCKS: list[Block] = [
    Webhook(url=SecretStr("http://127.0.0.1:9/x"), method="PUT", headers={"a": "b"}),
    SlackWebhook(url=SecretStr("https://hooks.slack.com/x")),
    MicrosoftTeamsWebhook(url=SecretStr("https://teams/x"), allow_private_urls=False),
    EmailServerCredentials(
        smtp_server="127.0.0.1",
        smtp_port=2525,
        smtp_type=SMTPType.INSECURE,
        username="me",
        password=SecretStr("pw"),
        from_email="a@b.c",
        to_emails=["d@e.f"],
    ),
    CustomWebhookNotificationBlock(
        url="http://x", json_data={"text": "{{body}}", "n": 1}, secrets={"token": "t"}
    ),
    AppriseNotification(url=SecretStr("json://127.0.0.1:9")),
]


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: type(b).__name__)
def test_blocks_round_trip_through_protobuf(block: Block) -> None:
    block_id = "0b5a0e2c-6c1e-4f7b-9d6e-3f1c2b9a8d71"
    message = convert.block_to_proto(block, "name", block_id)
    assert message.WhichOneof("config") == block.kind
    back = convert.block_from_proto(message)
    assert type(back) is type(block)
    assert _plain(back) == _plain(block)
    assert back.block_document_id == UUID(block_id)
    assert back.block_document_name == "name"


def _plain(block: Block) -> dict[str, object]:
    return {
        k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in dict(block).items()
    }


def test_webhook_secret_goes_out_in_clear() -> None:
    message = convert.block_to_proto(BLOCKS[0], "n")
    assert message.webhook.url == "http://127.0.0.1:9/x"
    assert message.webhook.allow_private_urls is True


def test_action_runs_become_models() -> None:
    message = action_run_pb2.ActionRun(
        id="r1",
        automation_id="a1",
        action_type="call-webhook",
        state=action_run_pb2.ACTION_RUN_STATE_FAILED,
        reason="HTTP 500",
        attempts=[action_run_pb2.ActionAttempt(number=1, error="boom", transient=True)],
    )
    message.result.update({"status_code": 500})
    message.attempts[0].duration.FromTimedelta(timedelta(milliseconds=250))
    run = convert.action_run_from_proto(message)
    assert run.state == "failed"
    assert run.result == {"status_code": 500}
    assert run.attempts[0].duration_seconds == 0.25
    assert run.finished is None
    assert (
        convert.action_run_state_to_proto("Succeeded") == action_run_pb2.ACTION_RUN_STATE_SUCCEEDED
    )
    with pytest.raises(ValueError, match="unknown action run state"):
        convert.action_run_state_to_proto("done")


def test_document_fixtures_are_not_mutated() -> None:
    before = copy.deepcopy(STUCK_RUNS)
    convert.automation_to_proto(Automation.model_validate(STUCK_RUNS))
    assert before == STUCK_RUNS
