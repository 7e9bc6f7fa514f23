"""Turns firings into the messages to publish: state-change events and TriggeredActions."""

from __future__ import annotations

from dataclasses import dataclass

from automations.v1 import automation_pb2 as apb
from automations.v1 import event_pb2 as epb
from automations.v1 import stream_pb2 as spb
from automations_common.broker import OutgoingMessage
from automations_common.ids import derived_id
from automations_common.streams import Streams
from automations_triggers.convert import dict_to_struct, to_timestamp
from automations_triggers.convert_events import event_to_dict, firing_to_proto
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


def state_change_event(
    firing: Firing,
    state: TriggerState,
    automation: LoadedAutomation,
    event: epb.Event | None,
    event_data: JsonDict | None = None,
) -> epb.Event:
    """`prefect.automation.triggered|resolved` with the labels of reference §6.6; its id is
    derived from the firing so a replay publishes the same event. `event_data` is `event`'s
    JSON form when the caller has it already (it is dear to compute from the message)."""
    doc = automation.document
    labels = {
        "prefect.resource.id": f"prefect.automation.{doc.id}",
        "prefect.resource.name": doc.name,
    }
    trigger = doc.trigger or {}
    if trigger.get("type") == "event":
        labels["prefect.posture"] = str(trigger.get("posture") or "Reactive")
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
    payload = {
        "triggering_labels": dict(firing.triggering_labels),
        "triggering_event": (
            (event_data if event_data is not None else event_to_dict(event))
            if event is not None
            else None
        ),
    }
    return epb.Event(
        id=derived_id(firing.id, _STATE_EVENTS[state]),
        occurred_time=to_timestamp(firing.triggered),
        received_time=to_timestamp(firing.triggered),
        event=_STATE_EVENTS[state],
        resource=epb.Resource(labels=labels),
        related=related,
        payload=dict_to_struct(payload),
    )


def firing_messages(
    firing: Firing,
    automation: LoadedAutomation,
    triggering_event: epb.Event | None,
    streams: Streams,
    workspace: str,
) -> list[OutgoingMessage]:
    """The state-change events (to EVENTS) and one TriggeredAction per action (to ACTIONS).

    `action_index` counts through actions + actions_on_trigger + actions_on_resolve, so
    every action of an automation has one stable index whatever state the firing is in.
    """
    states = sorted(firing.states)
    event_data = None
    known = firing.triggering_event
    if triggering_event is not None and known is not None and known.id == triggering_event.id:
        event_data = known.to_dict()  # the same JSON as event_to_dict, far cheaper
    state_events = {
        state: state_change_event(firing, state, automation, triggering_event, event_data)
        for state in states
    }
    messages = [
        OutgoingMessage(streams.events_subject(workspace), e.SerializeToString(), e.id)
        for e in state_events.values()
    ]
    firing_message = firing_to_proto(firing, triggering_event)
    first_state_event = next(iter(state_events.values()), None)
    message = automation.message
    proto_actions = [*message.actions, *message.actions_on_trigger, *message.actions_on_resolve]
    groups = [group for group, _ in automation.document.all_actions()]
    for index, (group, action) in enumerate(zip(groups, proto_actions, strict=True)):
        needed = _GROUP_STATES[group]
        if needed is not None and needed not in firing.states:
            continue
        state_event = state_events.get(needed) if needed is not None else first_state_event
        triggered = spb.TriggeredAction(
            id=derived_id(firing.id, index),
            automation=message,
            firing=firing_message,
            action_index=index,
            action=action,
            group=_GROUPS[group],
            triggered_time=to_timestamp(firing.triggered),
            automation_triggered_event_id=state_event.id if state_event is not None else "",
        )
        # The original event, also for actions_on_trigger/resolve (DESIGN.md §4.5).
        if triggering_event is not None:
            triggered.triggering_event.CopyFrom(triggering_event)
        messages.append(
            OutgoingMessage(
                streams.actions_subject(workspace), triggered.SerializeToString(), triggered.id
            )
        )
    return messages
