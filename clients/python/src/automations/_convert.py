"""Public models <-> protobuf messages: the one hand-written module that knows pb2 shapes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2
from google.protobuf.json_format import MessageToDict
from pydantic import SecretStr

from automations import _actions as act
from automations._automation import Automation, AutomationCore
from automations._blocks import (
    BLOCK_CLASSES,
    AppriseNotification,
    Block,
    CustomWebhookNotificationBlock,
    EmailServerCredentials,
    MicrosoftTeamsWebhook,
    SlackWebhook,
    SMTPType,
    Webhook,
)
from automations._events import (
    EmitResult,
    Event,
    EventCount,
    EventFilter,
    RejectedEvent,
    Resource,
)
from automations._models import Posture, ResourceSpecification
from automations._runs import ActionAttempt, ActionRun
from automations._triggers import (
    CompoundTrigger,
    EventTrigger,
    MetricTrigger,
    MetricTriggerOperator,
    MetricTriggerQuery,
    PrefectMetric,
    SequenceTrigger,
    TriggerTypes,
)
from automations._webhooks import IncomingWebhook
from automations.v1 import (
    action_run_pb2,
    automation_pb2,
    block_pb2,
    event_filter_pb2,
    event_pb2,
    events_service_pb2,
    webhook_pb2,
)

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- well-known types ---------------------------------------------------------------------


def duration_to_proto(value: timedelta) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromTimedelta(value)
    return message


def duration_from_proto(message: duration_pb2.Duration) -> timedelta:
    return message.ToTimedelta()


def timestamp_to_proto(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    _set_timestamp(message, value)
    return message


def _set_timestamp(message: timestamp_pb2.Timestamp, value: datetime) -> None:
    """Exact whole-microsecond arithmetic, several times faster than `FromDatetime`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    since = value - _EPOCH
    message.seconds = since.days * 86400 + since.seconds
    message.nanos = since.microseconds * 1000


def timestamp_from_proto(message: timestamp_pb2.Timestamp) -> datetime:
    return message.ToDatetime(tzinfo=UTC)


def struct_to_proto(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def struct_from_proto(message: struct_pb2.Struct) -> dict[str, Any]:
    """The JSON object; whole numbers come back as ints (Struct keeps only doubles)."""
    return {k: _integral(v) for k, v in MessageToDict(message).items()}


def _integral(value: Any) -> Any:
    if (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) < 2**53
    ):
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


# --- events -------------------------------------------------------------------------------


def resource_to_proto(resource: Resource | dict[str, str]) -> event_pb2.Resource:
    labels = resource.root if isinstance(resource, Resource) else resource
    return event_pb2.Resource(labels=dict(labels))


def event_to_proto(event: Event) -> event_pb2.Event:
    # Fields are filled in place rather than from sub-messages built first: emitting is the
    # client's hot path, and this halves its cost per event.
    message = event_pb2.Event(
        id=str(event.id),
        event=event.event,
        follows=str(event.follows) if event.follows else "",
    )
    _set_timestamp(message.occurred_time, event.occurred)
    message.resource.labels.update(event.resource.root)
    for related in event.related:
        message.related.add().labels.update(related.root)
    if event.payload:
        message.payload.update(event.payload)
    return message


def event_from_proto(message: event_pb2.Event) -> Event:
    return Event(
        id=UUID(message.id),
        occurred=timestamp_from_proto(message.occurred_time),
        event=message.event,
        resource=Resource(dict(message.resource.labels)),
        related=[Resource(dict(r.labels)) for r in message.related],
        payload=struct_from_proto(message.payload),
        follows=UUID(message.follows) if message.follows else None,
        received=(
            timestamp_from_proto(message.received_time)
            if message.HasField("received_time")
            else None
        ),
    )


def emit_result_from_proto(
    message: events_service_pb2.EmitEventsResponse, offset: int = 0
) -> EmitResult:
    return EmitResult(
        accepted_ids=list(message.accepted_ids),
        rejected=[
            RejectedEvent(r.index + offset, r.event_id, r.reason, r.field) for r in message.rejected
        ],
    )


