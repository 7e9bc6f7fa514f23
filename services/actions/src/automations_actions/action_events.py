"""The `prefect.automation.action.*` events, built as Prefect JSON (reference §6.6).

Event ids are derived from the action id, so a replayed attempt re-emits the same ids
and JetStream's duplicate window and the event store's ON CONFLICT drop the copies.
A finished run's events are built from its ledger row alone, so they can be published
again, as often as needed, without acting again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from automations_actions.kinds.base import ActionInvocation
from automations_actions.runs import ActionRun, RunState
from automations_common.ids import derived_id

# A triggered event follows the triggering event only when they are this close (Prefect 3.6.2).
FOLLOWS_HORIZON = timedelta(minutes=5)


@dataclass(frozen=True)
class OutgoingEvent:
    workspace: str
    event: dict[str, Any]


def automation_resource(invocation: ActionInvocation) -> dict[str, str]:
    automation = invocation.automation
    trigger = automation.get("trigger") or {}
    labels = {
        "prefect.resource.id": f"prefect.automation.{automation.get('id', '')}",
        "prefect.resource.name": str(automation.get("name", "")),
    }
    trigger_type = str(trigger.get("type") or "")
    if trigger_type:
        labels["prefect.trigger-type"] = trigger_type
    if trigger_type == "event" and trigger.get("posture"):
        labels["prefect.posture"] = str(trigger["posture"])
    return labels


def _context_related(invocation: ActionInvocation) -> list[dict[str, str]]:
    related = []
    if invocation.automation_triggered_event_id:
        related.append(
            {
                "prefect.resource.id": f"prefect.event.{invocation.automation_triggered_event_id}",
                "prefect.resource.role": "automation-triggered-event",
            }
        )
    event = invocation.triggering_event
    if event is not None and event.get("id"):
        related.append(
            {
                "prefect.resource.id": f"prefect.event.{event['id']}",
                "prefect.resource.role": "triggering-event",
            }
        )
    return related


def _base_payload(invocation: ActionInvocation) -> dict[str, Any]:
    return {
        "action_index": invocation.action_index,
        "action_type": invocation.action_type,
        "invocation": invocation.action_id,
    }


def triggered_event_id(invocation: ActionInvocation) -> str:
    return derived_id(invocation.action_id, "prefect.automation.action.triggered")


def triggered_event(
    invocation: ActionInvocation, workspace: str, event_id: str = ""
) -> OutgoingEvent:
    """`action.triggered`; `event_id` is triggered_event_id(invocation) if known already."""
    follows = None
    event = invocation.triggering_event
    if event is not None and event.get("id") and event.get("occurred"):
        occurred = datetime.fromisoformat(str(event["occurred"]))
        if abs(invocation.triggered_time - occurred) <= FOLLOWS_HORIZON:
            follows = str(event["id"])
    return OutgoingEvent(
        workspace,
        {
            "id": event_id or triggered_event_id(invocation),
            "occurred": invocation.triggered_time.isoformat(),
            "event": "prefect.automation.action.triggered",
            "resource": automation_resource(invocation),
            "related": _context_related(invocation),
            "payload": _base_payload(invocation),
            "follows": follows,
        },
    )


def outcome_event(
    invocation: ActionInvocation,
    workspace: str,
    *,
    succeeded: bool,
    occurred: datetime,
    result: dict[str, Any],
    resulting_related: list[dict[str, str]],
    reason: str = "",
    triggered_id: str = "",
) -> OutgoingEvent:
    """`action.executed` or `action.failed`, with the result details in the payload.

    It follows the `action.triggered` event, whose id is `triggered_id` if known already.
    """
    name = "prefect.automation.action." + ("executed" if succeeded else "failed")
    payload = {**_base_payload(invocation), **result}
    if not succeeded:
        payload["reason"] = reason
    return OutgoingEvent(
        workspace,
        {
            "id": derived_id(invocation.action_id, name),
            "occurred": occurred.isoformat(),
            "event": name,
            "resource": automation_resource(invocation),
            "related": [*resulting_related, *_context_related(invocation)],
            "payload": payload,
            "follows": triggered_id or triggered_event_id(invocation),
        },
    )


def finished_run_events(invocation: ActionInvocation, run: ActionRun) -> list[OutgoingEvent]:
    """`action.triggered`, then the `action.executed` or `.failed` that follows it.

    Both go out together every time: the triggered event of the first attempt may never
    have been published (a crash, NATS away), and an outcome must not follow a missing one.
    """
    triggered = triggered_event(invocation, run.workspace)
    outcome = outcome_event(
        invocation,
        run.workspace,
        succeeded=run.state == RunState.SUCCEEDED,
        occurred=run.finished or run.updated,
        result=run.result,
        resulting_related=run.resulting_related,
        reason=run.reason,
        triggered_id=str(triggered.event["id"]),
    )
    return [triggered, outcome]
