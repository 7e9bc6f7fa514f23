"""Protobuf <-> plain Python at the service's edge; the one module that knows pb2 shapes.

TriggeredAction becomes an ActionInvocation whose automation, action, firing and event
are Prefect's JSON forms; blocks and action runs go both ways for the gRPC API.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message

from automations.v1 import (
    action_run_pb2,
    automation_pb2,
    block_pb2,
    event_pb2,
    stream_pb2,
)
from automations_actions.blocks import Block
from automations_actions.kinds.base import ActionInvocation
from automations_actions.runs import ActionRun, RunState
from automations_common.structs import dict_to_struct
from automations_common.timestamps import set_timestamp, to_datetime

_POSTURES = {
    automation_pb2.POSTURE_REACTIVE: "Reactive",
    automation_pb2.POSTURE_PROACTIVE: "Proactive",
    automation_pb2.POSTURE_METRIC: "Metric",
}
_OPERATORS = {
    automation_pb2.METRIC_OPERATOR_LT: "<",
    automation_pb2.METRIC_OPERATOR_LTE: "<=",
    automation_pb2.METRIC_OPERATOR_GT: ">",
    automation_pb2.METRIC_OPERATOR_GTE: ">=",
}
_METRICS = {
    automation_pb2.METRIC_NAME_LATENESS: "lateness",
    automation_pb2.METRIC_NAME_DURATION: "duration",
    automation_pb2.METRIC_NAME_SUCCESSES: "successes",
}
_REQUIRE = {
    automation_pb2.COMPOUND_REQUIRE_ANY: "any",
    automation_pb2.COMPOUND_REQUIRE_ALL: "all",
}
_TRIGGER_STATES = {
    stream_pb2.TRIGGER_STATE_TRIGGERED: "Triggered",
    stream_pb2.TRIGGER_STATE_RESOLVED: "Resolved",
}


def _time(value: timestamp_pb2.Timestamp) -> datetime | None:
    if value.seconds == 0 and value.nanos == 0:
        return None
    return to_datetime(value)


def _iso(value: timestamp_pb2.Timestamp) -> str | None:
    moment = _time(value)
    return None if moment is None else moment.isoformat()


def _seconds(value: duration_pb2.Duration) -> float:
    return value.seconds + value.nanos / 1e9


def _struct(value: struct_pb2.Struct) -> dict[str, Any]:
    # Faster than MessageToDict, which every action pays for (often on an empty payload).
    return {key: _value(item) for key, item in value.fields.items()}


def _value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _struct(value.struct_value)
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        # As MessageToDict does: integral numbers come back as ints.
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "null_value" or kind is None:
        return None
    return getattr(value, kind)


def _to_struct(value: Mapping[str, Any] | None) -> struct_pb2.Struct:
    if not value:
        return struct_pb2.Struct()
    try:
        return dict_to_struct(value)
    except (ValueError, TypeError):
        # Datetimes and other odd values: through JSON, which makes them plain ones.
        return dict_to_struct(json.loads(json.dumps(value, default=str)))


def _set_time(target: timestamp_pb2.Timestamp, value: datetime | None) -> None:
    if value is not None:
        set_timestamp(target, value)


# ---- events -------------------------------------------------------------------------------


def event_json(event: event_pb2.Event) -> dict[str, Any]:
    """An Event in Prefect's JSON form."""
    return {
        "id": event.id,
        "occurred": _iso(event.occurred_time),
        "event": event.event,
        "resource": dict(event.resource.labels),
        "related": [dict(r.labels) for r in event.related],
        "payload": _struct(event.payload),
        "follows": event.follows or None,
        "received": _iso(event.received_time),
    }


def event_from_json(data: Mapping[str, Any], received: datetime) -> event_pb2.Event:
    event = event_pb2.Event(
        id=str(data["id"]),
        event=str(data["event"]),
        resource=event_pb2.Resource(labels=dict(data.get("resource") or {})),
        related=[event_pb2.Resource(labels=dict(r)) for r in data.get("related") or []],
        payload=_to_struct(data.get("payload")),
        follows=str(data.get("follows") or ""),
    )
    _set_time(event.occurred_time, datetime.fromisoformat(str(data["occurred"])))
    _set_time(event.received_time, received)
    return event


# ---- automations and actions -------------------------------------------------------------


def _spec(spec: event_pb2.ResourceSpecification) -> dict[str, Any]:
    return {
        key: values.values[0] if len(values.values) == 1 else list(values.values)
        for key, values in spec.labels.items()
    }