def event_filter_to_proto(query: EventFilter) -> event_filter_pb2.EventFilter:
    message = event_filter_pb2.EventFilter(
        order=event_filter_pb2.EVENT_ORDER_ASC
        if query.ascending
        else event_filter_pb2.EVENT_ORDER_DESC
    )
    if query.since is not None:
        message.occurred.since.CopyFrom(timestamp_to_proto(query.since))
    if query.until is not None:
        message.occurred.until.CopyFrom(timestamp_to_proto(query.until))
    names = [n for n in query.event_names if not n.endswith("*")]
    prefixes = [*query.event_prefixes, *(n[:-1] for n in query.event_names if n.endswith("*"))]
    if names or prefixes or query.exclude_event_prefixes:
        message.event.CopyFrom(
            event_filter_pb2.EventNameFilter(
                name=names, prefix=prefixes, exclude_prefix=query.exclude_event_prefixes
            )
        )
    if query.resource_ids or query.resource_id_prefixes or query.resource_labels:
        resource = event_filter_pb2.ResourceFilter(
            id=query.resource_ids, id_prefix=query.resource_id_prefixes
        )
        if query.resource_labels:
            resource.labels.CopyFrom(spec_to_proto(ResourceSpecification(query.resource_labels)))
        message.resource.CopyFrom(resource)
    if query.related_ids or query.related_roles:
        message.related.append(
            event_filter_pb2.RelatedFilter(id=query.related_ids, role=query.related_roles)
        )
    if query.any_resource_ids:
        message.any_resource.append(event_filter_pb2.AnyResourceFilter(id=query.any_resource_ids))
    if query.event_ids:
        message.id.CopyFrom(event_filter_pb2.EventIdFilter(id=query.event_ids))
    if query.text:
        message.text.CopyFrom(event_filter_pb2.TextFilter(query=query.text))
    return message


def event_count_from_proto(message: events_service_pb2.EventCount) -> EventCount:
    return EventCount(
        value=message.value,
        label=message.label,
        count=message.count,
        start=_optional_time(message, "start_time"),
        end=_optional_time(message, "end_time"),
    )


# --- triggers -----------------------------------------------------------------------------


def spec_to_proto(spec: ResourceSpecification) -> event_pb2.ResourceSpecification:
    return event_pb2.ResourceSpecification(
        labels={k: event_pb2.LabelValues(values=v) for k, v in spec.patterns().items()}
    )


def spec_from_proto(message: event_pb2.ResourceSpecification) -> ResourceSpecification:
    return ResourceSpecification(
        {
            k: v.values[0] if len(v.values) == 1 else list(v.values)
            for k, v in message.labels.items()
        }
    )


_POSTURES = {
    Posture.Reactive: automation_pb2.POSTURE_REACTIVE,
    Posture.Proactive: automation_pb2.POSTURE_PROACTIVE,
    Posture.Metric: automation_pb2.POSTURE_METRIC,
}
_METRICS = {
    PrefectMetric.lateness: automation_pb2.METRIC_NAME_LATENESS,
    PrefectMetric.duration: automation_pb2.METRIC_NAME_DURATION,
    PrefectMetric.successes: automation_pb2.METRIC_NAME_SUCCESSES,
}
_OPERATORS = {
    MetricTriggerOperator.LT: automation_pb2.METRIC_OPERATOR_LT,
    MetricTriggerOperator.LTE: automation_pb2.METRIC_OPERATOR_LTE,
    MetricTriggerOperator.GT: automation_pb2.METRIC_OPERATOR_GT,
    MetricTriggerOperator.GTE: automation_pb2.METRIC_OPERATOR_GTE,
}


def _reverse(mapping: Mapping[T, int]) -> dict[int, T]:
    return {v: k for k, v in mapping.items()}


