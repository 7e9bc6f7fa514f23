"""Turns firings into the messages to publish: state-change events and TriggeredActions."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from google.protobuf import struct_pb2

from automations.v1 import automation_pb2 as apb
from automations.v1 import event_pb2 as epb
from automations.v1 import stream_pb2 as spb
from automations_common.broker import OutgoingMessage
from automations_common.ids import derived_id
from automations_common.streams import Streams
from automations_common.structs import dict_to_struct
from automations_common.timestamps import to_timestamp
from automations_triggers.convert_events import event_from_model, event_to_dict, firing_to_proto
from automations_triggers.documents import AutomationDocument, JsonDict
from automations_triggers.model import Firing, TriggerState

_GROUPS = {
    "actions": spb.ACTION_GROUP_ACTIONS,
    "actions_on_trigger": spb.ACTION_GROUP_ON_TRIGGER,
    "actions_on_resolve": spb.ACTION_GROUP_ON_RESOLVE,
}
_STATE_EVENTS = {
    TriggerState.TRIGGERED: "prefect.automation.triggered",
    TriggerState.RESOLVED: "prefect.automation.resolved",
}
# A group runs on every firing (None) or only when the firing enters that state.
_GROUP_STATES = {
    "actions": None,
    "actions_on_trigger": TriggerState.TRIGGERED,
    "actions_on_resolve": TriggerState.RESOLVED,
}


@dataclass(frozen=True)
class LoadedAutomation:
    """An automation as the evaluation loop keeps it: the document and its proto."""

    document: AutomationDocument
    message: apb.Automation

    @cached_property
    def state_resource(self) -> epb.Resource:
        """The resource of its state-change events (reference §6.6), built once."""
        doc = self.document
        labels = {
            "prefect.resource.id": f"prefect.automation.{doc.id}",
            "prefect.resource.name": doc.name,
        }
        trigger = doc.trigger or {}
        if trigger.get("type") == "event":
            labels["prefect.posture"] = str(trigger.get("posture") or "Reactive")
        return epb.Resource(labels=labels)

    @cached_property
    def action_parts(self) -> list[tuple[str, bytes]]:
        """Per action (in action_index order): its group and the serialized part of every
        TriggeredAction for it that does not depend on the firing (the automation, the
        action, its index and group). Protobuf merges concatenated messages, so a
        TriggeredAction is this part followed by the firing's part: the automation is not
        copied and serialized again for every firing."""
        message = self.message
        actions = [*message.actions, *message.actions_on_trigger, *message.actions_on_resolve]
        groups = [group for group, _ in self.document.all_actions()]
        return [
            (
                group,
                spb.TriggeredAction(
                    automation=message, action_index=index, action=action, group=_GROUPS[group]
                ).SerializeToString(),
            )
            for index, (group, action) in enumerate(zip(groups, actions, strict=True))
        ]


def state_change_event(
    firing: Firing,
    state: TriggerState,
    automation: LoadedAutomation,
    event: epb.Event | None,
    event_data: JsonDict | None = None,
    payload: struct_pb2.Struct | None = None,
) -> epb.Event:
    """`prefect.automation.triggered|resolved` with the labels of reference §6.6; its id is
    derived from the firing so a replay publishes the same event. `event_data` is `event`'s
    JSON form when the caller has it already (it is dear to compute from the message);
    `payload` the finished payload when the caller built it already (one per firing)."""
    related = []
    if event is not None:
        related.append(
            epb.Resource(
                labels={
                    "prefect.resource.id": f"prefect.event.{event.id}",
                    "prefect.resource.role": "triggering-event",
                }
            )
        )
    if payload is None:
        payload = _state_payload(firing, event, event_data)
    moment = to_timestamp(firing.triggered)
    return epb.Event(
        id=derived_id(firing.id, _STATE_EVENTS[state]),
        occurred_time=moment,
        received_time=moment,
        event=_STATE_EVENTS[state],
        resource=automation.state_resource,
        related=related,
        payload=payload,
    )


def _state_payload(
    firing: Firing, event: epb.Event | None, event_data: JsonDict | None
) -> struct_pb2.Struct:
    if event_data is None and event is not None:
        event_data = event_to_dict(event)
    return dict_to_struct(
        {"triggering_labels": dict(firing.triggering_labels), "triggering_event": event_data}
    )


def firing_messages(
    firing: Firing,
    automation: LoadedAutomation,
    triggering_event: epb.Event | None,
    streams: Streams,
    workspace: str,
) -> list[OutgoingMessage]:
    """The state-change events (to EVENTS) and one TriggeredAction per action (to ACTIONS).

    `triggering_event` is the firing's triggering event as received, when the caller has
    it; otherwise it is rebuilt from the firing's own (deadline firings), reusing the
    payload Struct of the state-change event rather than converting it a second time.

    `action_index` counts through actions + actions_on_trigger + actions_on_resolve, so
    every action of an automation has one stable index whatever state the firing is in.
    """
    states = sorted(firing.states)
    known = firing.triggering_event
    event_data = known.to_dict() if known is not None else None  # far cheaper than the proto's
    payload = dict_to_struct(
        {"triggering_labels": dict(firing.triggering_labels), "triggering_event": event_data}
    )
    if triggering_event is None and known is not None:
        event_payload = payload.fields["triggering_event"].struct_value.fields["payload"]
        triggering_event = event_from_model(known, event_payload.struct_value)
    elif triggering_event is not None and (known is None or known.id != triggering_event.id):
        payload = _state_payload(firing, triggering_event, None)
    state_events = {
        state: state_change_event(firing, state, automation, triggering_event, payload=payload)
        for state in states
    }
    messages = [
        OutgoingMessage(streams.events_subject(workspace), e.SerializeToString(), e.id)
        for e in state_events.values()
    ]
    firing_message = firing_to_proto(firing, triggering_event)
    first_state_event = next(iter(state_events.values()), None)
    moment = to_timestamp(firing.triggered)
    subject = streams.actions_subject(workspace)
    for index, (group, fixed) in enumerate(automation.action_parts):
        needed = _GROUP_STATES[group]
        if needed is not None and needed not in firing.states:
            continue
        state_event = state_events.get(needed) if needed is not None else first_state_event
        action_id = derived_id(firing.id, index)
        varying = spb.TriggeredAction(
            id=action_id,
            firing=firing_message,
            triggered_time=moment,
            automation_triggered_event_id=state_event.id if state_event is not None else "",
        )
        # The original event, also for actions_on_trigger/resolve (DESIGN.md §4.5).
        if triggering_event is not None:
            varying.triggering_event.CopyFrom(triggering_event)
        messages.append(OutgoingMessage(subject, fixed + varying.SerializeToString(), action_id))
    return messages
