"""Protobuf <-> domain conversion: Automation protos to Prefect-shaped documents and back."""

from __future__ import annotations

from typing import Any

from google.protobuf import duration_pb2

from automations.v1 import automation_pb2 as apb
from automations.v1 import event_pb2 as epb
from automations_common.structs import dict_to_struct, struct_to_dict
from automations_common.timestamps import to_datetime, to_timestamp
from automations_triggers.documents import AutomationDocument, JsonDict

_POSTURES = {
    apb.POSTURE_UNSPECIFIED: "Reactive",
    apb.POSTURE_REACTIVE: "Reactive",
    apb.POSTURE_PROACTIVE: "Proactive",
    apb.POSTURE_METRIC: "Metric",
}
_POSTURE_ENUMS = {
    "Reactive": apb.POSTURE_REACTIVE,
    "Proactive": apb.POSTURE_PROACTIVE,
    "Metric": apb.POSTURE_METRIC,
}
_METRICS = {
    apb.METRIC_NAME_LATENESS: "lateness",
    apb.METRIC_NAME_DURATION: "duration",
    apb.METRIC_NAME_SUCCESSES: "successes",
}
_OPERATORS = {
    apb.METRIC_OPERATOR_LT: "<",
    apb.METRIC_OPERATOR_LTE: "<=",
    apb.METRIC_OPERATOR_GT: ">",
    apb.METRIC_OPERATOR_GTE: ">=",
}
_SOURCES = {
    apb.TARGET_SOURCE_UNSPECIFIED: "selected",
    apb.TARGET_SOURCE_SELECTED: "selected",
    apb.TARGET_SOURCE_INFERRED: "inferred",
}
_SOURCE_ENUMS = {"selected": apb.TARGET_SOURCE_SELECTED, "inferred": apb.TARGET_SOURCE_INFERRED}
# Fields that name an action's target, by the proto message that carries them.
_TARGET_FIELDS = {
    "RunDeploymentAction": "deployment_id",
    "DeploymentAction": "deployment_id",
    "WorkQueueAction": "work_queue_id",
    "WorkPoolAction": "work_pool_id",
    "AutomationAction": "automation_id",
}


_METRIC_ENUMS = {v: k for k, v in _METRICS.items()}
_OPERATOR_ENUMS = {v: k for k, v in _OPERATORS.items()}


# --- time -----------------------------------------------------------------------------


def seconds(duration: duration_pb2.Duration) -> float:
    return duration.ToNanoseconds() / 1e9


def to_duration(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(value * 1e9))
    return duration


# --- resource specifications -------------------------------------------------------------


def spec_to_dict(spec: epb.ResourceSpecification) -> dict[str, list[str]]:
    return {label: list(values.values) for label, values in spec.labels.items()}


def dict_to_spec(spec: dict[str, Any]) -> epb.ResourceSpecification:
    message = epb.ResourceSpecification()
    for label, values in spec.items():
        message.labels[label].values.extend([values] if isinstance(values, str) else values)
    return message


# --- triggers ----------------------------------------------------------------------------


def trigger_to_dict(trigger: apb.Trigger) -> JsonDict | None:
    kind = trigger.WhichOneof("kind")
    if kind == "event":
        return _event_trigger(trigger.event)
    if kind == "compound":
        c = trigger.compound
        require: int | str
        if c.require == apb.COMPOUND_REQUIRE_ANY:
            require = "any"
        elif c.require == apb.COMPOUND_REQUIRE_COUNT or (
            c.require == apb.COMPOUND_REQUIRE_UNSPECIFIED and c.require_count
        ):
            require = c.require_count
        else:
            require = "all"
        return {
            "type": "compound",
            "id": c.id,
            "triggers": [_child(t) for t in c.triggers],
            "within": seconds(c.within) if c.HasField("within") else None,
            "require": require,
        }
    if kind == "sequence":
        s = trigger.sequence
        return {
            "type": "sequence",
            "id": s.id,
            "triggers": [_child(t) for t in s.triggers],
            "within": seconds(s.within) if s.HasField("within") else None,
        }
    if kind == "metric":
        m = trigger.metric
        q = m.metric
        return {
            "type": "metric",
            "id": m.id,
            "posture": "Metric",
            "match": spec_to_dict(m.match),
            "match_related": [spec_to_dict(s) for s in m.match_related],
            "metric": {
                "name": _METRICS.get(q.name),
                "threshold": q.threshold,
                "operator": _OPERATORS.get(q.operator),
                # Unset means Prefect's default (and minimum) of 300 s.
                "range": seconds(q.range) if q.HasField("range") else 300.0,
                "firing_for": seconds(q.firing_for) if q.HasField("firing_for") else 300.0,
            },
        }
    return None