def trigger_to_proto(trigger: TriggerTypes) -> automation_pb2.Trigger:
    if isinstance(trigger, EventTrigger):
        return automation_pb2.Trigger(
            event=automation_pb2.EventTrigger(
                id=trigger.id or "",
                match=spec_to_proto(trigger.match),
                match_related=[spec_to_proto(s) for s in trigger.related_specs()],
                after=trigger.after,
                expect=trigger.expect,
                for_each=trigger.for_each,
                posture=_POSTURES[Posture(trigger.posture)],
                threshold=trigger.threshold,
                within=duration_to_proto(trigger.within),
            )
        )
    if isinstance(trigger, CompoundTrigger):
        compound = automation_pb2.CompoundTrigger(
            id=trigger.id or "", triggers=[trigger_to_proto(t) for t in trigger.triggers]
        )
        if trigger.within is not None:
            compound.within.CopyFrom(duration_to_proto(trigger.within))
        if trigger.require == "any":
            compound.require = automation_pb2.COMPOUND_REQUIRE_ANY
        elif trigger.require == "all":
            compound.require = automation_pb2.COMPOUND_REQUIRE_ALL
        else:
            compound.require = automation_pb2.COMPOUND_REQUIRE_COUNT
            compound.require_count = trigger.require
        return automation_pb2.Trigger(compound=compound)
    if isinstance(trigger, SequenceTrigger):
        sequence = automation_pb2.SequenceTrigger(
            id=trigger.id or "", triggers=[trigger_to_proto(t) for t in trigger.triggers]
        )
        if trigger.within is not None:
            sequence.within.CopyFrom(duration_to_proto(trigger.within))
        return automation_pb2.Trigger(sequence=sequence)
    metric = trigger.metric
    return automation_pb2.Trigger(
        metric=automation_pb2.MetricTrigger(
            id=trigger.id or "",
            match=spec_to_proto(trigger.match),
            match_related=[spec_to_proto(s) for s in trigger.related_specs()],
            metric=automation_pb2.MetricTriggerQuery(
                name=_METRICS[metric.name],
                threshold=metric.threshold,
                operator=_OPERATORS[metric.operator],
                range=duration_to_proto(metric.range),
                firing_for=duration_to_proto(metric.firing_for),
            ),
        )
    )


def _related_from_proto(
    specs: Any,
) -> ResourceSpecification | list[ResourceSpecification]:
    converted = [spec_from_proto(s) for s in specs]
    if not converted:
        return ResourceSpecification({})
    return converted[0] if len(converted) == 1 else converted


def trigger_from_proto(message: automation_pb2.Trigger) -> TriggerTypes:
    kind = message.WhichOneof("kind")
    if kind == "event":
        e = message.event
        posture = cast(
            Literal[Posture.Reactive, Posture.Proactive],
            _reverse(_POSTURES).get(e.posture, Posture.Reactive),
        )
        return EventTrigger.model_construct(
            id=e.id or None,
            match=spec_from_proto(e.match),
            match_related=_related_from_proto(e.match_related),
            after=list(e.after),
            expect=list(e.expect),
            for_each=list(e.for_each),
            posture=posture,
            threshold=e.threshold,
            within=duration_from_proto(e.within),
        )
    if kind == "compound":
        c = message.compound
        require: int | Literal["any", "all"] = c.require_count
        if c.require == automation_pb2.COMPOUND_REQUIRE_ANY:
            require = "any"
        elif c.require == automation_pb2.COMPOUND_REQUIRE_ALL:
            require = "all"
        return CompoundTrigger.model_construct(
            id=c.id or None,
            triggers=[trigger_from_proto(t) for t in c.triggers],
            within=duration_from_proto(c.within) if c.HasField("within") else None,
            require=require,
        )
    if kind == "sequence":
        s = message.sequence
        return SequenceTrigger.model_construct(
            id=s.id or None,
            triggers=[trigger_from_proto(t) for t in s.triggers],
            within=duration_from_proto(s.within) if s.HasField("within") else None,
        )
    if kind == "metric":
        m = message.metric
        return MetricTrigger.model_construct(
            id=m.id or None,
            match=spec_from_proto(m.match),
            match_related=_related_from_proto(m.match_related),
            metric=MetricTriggerQuery.model_construct(
                name=_reverse(_METRICS)[m.metric.name],
                threshold=m.metric.threshold,
                operator=_reverse(_OPERATORS)[m.metric.operator],
                range=duration_from_proto(m.metric.range),
                firing_for=duration_from_proto(m.metric.firing_for),
            ),
        )
    raise ValueError(f"the server sent a trigger of unknown kind {kind!r}")


# --- actions ------------------------------------------------------------------------------

_SOURCES = {
    "selected": automation_pb2.TARGET_SOURCE_SELECTED,
    "inferred": automation_pb2.TARGET_SOURCE_INFERRED,
}
_STATES = {
    act.StateType.SCHEDULED: automation_pb2.STATE_TYPE_SCHEDULED,
    act.StateType.PENDING: automation_pb2.STATE_TYPE_PENDING,
    act.StateType.RUNNING: automation_pb2.STATE_TYPE_RUNNING,
    act.StateType.COMPLETED: automation_pb2.STATE_TYPE_COMPLETED,
    act.StateType.FAILED: automation_pb2.STATE_TYPE_FAILED,
    act.StateType.CANCELLED: automation_pb2.STATE_TYPE_CANCELLED,
    act.StateType.CRASHED: automation_pb2.STATE_TYPE_CRASHED,
    act.StateType.PAUSED: automation_pb2.STATE_TYPE_PAUSED,
    act.StateType.CANCELLING: automation_pb2.STATE_TYPE_CANCELLING,
}

