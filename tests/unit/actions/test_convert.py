"""Protobuf -> Prefect JSON at the edge: actions, triggers, events, blocks, runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import duration_pb2, struct_pb2
from pydantic import SecretStr

from automations import Webhook
from automations import _convert as client_convert
from automations.v1 import automation_pb2, block_pb2, event_pb2, stream_pb2
from automations_actions.blocks import Block, normalized_config
from automations_actions.convert import (
    action_json,
    block_from_proto,
    block_to_proto,
    event_from_json,
    event_json,
    invocation_from_proto,
    run_state_from_proto,
    run_state_to_proto,
    trigger_json,
)
from automations_actions.runs import RunState


def test_actions_become_prefect_json() -> None:
    params = struct_pb2.Struct()
    params.update({"x": "{{ event }}"})
    run = automation_pb2.Action(
        run_deployment=automation_pb2.RunDeploymentAction(
            source=automation_pb2.TARGET_SOURCE_INFERRED,
            parameters=params,
            schedule_after=duration_pb2.Duration(seconds=30),
        )
    )
    assert action_json(run) == {
        "type": "run-deployment",
        "source": "inferred",
        "deployment_id": None,
        "parameters": {"x": "{{ event }}"},
        "job_variables": None,
        "schedule_after": 30.0,
    }
    change = automation_pb2.Action(
        change_flow_run_state=automation_pb2.ChangeFlowRunStateAction(
            state=automation_pb2.STATE_TYPE_CANCELLED, message="bye"
        )
    )
    assert action_json(change) == {
        "type": "change-flow-run-state",
        "state": "CANCELLED",
        "name": None,
        "message": "bye",
        "force": False,
    }
    hook = automation_pb2.Action(
        call_webhook=automation_pb2.CallWebhookAction(block_document_id="b", payload="p")
    )
    assert action_json(hook) == {"type": "call-webhook", "block_document_id": "b", "payload": "p"}
    assert action_json(automation_pb2.Action(cancel_flow_run=automation_pb2.FlowRunAction())) == {
        "type": "cancel-flow-run"
    }


def test_triggers_carry_type_and_posture() -> None:
    trigger = automation_pb2.Trigger(
        event=automation_pb2.EventTrigger(
            posture=automation_pb2.POSTURE_PROACTIVE,
            within=duration_pb2.Duration(seconds=60),
            match=event_pb2.ResourceSpecification(
                labels={"prefect.resource.id": event_pb2.LabelValues(values=["a.*"])}
            ),
        )
    )
    data = trigger_json(trigger)
    assert (data["type"], data["posture"], data["within"]) == ("event", "Proactive", 60.0)
    assert data["match"] == {"prefect.resource.id": "a.*"}
    compound = automation_pb2.Trigger(
        compound=automation_pb2.CompoundTrigger(
            triggers=[trigger], require=automation_pb2.COMPOUND_REQUIRE_ALL
        )
    )
    assert trigger_json(compound)["require"] == "all"


def test_events_round_trip() -> None:
    data = {
        "id": "e1",
        "occurred": "2026-01-01T00:00:00+00:00",
        "event": "x.y",
        "resource": {"prefect.resource.id": "r"},
        "related": [{"prefect.resource.id": "q", "prefect.resource.role": "r"}],
        "payload": {"n": 1.0, "nested": {"ok": True}},
        "follows": None,
    }
    received = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    back = event_json(event_from_json(data, received))
    assert back == {**data, "received": received.isoformat()}


def test_an_invocation_has_everything_an_executor_needs() -> None:
    message = stream_pb2.TriggeredAction(
        id="a1",
        action_index=2,
        action=automation_pb2.Action(do_nothing=automation_pb2.DoNothingAction()),
        automation=automation_pb2.Automation(id="auto", name="n"),
        firing=stream_pb2.Firing(id="f", triggering_labels={"k": "v"}),
    )
    invocation = invocation_from_proto(message)
    assert invocation.action_type == "do-nothing"
    assert invocation.triggering_event is None
    assert invocation.firing["triggering_labels"] == {"k": "v"}
    assert invocation.automation["name"] == "n"


def test_blocks_and_states_both_ways() -> None:
    message = block_pb2.Block(
        name="n", webhook=block_pb2.WebhookBlock(url="https://x", headers={"A": "1"})
    )
    kind, config = block_from_proto(message)
    assert kind == "webhook"
    assert config["url"] == "https://x"
    assert config["allow_private_urls"] is False
    back = block_to_proto(Block("id", "n", kind, config))
    assert back.webhook.headers["A"] == "1"
    for state in RunState:
        assert run_state_from_proto(run_state_to_proto(state)) == state


def test_a_webhook_block_without_verify_verifies_tls() -> None:
    unset = block_pb2.Block(name="n", webhook=block_pb2.WebhookBlock(url="https://x"))
    kind, config = block_from_proto(unset)
    assert "verify" not in config
    config = normalized_config(kind, config, "block.webhook")
    assert config["verify"] is True
    assert block_to_proto(Block("id", "n", kind, config)).webhook.verify is True
    off = block_pb2.Block(name="n", webhook=block_pb2.WebhookBlock(url="https://x", verify=False))
    kind, config = block_from_proto(off)
    assert normalized_config(kind, config, "block.webhook")["verify"] is False


def test_the_client_reads_an_unset_verify_as_true_and_sends_false_explicitly() -> None:
    block_id = "0b5a0e2c-6c1e-4f7b-9d6e-3f1c2b9a8d71"
    unset = block_pb2.Block(id=block_id, name="n", webhook=block_pb2.WebhookBlock(url="https://x"))
    back = client_convert.block_from_proto(unset)
    assert isinstance(back, Webhook)
    assert back.verify is True
    off = client_convert.block_to_proto(
        Webhook(url=SecretStr("https://x"), verify=False), "n", block_id
    )
    assert off.webhook.HasField("verify")
    assert off.webhook.verify is False


def test_payload_numbers_and_times_survive_the_fast_paths() -> None:
    occurred = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    data: dict[str, Any] = {
        "id": "e1",
        "occurred": occurred.isoformat(),
        "event": "x.y",
        "resource": {"prefect.resource.id": "x.1"},
        "payload": {"n": 3, "ratio": 0.5, "nested": {"list": [1, "a", None, True]}},
        "when": occurred,
    }
    data["payload"]["stamp"] = occurred  # not JSON: goes through the JSON fallback
    event = event_from_json(data, occurred)
    back = event_json(event)
    assert back["occurred"] == occurred.isoformat()
    assert back["received"] == occurred.isoformat()
    assert back["payload"]["n"] == 3
    assert isinstance(back["payload"]["n"], int)
    assert back["payload"]["ratio"] == 0.5
    assert back["payload"]["nested"] == {"list": [1, "a", None, True]}
    assert back["payload"]["stamp"] == str(occurred)