def _child(trigger: apb.Trigger) -> JsonDict:
    # An empty child stays visible to validation as a trigger without a type.
    return trigger_to_dict(trigger) or {"type": "unset"}


def _event_trigger(e: apb.EventTrigger) -> JsonDict:
    return {
        "type": "event",
        "id": e.id,
        "match": spec_to_dict(e.match),
        "match_related": [spec_to_dict(s) for s in e.match_related],
        "after": list(e.after),
        "expect": list(e.expect),
        "for_each": list(e.for_each),
        "posture": _POSTURES[e.posture],
        # proto3 cannot tell 0 from unset; Prefect's default threshold is 1.
        "threshold": e.threshold or 1,
        "within": seconds(e.within) if e.HasField("within") else 0.0,
    }


def dict_to_trigger(doc: JsonDict) -> apb.Trigger:
    kind = doc.get("type")
    if kind == "event":
        return apb.Trigger(
            event=apb.EventTrigger(
                id=doc.get("id") or "",
                match=dict_to_spec(doc.get("match") or {}),
                match_related=[dict_to_spec(s) for s in doc.get("match_related") or []],
                after=doc.get("after") or [],
                expect=doc.get("expect") or [],
                for_each=doc.get("for_each") or [],
                posture=_POSTURE_ENUMS.get(doc.get("posture") or "", apb.POSTURE_REACTIVE),
                threshold=int(doc.get("threshold", 1)),
                within=to_duration(float(doc.get("within") or 0.0)),
            )
        )
    if kind == "compound":
        require = doc.get("require", "all")
        compound = apb.CompoundTrigger(
            id=doc.get("id") or "",
            triggers=[dict_to_trigger(t) for t in doc.get("triggers") or []],
        )
        if require == "any":
            compound.require = apb.COMPOUND_REQUIRE_ANY
        elif require == "all":
            compound.require = apb.COMPOUND_REQUIRE_ALL
        else:
            compound.require = apb.COMPOUND_REQUIRE_COUNT
            compound.require_count = int(require)
        if doc.get("within") is not None:
            compound.within.CopyFrom(to_duration(float(doc["within"])))
        return apb.Trigger(compound=compound)
    if kind == "sequence":
        sequence = apb.SequenceTrigger(
            id=doc.get("id") or "",
            triggers=[dict_to_trigger(t) for t in doc.get("triggers") or []],
        )
        if doc.get("within") is not None:
            sequence.within.CopyFrom(to_duration(float(doc["within"])))
        return apb.Trigger(sequence=sequence)
    if kind == "metric":
        q = doc.get("metric") or {}
        return apb.Trigger(
            metric=apb.MetricTrigger(
                id=doc.get("id") or "",
                match=dict_to_spec(doc.get("match") or {}),
                match_related=[dict_to_spec(s) for s in doc.get("match_related") or []],
                metric=apb.MetricTriggerQuery(
                    name=_METRIC_ENUMS.get(q.get("name") or "", apb.METRIC_NAME_UNSPECIFIED),
                    threshold=float(q.get("threshold") or 0.0),
                    operator=_OPERATOR_ENUMS.get(
                        q.get("operator") or "", apb.METRIC_OPERATOR_UNSPECIFIED
                    ),
                    range=to_duration(float(q.get("range") or 300.0)),
                    firing_for=to_duration(float(q.get("firing_for") or 300.0)),
                ),
            )
        )
    return apb.Trigger()


# --- actions -------------------------------------------------------------------------------