# JSON `type` -> (oneof field, model class); the oneof field is the type in snake case.
_ACTIONS: dict[str, type[act.Action]] = {
    "do-nothing": act.DoNothing,
    "run-deployment": act.RunDeployment,
    "pause-deployment": act.PauseDeployment,
    "resume-deployment": act.ResumeDeployment,
    "cancel-flow-run": act.CancelFlowRun,
    "suspend-flow-run": act.SuspendFlowRun,
    "resume-flow-run": act.ResumeFlowRun,
    "change-flow-run-state": act.ChangeFlowRunState,
    "delete-flow-run": act.DeleteFlowRun,
    "pause-work-queue": act.PauseWorkQueue,
    "resume-work-queue": act.ResumeWorkQueue,
    "pause-work-pool": act.PauseWorkPool,
    "resume-work-pool": act.ResumeWorkPool,
    "pause-automation": act.PauseAutomation,
    "resume-automation": act.ResumeAutomation,
    "send-notification": act.SendNotification,
    "call-webhook": act.CallWebhook,
}
_TARGET_FIELDS = ("deployment_id", "work_queue_id", "work_pool_id", "automation_id")


def _oneof_name(action_type: str) -> str:
    return action_type.replace("-", "_")


def action_to_proto(action: act.Action) -> automation_pb2.Action:
    field = _oneof_name(action.type)
    message = automation_pb2.Action()
    case = getattr(message, field)
    case.SetInParent()
    source = getattr(action, "source", None)
    if source is not None:
        case.source = _SOURCES[source]
    for name in _TARGET_FIELDS:
        target = getattr(action, name, None)
        if target is not None:
            setattr(case, name, str(target))
    if isinstance(action, act.RunDeployment):
        if action.parameters is not None:
            case.parameters.CopyFrom(struct_to_proto(action.parameters))
        if action.job_variables is not None:
            case.job_variables.CopyFrom(struct_to_proto(action.job_variables))
        case.schedule_after.CopyFrom(duration_to_proto(action.schedule_after))
    elif isinstance(action, act.ChangeFlowRunState):
        case.state = _STATES[action.state]
        if action.name is not None:
            case.name = action.name
        if action.message is not None:
            case.message = action.message
        case.force = action.force
    elif isinstance(action, act.SendNotification):
        case.block_document_id = str(action.block_document_id)
        case.subject = action.subject
        case.body = action.body
    elif isinstance(action, act.CallWebhook):
        case.block_document_id = str(action.block_document_id)
        case.payload = action.payload
    return message


def action_from_proto(message: automation_pb2.Action) -> act.ActionTypes:
    field = message.WhichOneof("kind")
    if field is None:
        raise ValueError("the server sent an action without a kind")
    action_type = field.replace("_", "-")
    cls = _ACTIONS[action_type]
    case = getattr(message, field)
    values: dict[str, Any] = {}
    if "source" in cls.model_fields:
        values["source"] = (
            "inferred" if case.source == automation_pb2.TARGET_SOURCE_INFERRED else "selected"
        )
    for name in _TARGET_FIELDS:
        if name in cls.model_fields:
            text = getattr(case, name)
            values[name] = UUID(text) if text else None
    if isinstance(case, automation_pb2.RunDeploymentAction):
        values["parameters"] = (
            struct_from_proto(case.parameters) if case.HasField("parameters") else None
        )
        values["job_variables"] = (
            struct_from_proto(case.job_variables) if case.HasField("job_variables") else None
        )
        values["schedule_after"] = duration_from_proto(case.schedule_after)
    elif isinstance(case, automation_pb2.ChangeFlowRunStateAction):
        values["state"] = _reverse(_STATES)[case.state]
        values["name"] = case.name if case.HasField("name") else None
        values["message"] = case.message if case.HasField("message") else None
        values["force"] = case.force
    elif isinstance(case, automation_pb2.SendNotificationAction):
        values.update(
            block_document_id=UUID(case.block_document_id), subject=case.subject, body=case.body
        )
    elif isinstance(case, automation_pb2.CallWebhookAction):
        values.update(block_document_id=UUID(case.block_document_id), payload=case.payload)
    return cast(act.ActionTypes, cls.model_construct(**values))