def trigger_json(trigger: automation_pb2.Trigger) -> dict[str, Any]:
    """A Trigger in Prefect's JSON form (`type` discriminator, `within` in seconds)."""
    case = trigger.WhichOneof("kind")
    if case == "event":
        t = trigger.event
        return {
            "type": "event",
            "id": t.id,
            "match": _spec(t.match),
            "match_related": [_spec(s) for s in t.match_related],
            "after": list(t.after),
            "expect": list(t.expect),
            "for_each": list(t.for_each),
            "posture": _POSTURES.get(t.posture, "Reactive"),
            "threshold": t.threshold,
            "within": _seconds(t.within),
        }
    if case == "compound":
        c = trigger.compound
        require: Any = _REQUIRE.get(c.require, c.require_count)
        return {
            "type": "compound",
            "id": c.id,
            "triggers": [trigger_json(child) for child in c.triggers],
            "within": _seconds(c.within) if c.HasField("within") else None,
            "require": require,
        }
    if case == "sequence":
        s = trigger.sequence
        return {
            "type": "sequence",
            "id": s.id,
            "triggers": [trigger_json(child) for child in s.triggers],
            "within": _seconds(s.within) if s.HasField("within") else None,
        }
    if case == "metric":
        m = trigger.metric
        return {
            "type": "metric",
            "id": m.id,
            "posture": "Metric",
            "match": _spec(m.match),
            "match_related": [_spec(s) for s in m.match_related],
            "metric": {
                "name": _METRICS.get(m.metric.name, ""),
                "threshold": m.metric.threshold,
                "operator": _OPERATORS.get(m.metric.operator, ""),
                "range": _seconds(m.metric.range),
                "firing_for": _seconds(m.metric.firing_for),
            },
        }
    return {"type": ""}


def action_type(action: automation_pb2.Action) -> str:
    case = action.WhichOneof("kind")
    return case.replace("_", "-") if case else ""


def action_json(action: automation_pb2.Action) -> dict[str, Any]:
    """An Action in Prefect's JSON form: `type` plus the case's fields."""
    case = action.WhichOneof("kind")
    if case is None:
        return {"type": ""}
    body: Message = getattr(action, case)
    result: dict[str, Any] = {"type": action_type(action)}
    for field in body.DESCRIPTOR.fields:
        name = field.name
        value = getattr(body, name)
        if name == "source":
            result[name] = (
                "inferred" if value == automation_pb2.TARGET_SOURCE_INFERRED else "selected"
            )
        elif name == "state":
            result[name] = automation_pb2.StateType.Name(value).removeprefix("STATE_TYPE_")
        elif name == "schedule_after":
            result[name] = _seconds(value)
        elif (
            field.message_type is not None
            and field.message_type.full_name == "google.protobuf.Struct"
        ):
            result[name] = _struct(value) if body.HasField(name) else None
        elif field.has_presence and not body.HasField(name):
            result[name] = None
        elif name.endswith("_id"):
            result[name] = value or None
        else:
            result[name] = value
    return result


def all_actions(automation: automation_pb2.Automation) -> list[automation_pb2.Action]:
    return [*automation.actions, *automation.actions_on_trigger, *automation.actions_on_resolve]


def automation_json(automation: automation_pb2.Automation) -> dict[str, Any]:
    return {
        "id": automation.id,
        "name": automation.name,
        "description": automation.description,
        "enabled": automation.enabled,
        "tags": list(automation.tags),
        "trigger": trigger_json(automation.trigger),
        "actions": [action_json(a) for a in automation.actions],
        "actions_on_trigger": [action_json(a) for a in automation.actions_on_trigger],
        "actions_on_resolve": [action_json(a) for a in automation.actions_on_resolve],
        "owner_resource": automation.owner_resource or None,
        "workspace": automation.workspace or "default",
        "created": _iso(automation.create_time),
        "updated": _iso(automation.update_time),
    }