def action_to_dict(action: apb.Action) -> JsonDict:
    kind = action.WhichOneof("kind")
    if kind is None:
        return {"type": "unset"}
    body = getattr(action, kind)
    doc: JsonDict = {"type": kind.replace("_", "-")}
    message_name = body.DESCRIPTOR.name
    if message_name in _TARGET_FIELDS:
        target = _TARGET_FIELDS[message_name]
        doc["source"] = _SOURCES[body.source]
        doc[target] = getattr(body, target) or None
    if message_name == "RunDeploymentAction":
        doc["parameters"] = struct_to_dict(body.parameters) if body.HasField("parameters") else None
        doc["job_variables"] = (
            struct_to_dict(body.job_variables) if body.HasField("job_variables") else None
        )
        doc["schedule_after"] = seconds(body.schedule_after)
    elif message_name == "ChangeFlowRunStateAction":
        doc["state"] = (
            None
            if body.state == apb.STATE_TYPE_UNSPECIFIED
            else apb.StateType.Name(body.state).removeprefix("STATE_TYPE_")
        )
        doc["name"] = body.name if body.HasField("name") else None
        doc["message"] = body.message if body.HasField("message") else None
        doc["force"] = body.force
    elif message_name == "SendNotificationAction":
        doc["block_document_id"] = body.block_document_id or None
        doc["subject"] = body.subject or "Prefect automated notification"
        doc["body"] = body.body
    elif message_name == "CallWebhookAction":
        doc["block_document_id"] = body.block_document_id or None
        doc["payload"] = body.payload
    return doc


def dict_to_action(doc: JsonDict) -> apb.Action:
    kind = str(doc.get("type", "")).replace("-", "_")
    action = apb.Action()
    if kind not in apb.Action.DESCRIPTOR.fields_by_name:
        return action
    body = getattr(action, kind)
    body.SetInParent()
    message_name = body.DESCRIPTOR.name
    if message_name in _TARGET_FIELDS:
        target = _TARGET_FIELDS[message_name]
        body.source = _SOURCE_ENUMS.get(doc.get("source") or "selected", 0)
        setattr(body, target, doc.get(target) or "")
    if message_name == "RunDeploymentAction":
        if doc.get("parameters") is not None:
            body.parameters.CopyFrom(dict_to_struct(doc["parameters"]))
        if doc.get("job_variables") is not None:
            body.job_variables.CopyFrom(dict_to_struct(doc["job_variables"]))
        body.schedule_after.CopyFrom(to_duration(float(doc.get("schedule_after") or 0.0)))
    elif message_name == "ChangeFlowRunStateAction":
        if doc.get("state"):
            body.state = apb.StateType.Value(f"STATE_TYPE_{doc['state']}")
        if doc.get("name") is not None:
            body.name = doc["name"]
        if doc.get("message") is not None:
            body.message = doc["message"]
        body.force = bool(doc.get("force"))
    elif message_name == "SendNotificationAction":
        body.block_document_id = doc.get("block_document_id") or ""
        body.subject = doc.get("subject") or ""
        body.body = doc.get("body") or ""
    elif message_name == "CallWebhookAction":
        body.block_document_id = doc.get("block_document_id") or ""
        body.payload = doc.get("payload") or ""
    return action


# --- automations ---------------------------------------------------------------------------


def automation_to_document(message: apb.Automation) -> AutomationDocument:
    return AutomationDocument(
        id=message.id,
        workspace=message.workspace or "default",
        name=message.name,
        description=message.description,
        enabled=message.enabled,
        tags=list(message.tags),
        trigger=trigger_to_dict(message.trigger) if message.HasField("trigger") else None,
        actions=[action_to_dict(a) for a in message.actions],
        actions_on_trigger=[action_to_dict(a) for a in message.actions_on_trigger],
        actions_on_resolve=[action_to_dict(a) for a in message.actions_on_resolve],
        owner_resource=message.owner_resource or None,
        created=to_datetime(message.create_time) if message.HasField("create_time") else None,
        updated=to_datetime(message.update_time) if message.HasField("update_time") else None,
    )


def document_to_automation(doc: AutomationDocument) -> apb.Automation:
    message = apb.Automation(
        id=doc.id,
        workspace=doc.workspace,
        name=doc.name,
        description=doc.description,
        enabled=doc.enabled,
        tags=doc.tags,
        actions=[dict_to_action(a) for a in doc.actions],
        actions_on_trigger=[dict_to_action(a) for a in doc.actions_on_trigger],
        actions_on_resolve=[dict_to_action(a) for a in doc.actions_on_resolve],
        owner_resource=doc.owner_resource or "",
    )
    if doc.trigger is not None:
        message.trigger.CopyFrom(dict_to_trigger(doc.trigger))
    if doc.created is not None:
        message.create_time.CopyFrom(to_timestamp(doc.created))
    if doc.updated is not None:
        message.update_time.CopyFrom(to_timestamp(doc.updated))
    return message
