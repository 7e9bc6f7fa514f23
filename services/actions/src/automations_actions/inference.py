"""Which object an action acts on: the selected id, or one inferred from the triggering event.

Follows the reference §6.2 exactly, with DESIGN §4.5: the event is always the ORIGINAL
triggering event (the invocation carries it), for `actions`, `actions_on_trigger` and
`actions_on_resolve` alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from automations_actions.kinds.base import ActionFailed

FLOW_RUN_PREFIX = "prefect.flow-run."


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def involved_resources(event: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The event's primary resource, then its related resources, in order."""
    resource = event.get("resource")
    if isinstance(resource, Mapping):
        yield resource
    related = event.get("related") or []
    if isinstance(related, list):
        for item in related:
            if isinstance(item, Mapping):
                yield item


def resource_kind(resource_id: str) -> str:
    """`prefect.flow-run.<id>` -> `prefect.flow-run` (everything before the last dot)."""
    return resource_id.rsplit(".", 1)[0] if "." in resource_id else ""


def id_of_first_resource_of_kind(event: Mapping[str, Any], kind: str) -> str | None:
    """The UUID of the first involved resource of `kind`.

    Like Prefect, the search stops at the first resource of that kind: if its suffix is not
    a UUID, nothing is inferred even when a later resource would have had one.
    """
    for resource in involved_resources(event):
        resource_id = str(resource.get("prefect.resource.id") or "")
        if resource_kind(resource_id) == kind:
            return _uuid_or_none(resource_id.rsplit(".", 1)[1])
    return None


def infer_object_id(event: Mapping[str, Any] | None, kind: str, what: str) -> str:
    """Deployment, work pool, work queue or automation id from the triggering event.

    `kind` is the resource kind (`prefect.deployment`), `what` the words used in the reason
    (`deployment`, `work pool`).
    """
    if event is None:
        raise ActionFailed(f"No event to infer the {what}")
    found = id_of_first_resource_of_kind(event, kind)
    if found is None:
        raise ActionFailed(f"No {what} could be inferred")
    return found


def target_id(
    action: Mapping[str, Any],
    event: Mapping[str, Any] | None,
    *,
    id_field: str,
    kind: str,
    what: str,
) -> str:
    """The id an action with `source` selected/inferred acts on (reference §6.1/§6.2)."""
    source = action.get("source") or "selected"
    if source == "inferred":
        if action.get(id_field):
            raise ActionFailed(f"{id_field} is not allowed when source is inferred")
        return infer_object_id(event, kind, what)
    if source != "selected":
        raise ActionFailed(f"source must be 'selected' or 'inferred', not {source!r}")
    selected = action.get(id_field)
    if not selected:
        raise ActionFailed(f"{id_field} is required")
    checked = _uuid_or_none(str(selected))
    if checked is None:
        raise ActionFailed(f"{id_field} {selected!r} is not a UUID")
    return checked


def infer_flow_run_id(
    event: Mapping[str, Any] | None, triggering_labels: Mapping[str, Any] | None
) -> str:
    """The flow run a flow-run action acts on (always inferred).

    `triggering_labels` first, so proactive firings without an event but bucketed by
    `prefect.resource.id` still find their run; then the event's involved resources.
    """
    labelled = str((triggering_labels or {}).get("prefect.resource.id") or "")
    if labelled.startswith(FLOW_RUN_PREFIX):
        found = _uuid_or_none(labelled[len(FLOW_RUN_PREFIX) :])
        if found is not None:
            return found
    if event is not None:
        found = id_of_first_resource_of_kind(event, "prefect.flow-run")
        if found is not None:
            return found
    raise ActionFailed("No flow run could be inferred")
