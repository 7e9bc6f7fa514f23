"""The automation as the service's domain code sees it: Prefect-shaped JSON in a dataclass.

Triggers and actions are kept exactly in the JSON form Prefect uses (`"type": "event"`,
`"within": 10.0`, `"type": "call-webhook"`, ...). That is the form stored in the
database, validated by validation.py and read by the evaluators, so none of them needs
the generated protobuf code; convert.py is the one place that maps it to and from protos.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JsonDict = dict[str, Any]

# The mutable fields of an automation, in the order of the proto (update masks name these).
MUTABLE_FIELDS = (
    "name",
    "description",
    "enabled",
    "tags",
    "trigger",
    "actions",
    "actions_on_trigger",
    "actions_on_resolve",
)
ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")


ORDERS = ("name_asc", "name_desc", "created_desc", "updated_desc")


@dataclass(frozen=True)
class ListFilter:
    """Which automations a list returns (all filters AND'ed) and in what order."""

    names: tuple[str, ...] = ()  # any of these exact names
    tags: tuple[str, ...] = ()  # all of these tags
    enabled: bool | None = None
    order: str = "name_asc"


@dataclass
class AutomationDocument:
    """One automation; `id`, `created` and `updated` are empty until it is stored."""

    name: str
    trigger: JsonDict | None
    actions: list[JsonDict] = field(default_factory=list)
    actions_on_trigger: list[JsonDict] = field(default_factory=list)
    actions_on_resolve: list[JsonDict] = field(default_factory=list)
    description: str = ""
    enabled: bool = True
    tags: list[str] = field(default_factory=list)
    owner_resource: str | None = None
    id: str = ""
    workspace: str = "default"
    created: datetime | None = None
    updated: datetime | None = None

    def to_prefect_json(self) -> JsonDict:
        """The automation as Prefect's API returns it (reference §8.1): no owner, no
        workspace. It is the payload of the `prefect.automation.*` lifecycle events."""
        return {
            "id": self.id,
            "created": self.created.isoformat() if self.created else None,
            "updated": self.updated.isoformat() if self.updated else None,
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "tags": list(self.tags),
            "trigger": self.trigger,
            "actions": list(self.actions),
            "actions_on_trigger": list(self.actions_on_trigger),
            "actions_on_resolve": list(self.actions_on_resolve),
        }

    def all_actions(self) -> list[tuple[str, JsonDict]]:
        """(group, action) through actions + actions_on_trigger + actions_on_resolve;
        the position in this list is the action index of a TriggeredAction."""
        return [(group, action) for group in ACTION_LISTS for action in getattr(self, group)]


def iter_triggers(trigger: JsonDict, path: str = "trigger") -> list[tuple[str, JsonDict]]:
    """Every trigger of a tree with its field path (`trigger.compound.triggers[0].event`)."""
    kind = str(trigger.get("type", "event"))
    here = f"{path}.{kind}"
    found = [(here, trigger)]
    for index, child in enumerate(trigger.get("triggers") or []):
        found.extend(iter_triggers(child, f"{here}.triggers[{index}]"))
    return found


def related_resources(doc: AutomationDocument) -> dict[str, bool]:
    """Resource ids this automation relates to, each with whether that resource owns it.

    As in Prefect: the owner, plus every deployment a selected run-deployment starts.
    """
    related: dict[str, bool] = {}
    for _, action in doc.all_actions():
        deployment = action.get("deployment_id")
        selected = action.get("source") != "inferred"
        if action.get("type") == "run-deployment" and selected and deployment:
            related[f"prefect.deployment.{deployment}"] = False
    if doc.owner_resource:
        related[doc.owner_resource] = True
    return related
