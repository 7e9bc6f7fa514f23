"""Builders for automation protos and a reader of google.rpc error details."""

from __future__ import annotations

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from automations.v1 import automation_pb2 as apb
from automations.v1 import event_pb2 as epb
from tests.support.grpc_typing import rich_status

BLOCK_ID = "7d3c1e2a-1111-4a3c-9a55-2f4f0c3d9e10"


def spec(**labels: str) -> epb.ResourceSpecification:
    message = epb.ResourceSpecification()
    for key, value in labels.items():
        message.labels[key.replace("_", ".")].values.append(value)
    return message


def event_trigger(
    expect: list[str],
    match: dict[str, str] | None = None,
    *,
    after: list[str] | None = None,
    for_each: list[str] | None = None,
    posture: apb.Posture.ValueType = apb.POSTURE_UNSPECIFIED,
    threshold: int = 0,
    within: duration_pb2.Duration | None = None,
) -> apb.Trigger:
    """An EventTrigger; the keyword fields left out stay unset, as proto3 defaults."""
    trigger = apb.EventTrigger(
        expect=expect,
        after=after,
        for_each=for_each,
        posture=posture,
        threshold=threshold,
        within=within,
    )
    for key, value in (match or {}).items():
        trigger.match.labels[key].values.append(value)
    return apb.Trigger(event=trigger)


def seconds(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(value * 1e9))
    return duration


def webhook(payload: str = "{{ event.resource.id }} {{ event.event }}") -> apb.Action:
    return apb.Action(
        call_webhook=apb.CallWebhookAction(block_document_id=BLOCK_ID, payload=payload)
    )


def woodchonk(name: str = "woodchonk", tags: list[str] | None = None) -> apb.Automation:
    return apb.Automation(
        name=name,
        enabled=True,
        tags=tags or [],
        trigger=event_trigger(
            ["animal.walked"],
            {"genus": "Marmota", "species": "monax"},
            posture=apb.POSTURE_REACTIVE,
            threshold=3,
            within=seconds(10),
        ),
        actions=[apb.Action(cancel_flow_run=apb.FlowRunAction())],
    )


def field_violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rich_status(error)
    assert status is not None, "no google.rpc status details"
    found: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    return found