# --- automations --------------------------------------------------------------------------


def automation_to_proto(automation: AutomationCore) -> automation_pb2.Automation:
    message = automation_pb2.Automation(
        name=automation.name,
        description=automation.description,
        enabled=automation.enabled,
        tags=automation.tags,
        trigger=trigger_to_proto(automation.trigger),
        actions=[action_to_proto(a) for a in automation.actions],
        actions_on_trigger=[action_to_proto(a) for a in automation.actions_on_trigger],
        actions_on_resolve=[action_to_proto(a) for a in automation.actions_on_resolve],
        owner_resource=automation.owner_resource or "",
    )
    if isinstance(automation, Automation) and automation.id is not None:
        message.id = str(automation.id)
    return message


def automation_from_proto(message: automation_pb2.Automation) -> Automation:
    return Automation.model_construct(
        id=UUID(message.id) if message.id else None,
        name=message.name,
        description=message.description,
        enabled=message.enabled,
        tags=list(message.tags),
        trigger=trigger_from_proto(message.trigger),
        actions=[action_from_proto(a) for a in message.actions],
        actions_on_trigger=[action_from_proto(a) for a in message.actions_on_trigger],
        actions_on_resolve=[action_from_proto(a) for a in message.actions_on_resolve],
        owner_resource=message.owner_resource or None,
        created=(
            timestamp_from_proto(message.create_time) if message.HasField("create_time") else None
        ),
        updated=(
            timestamp_from_proto(message.update_time) if message.HasField("update_time") else None
        ),
    )


# --- blocks -------------------------------------------------------------------------------

_SMTP = {
    SMTPType.SSL: block_pb2.SMTP_SECURITY_SSL,
    SMTPType.STARTTLS: block_pb2.SMTP_SECURITY_STARTTLS,
    SMTPType.INSECURE: block_pb2.SMTP_SECURITY_INSECURE,
}


def _secret(value: SecretStr) -> str:
    return value.get_secret_value()


def block_to_proto(block: Block, name: str, block_id: str = "") -> block_pb2.Block:
    message = block_pb2.Block(id=block_id, name=name)
    if isinstance(block, Webhook):
        message.webhook.CopyFrom(
            block_pb2.WebhookBlock(
                url=_secret(block.url),
                method=block.method,
                headers=block.headers,
                allow_private_urls=block.allow_private_urls,
                verify=block.verify,
            )
        )
    elif isinstance(block, SlackWebhook):
        message.slack_webhook.CopyFrom(
            block_pb2.SlackWebhookBlock(
                url=_secret(block.url), allow_private_urls=block.allow_private_urls
            )
        )
    elif isinstance(block, MicrosoftTeamsWebhook):
        message.microsoft_teams_webhook.CopyFrom(
            block_pb2.MicrosoftTeamsWebhookBlock(
                url=_secret(block.url), allow_private_urls=block.allow_private_urls
            )
        )
    elif isinstance(block, EmailServerCredentials):
        message.email.CopyFrom(
            block_pb2.EmailBlock(
                smtp_server=block.smtp_server,
                smtp_port=block.smtp_port or 0,
                smtp_security=_SMTP[block.smtp_type],
                username=block.username or "",
                password=_secret(block.password),
                from_email=block.from_email,
                to_emails=block.to_emails,
                allow_private_urls=block.allow_private_urls,
            )
        )
    elif isinstance(block, CustomWebhookNotificationBlock):
        custom = block_pb2.CustomWebhookBlock(
            url=block.url,
            method=block.method,
            headers=block.headers,
            secrets=block.secrets,
            allow_private_urls=block.allow_private_urls,
        )
        if block.json_data is not None:
            custom.json_data.CopyFrom(struct_to_proto(block.json_data))
        message.custom_webhook.CopyFrom(custom)
    elif isinstance(block, AppriseNotification):
        message.apprise.CopyFrom(
            block_pb2.AppriseBlock(
                url=_secret(block.url), allow_private_urls=block.allow_private_urls
            )
        )
    else:
        raise TypeError(f"{type(block).__name__} is not a block this client can save")
    return message