def firing_json(firing: stream_pb2.Firing, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """The firing in JSON; `event` is its triggering event already converted, if it is."""
    if event is None and firing.HasField("triggering_event"):
        event = event_json(firing.triggering_event)
    return {
        "id": firing.id,
        "trigger_id": firing.trigger_id,
        "trigger_states": [_TRIGGER_STATES.get(s, "") for s in firing.trigger_states],
        "triggered": _iso(firing.triggered_time),
        "triggering_labels": dict(firing.triggering_labels),
        "triggering_firings": [firing_json(f) for f in firing.triggering_firings],
        "triggering_event": event,
        "triggering_value": (
            firing.triggering_value if firing.HasField("triggering_value") else None
        ),
    }


class AutomationJsons:
    """automation_json with memory: every action of a busy automation carries the same one.

    Keyed by the automation's serialized bytes, so any change gives a new entry; the
    oldest entries go first once `size` are kept. Callers must not mutate what they get.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._known: OrderedDict[bytes, dict[str, Any]] = OrderedDict()

    def __call__(self, automation: automation_pb2.Automation) -> dict[str, Any]:
        key = automation.SerializeToString(deterministic=True)
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = automation_json(automation)
            if len(self._known) > self._size:
                self._known.popitem(last=False)
        else:
            self._known.move_to_end(key)
        return found


def invocation_from_proto(
    message: stream_pb2.TriggeredAction,
    automations: Callable[[automation_pb2.Automation], dict[str, Any]] = automation_json,
) -> ActionInvocation:
    """The executor's view of a TriggeredAction. Raises ValueError if it is unusable."""
    if not message.id:
        raise ValueError("the TriggeredAction has no id")
    if message.action.WhichOneof("kind") is None:
        raise ValueError(f"action {message.id} has no type")
    event = None
    if message.HasField("triggering_event") and message.triggering_event.id:
        event = event_json(message.triggering_event)
    triggered = (
        _time(message.triggered_time) or _time(message.firing.triggered_time) or datetime.now(UTC)
    )
    same = event is not None and message.firing.triggering_event.id == event["id"]
    firing = firing_json(message.firing, event if same else None)
    return ActionInvocation(
        action_id=message.id,
        action_index=message.action_index,
        action_type=action_type(message.action),
        action=action_json(message.action),
        automation=automations(message.automation),
        firing=firing,
        triggering_event=event,
        triggered_time=triggered,
        automation_triggered_event_id=message.automation_triggered_event_id,
    )


# ---- blocks --------------------------------------------------------------------------------


def block_from_proto(block: block_pb2.Block) -> tuple[str, dict[str, Any]]:
    """(kind, config) of a Block message; kind is empty when no config case is set."""
    kind = block.WhichOneof("config")
    if kind is None:
        return "", {}
    config = MessageToDict(
        getattr(block, kind),
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    return kind, config


def block_to_proto(block: Block) -> block_pb2.Block:
    message = block_pb2.Block(id=block.id, name=block.name, workspace=block.workspace)
    ParseDict(dict(block.config), getattr(message, block.kind), ignore_unknown_fields=True)
    _set_time(message.create_time, block.created)
    _set_time(message.update_time, block.updated)
    return message


# ---- action runs ---------------------------------------------------------------------------


def run_state_to_proto(state: RunState) -> int:
    return int(action_run_pb2.ActionRunState.Value(f"ACTION_RUN_STATE_{state.value}"))


def run_state_from_proto(value: int) -> RunState:
    state = action_run_pb2.ActionRunState.Name(value)  # type: ignore[arg-type]
    name = state.removeprefix("ACTION_RUN_STATE_")
    return RunState(name)


def timestamp_from_proto(value: timestamp_pb2.Timestamp) -> datetime | None:
    return _time(value)


def run_to_proto(run: ActionRun) -> action_run_pb2.ActionRun:
    message = action_run_pb2.ActionRun(
        id=run.id,
        automation_id=run.automation_id,
        automation_name=run.automation_name,
        action_index=run.action_index,
        action_type=run.action_type,
        state=run_state_to_proto(run.state),  # type: ignore[arg-type]
        firing_id=run.firing_id,
        triggering_event_id=run.triggering_event_id,
        reason=run.reason,
        result=_to_struct(run.result),
        workspace=run.workspace,
    )
    if run.rendered_request is not None:
        message.rendered_request.CopyFrom(_to_struct(run.rendered_request))
    for attempt in run.attempts:
        item = message.attempts.add(
            number=attempt.number, error=attempt.error, transient=attempt.transient
        )
        _set_time(item.start_time, attempt.started)
        if attempt.duration_seconds is not None:
            item.duration.FromNanoseconds(int(attempt.duration_seconds * 1e9))
    _set_time(message.create_time, run.created)
    _set_time(message.update_time, run.updated)
    _set_time(message.finish_time, run.finished)
    return message
