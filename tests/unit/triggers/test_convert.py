"""Automation protos survive the trip to Prefect-shaped documents and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2

from automations.v1 import automation_pb2 as apb
from automations.v1 import event_pb2 as epb
from automations_common.timestamps import to_timestamp
from automations_triggers.convert import automation_to_document, document_to_automation
from automations_triggers.convert_events import event_from_model, event_to_model

ID = "0b1f5c3e-8a55-4a3c-9a55-2f4f0c3d9e10"


def seconds(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(value * 1e9))
    return duration


def spec(**labels: list[str]) -> epb.ResourceSpecification:
    message = epb.ResourceSpecification()
    for key, values in labels.items():
        message.labels[key].values.extend(values)
    return message


def event(**fields: object) -> apb.Trigger:
    base = apb.EventTrigger(
        id=ID,
        match=spec(genus=["Marmota"]),
        match_related=[spec(role=["flow"])],
        after=["a.started"],
        expect=["a.*"],
        for_each=["prefect.resource.id"],
        posture=apb.POSTURE_PROACTIVE,
        threshold=2,
        within=seconds(30),
    )
    for key, value in fields.items():
        setattr(base, key, value)
    return apb.Trigger(event=base)


PARAMETERS = struct_pb2.Struct()
PARAMETERS.update({"x": "{{ event.id }}", "n": 3, "nested": {"l": [1, "a"]}})

ACTIONS = [
    apb.Action(do_nothing=apb.DoNothingAction()),
    apb.Action(
        run_deployment=apb.RunDeploymentAction(
            source=apb.TARGET_SOURCE_SELECTED,
            deployment_id=ID,
            parameters=PARAMETERS,
            job_variables=PARAMETERS,
            schedule_after=seconds(5),
        )
    ),
    apb.Action(
        pause_deployment=apb.DeploymentAction(source=apb.TARGET_SOURCE_INFERRED),
    ),
    apb.Action(
        resume_deployment=apb.DeploymentAction(source=apb.TARGET_SOURCE_SELECTED, deployment_id=ID)
    ),
    apb.Action(cancel_flow_run=apb.FlowRunAction()),
    apb.Action(suspend_flow_run=apb.FlowRunAction()),
    apb.Action(resume_flow_run=apb.FlowRunAction()),
    apb.Action(delete_flow_run=apb.FlowRunAction()),
    apb.Action(
        change_flow_run_state=apb.ChangeFlowRunStateAction(
            state=apb.STATE_TYPE_FAILED, name="Oops", message="m", force=True
        )
    ),
    apb.Action(
        pause_work_queue=apb.WorkQueueAction(source=apb.TARGET_SOURCE_SELECTED, work_queue_id=ID)
    ),
    apb.Action(resume_work_queue=apb.WorkQueueAction(source=apb.TARGET_SOURCE_INFERRED)),
    apb.Action(
        pause_work_pool=apb.WorkPoolAction(source=apb.TARGET_SOURCE_SELECTED, work_pool_id=ID)
    ),
    apb.Action(resume_work_pool=apb.WorkPoolAction(source=apb.TARGET_SOURCE_INFERRED)),
    apb.Action(
        pause_automation=apb.AutomationAction(source=apb.TARGET_SOURCE_SELECTED, automation_id=ID)
    ),
    apb.Action(resume_automation=apb.AutomationAction(source=apb.TARGET_SOURCE_INFERRED)),
    apb.Action(
        send_notification=apb.SendNotificationAction(
            block_document_id=ID, subject="s {{ event.id }}", body="b"
        )
    ),
    apb.Action(call_webhook=apb.CallWebhookAction(block_document_id=ID, payload="{{ event }}")),
]

TRIGGERS = {
    "event": event(),
    "compound": apb.Trigger(
        compound=apb.CompoundTrigger(
            id=ID,
            triggers=[event(), event()],
            within=seconds(60),
            require=apb.COMPOUND_REQUIRE_COUNT,
            require_count=2,
        )
    ),
    "compound any, no window": apb.Trigger(
        compound=apb.CompoundTrigger(id=ID, triggers=[event()], require=apb.COMPOUND_REQUIRE_ANY)
    ),
    "sequence of compound": apb.Trigger(
        sequence=apb.SequenceTrigger(
            id=ID,
            triggers=[
                event(),
                apb.Trigger(
                    compound=apb.CompoundTrigger(
                        id=ID, triggers=[event()], require=apb.COMPOUND_REQUIRE_ALL
                    )
                ),
            ],
            within=seconds(10),
        )
    ),
    "metric": apb.Trigger(
        metric=apb.MetricTrigger(
            id=ID,
            match=spec(x=["y"]),
            metric=apb.MetricTriggerQuery(
                name=apb.METRIC_NAME_DURATION,
                threshold=1.5,
                operator=apb.METRIC_OPERATOR_GTE,
                range=seconds(600),
                firing_for=seconds(300),
            ),
        )
    ),
}


@pytest.mark.parametrize("trigger", TRIGGERS.values(), ids=TRIGGERS.keys())
def test_automation_round_trip(trigger: apb.Trigger) -> None:
    message = apb.Automation(
        id=ID,
        name="n",
        description="d",
        enabled=True,
        tags=["a", "b"],
        trigger=trigger,
        actions=ACTIONS,
        actions_on_trigger=ACTIONS[:2],
        actions_on_resolve=ACTIONS[-1:],
        owner_resource="prefect.deployment.x",
        workspace="default",
    )
    message.create_time.GetCurrentTime()
    message.update_time.GetCurrentTime()
    assert document_to_automation(automation_to_document(message)) == message


def test_documents_use_prefects_json_names() -> None:
    doc = automation_to_document(apb.Automation(name="n", trigger=event(), actions=ACTIONS))
    assert doc.trigger is not None
    assert doc.trigger["type"] == "event"
    assert doc.trigger["within"] == 30.0
    assert doc.trigger["posture"] == "Proactive"
    assert doc.trigger["match"] == {"genus": ["Marmota"]}
    types = [a["type"] for a in doc.actions]
    assert types[:3] == ["do-nothing", "run-deployment", "pause-deployment"]
    assert types[-1] == "call-webhook"
    assert doc.actions[1]["parameters"]["n"] == 3
    assert doc.actions[2] == {
        "type": "pause-deployment",
        "source": "inferred",
        "deployment_id": None,
    }
    assert doc.actions[8]["state"] == "FAILED"


def test_proto_defaults_become_prefect_defaults() -> None:
    doc = automation_to_document(
        apb.Automation(name="n", trigger=apb.Trigger(event=apb.EventTrigger(expect=["x"])))
    )
    assert doc.trigger is not None
    assert doc.trigger["threshold"] == 1
    assert doc.trigger["posture"] == "Reactive"
    assert doc.trigger["within"] == 0.0
    assert automation_to_document(apb.Automation(name="n")).trigger is None


def test_event_model_round_trip() -> None:
    message = epb.Event(
        id=ID,
        event="demo.ping",
        resource=epb.Resource(labels={"prefect.resource.id": "demo.1"}),
        related=[epb.Resource(labels={"prefect.resource.id": "r", "prefect.resource.role": "x"})],
        follows="f",
    )
    message.occurred_time.GetCurrentTime()
    message.received_time.GetCurrentTime()
    message.payload.update({"a": 1.0})
    assert event_from_model(event_to_model(message)) == message


def test_event_model_reads_labels_in_place_without_adding_any() -> None:
    message = epb.Event(id=ID, event="demo.ping", resource=epb.Resource(labels={"a": "1"}))
    model = event_to_model(message)
    assert model.resource.get("missing") is None
    assert "missing" not in model.resource
    assert dict(model.resource) == {"a": "1"}
    assert dict(message.resource.labels) == {"a": "1"}
    assert model.payload == {}


def test_to_timestamp_matches_protobuf() -> None:
    for moment in [
        datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 12, 0, 0),  # naive: UTC
        datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=2))),
    ]:
        expected = timestamp_pb2.Timestamp()
        expected.FromDatetime(moment)
        assert to_timestamp(moment) == expected