def block_from_proto(message: block_pb2.Block) -> Block:
    kind = message.WhichOneof("config")
    if kind is None or kind not in BLOCK_CLASSES:
        raise ValueError(f"the server sent a block of unknown kind {kind!r}")
    config = getattr(message, kind)
    values: dict[str, Any]
    if kind == "email":
        values = {
            "smtp_server": config.smtp_server,
            "smtp_port": config.smtp_port or None,
            "smtp_type": _reverse(_SMTP).get(config.smtp_security, SMTPType.SSL),
            "username": config.username or None,
            "password": config.password,
            "from_email": config.from_email,
            "to_emails": list(config.to_emails),
            "allow_private_urls": config.allow_private_urls,
        }
    else:
        values = MessageToDict(
            config, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        if kind in ("webhook", "custom_webhook") and not values.get("method"):
            values["method"] = "POST"
        if kind == "webhook":
            # `optional bool verify`: unset means verify TLS.
            values["verify"] = config.verify if config.HasField("verify") else True
        if kind == "custom_webhook":
            values["json_data"] = (
                struct_from_proto(config.json_data) if config.HasField("json_data") else None
            )
    block = BLOCK_CLASSES[kind].model_validate(values)
    block._bind(UUID(message.id), message.name)
    return block


# --- action runs --------------------------------------------------------------------------


_RUN_STATES = {
    action_run_pb2.ACTION_RUN_STATE_PENDING: "pending",
    action_run_pb2.ACTION_RUN_STATE_RUNNING: "running",
    action_run_pb2.ACTION_RUN_STATE_RETRYING: "retrying",
    action_run_pb2.ACTION_RUN_STATE_SUCCEEDED: "succeeded",
    action_run_pb2.ACTION_RUN_STATE_FAILED: "failed",
    action_run_pb2.ACTION_RUN_STATE_SKIPPED: "skipped",
}


def action_run_state_to_proto(state: str) -> action_run_pb2.ActionRunState.ValueType:
    for value, name in _RUN_STATES.items():
        if name == state.lower():
            return value
    raise ValueError(f"unknown action run state {state!r}; one of {sorted(_RUN_STATES.values())}")


def _optional_time(message: Any, field: str) -> datetime | None:
    return timestamp_from_proto(getattr(message, field)) if message.HasField(field) else None


def action_run_from_proto(message: action_run_pb2.ActionRun) -> ActionRun:
    return ActionRun(
        id=message.id,
        automation_id=message.automation_id,
        automation_name=message.automation_name,
        action_index=message.action_index,
        action_type=message.action_type,
        state=_RUN_STATES.get(message.state, "unspecified"),
        firing_id=message.firing_id,
        triggering_event_id=message.triggering_event_id,
        attempts=[
            ActionAttempt(
                number=a.number,
                started=_optional_time(a, "start_time"),
                duration_seconds=duration_from_proto(a.duration).total_seconds(),
                error=a.error,
                transient=a.transient,
            )
            for a in message.attempts
        ],
        created=_optional_time(message, "create_time"),
        updated=_optional_time(message, "update_time"),
        finished=_optional_time(message, "finish_time"),
        reason=message.reason,
        result=struct_from_proto(message.result),
        rendered_request=struct_from_proto(message.rendered_request),
    )


# --- incoming webhooks --------------------------------------------------------------------

_VERIFICATIONS = {
    "none": webhook_pb2.WEBHOOK_VERIFICATION_NONE,
    "shared_secret": webhook_pb2.WEBHOOK_VERIFICATION_SHARED_SECRET,
    "hmac_sha256": webhook_pb2.WEBHOOK_VERIFICATION_HMAC_SHA256,
}


def webhook_to_proto(webhook: IncomingWebhook) -> webhook_pb2.Webhook:
    return webhook_pb2.Webhook(
        id=webhook.id or "",
        name=webhook.name,
        description=webhook.description,
        slug=webhook.slug,
        template=webhook.template,
        enabled=webhook.enabled,
        verification=_VERIFICATIONS[webhook.verification],
        signature_header=webhook.signature_header,
        secret=webhook.secret.get_secret_value(),
    )


def webhook_from_proto(message: webhook_pb2.Webhook) -> IncomingWebhook:
    verification = _reverse(_VERIFICATIONS).get(message.verification, "none")
    return IncomingWebhook(
        id=message.id or None,
        name=message.name,
        description=message.description,
        slug=message.slug,
        template=message.template,
        enabled=message.enabled,
        verification=verification,
        signature_header=message.signature_header,
        secret=SecretStr(message.secret),
        created=_optional_time(message, "create_time"),
        updated=_optional_time(message, "update_time"),
    )
