"""What every action executor receives and returns, in plain Python.

The consumer converts a TriggeredAction (protobuf) into an ActionInvocation at the edge;
executors never see protobuf, NATS or the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class ActionInvocation:
    """One action of one firing, with everything needed to carry it out."""

    action_id: str
    action_index: int
    # The action's JSON `type`, for example `call-webhook`.
    action_type: str
    # The action in Prefect's JSON form.
    action: Mapping[str, Any]
    # The automation in Prefect's JSON form (id, name, description, trigger, actions, ...).
    automation: Mapping[str, Any]
    # id, trigger_id, trigger_states, triggered, triggering_labels, triggering_value.
    firing: Mapping[str, Any]
    # The original triggering event in Prefect's JSON form, or None (proactive, no event).
    triggering_event: Mapping[str, Any] | None
    triggered_time: datetime
    automation_triggered_event_id: str = ""


@dataclass
class ActionOutcome:
    """What a successful action did, for the run record and the `executed` event."""

    # Result details: status_code, response_body, flow_run_id, ...
    result: dict[str, Any] = field(default_factory=dict)
    # Resources acted upon, each a label dict with `prefect.resource.id` and
    # `prefect.resource.role` (`target`, `flow-run`, `block`, `block-type`).
    resulting_related: list[dict[str, str]] = field(default_factory=list)
    # What was sent (method, url with secrets masked, headers, body), if anything.
    rendered_request: dict[str, Any] | None = None


class ActionFailed(Exception):
    """The action cannot succeed as asked (4xx, missing target, template error): do not retry."""

    transient = False

    def __init__(
        self,
        reason: str,
        result: Mapping[str, Any] | None = None,
        *,
        rendered_request: Mapping[str, Any] | None = None,
        resulting_related: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.result = dict(result or {})
        # What was sent and what was acted upon, when the failure came after sending.
        self.rendered_request = dict(rendered_request) if rendered_request is not None else None
        self.resulting_related = list(resulting_related or [])


class TransientFailure(ActionFailed):
    """Might succeed later (network error, 5xx, 429): retry with backoff, bounded."""

    transient = True


Executor = Callable[[ActionInvocation], Awaitable[ActionOutcome]]


class ObjectLoader(Protocol):
    """Reads orchestration objects for templates (`flow_run`, `deployment`, ...).

    `kind` is the Prefect resource kind without the prefix: `flow-run`, `flow`,
    `deployment`, `work-pool`, `work-queue`, `task-run`. Returns None when absent.
    """

    async def load(self, kind: str, object_id: str) -> dict[str, Any] | None: ...


class TemplateRenderer(Protocol):
    """Renders templates against one invocation's context (built once, objects on demand).

    Raises TemplateProblem for a template that cannot be rendered.
    """

    async def render_many(
        self, invocation: ActionInvocation, sources: Sequence[str]
    ) -> list[str]: ...
