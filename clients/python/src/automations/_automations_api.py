"""AutomationService calls: create, read, list, update, delete, pause, resume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from google.protobuf import field_mask_pb2

from automations import _convert
from automations._automation import Automation, AutomationCore
from automations._deployment_triggers import DeploymentTriggerTypes, owner_of
from automations._errors import NotFoundError
from automations._transport import Transport
from automations.v1 import automation_service_pb2

# Every field of an automation a user may change with update(); the owner stays.
UPDATE_PATHS = (
    "name",
    "description",
    "enabled",
    "tags",
    "trigger",
    "actions",
    "actions_on_trigger",
    "actions_on_resolve",
)


@dataclass(frozen=True)
class TemplateCheck:
    """Whether a Jinja template is valid, and if not, where and why."""

    valid: bool
    line: int = 0
    message: str = ""


class AutomationsApi(Transport):
    """AutomationService calls: create, read, list, update, delete, pause, resume."""

    async def create_automation(
        self,
        automation: AutomationCore,
        *,
        allow_match_all: bool = False,
        validate_only: bool = False,
    ) -> Automation:
        """Stores a new automation; the result carries its id. INVALID_ARGUMENT names fields."""
        message = _convert.automation_to_proto(automation)
        message.ClearField("id")
        response = await self._call(
            self._stubs().automations.CreateAutomation,
            automation_service_pb2.CreateAutomationRequest(
                automation=message, allow_match_all=allow_match_all, validate_only=validate_only
            ),
        )
        return _convert.automation_from_proto(response.automation)

    async def get_automation(self, id: str | UUID) -> Automation:
        """One automation; NotFoundError when there is none."""
        response = await self._call(
            self._stubs().automations.GetAutomation,
            automation_service_pb2.GetAutomationRequest(id=str(id)),
        )
        return _convert.automation_from_proto(response.automation)

    async def find_automation(self, id: str | UUID) -> Automation | None:
        """One automation, or None when there is none."""
        try:
            return await self.get_automation(id)
        except NotFoundError:
            return None

    async def find_automation_by_name(self, name: str) -> Automation | None:
        """The most recently updated automation with exactly this name, or None."""
        found = await self.list_automations(names=[name], order="updated_desc", limit=1)
        return found[0] if found else None

    async def list_automations(
        self,
        names: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        enabled: bool | None = None,
        order: Literal["name_asc", "name_desc", "created_desc", "updated_desc"] = "name_asc",
        limit: int | None = None,
    ) -> list[Automation]:
        """Automations, every page (or up to `limit`): any of `names`, all of `tags`."""
        order_value = automation_service_pb2.AutomationOrder.Value(
            f"AUTOMATION_ORDER_{order.upper()}"
        )
        found: list[Automation] = []
        token = ""
        while True:
            request = automation_service_pb2.ListAutomationsRequest(
                page_size=min(limit, 200) if limit else 200,
                page_token=token,
                names=names or [],
                tags=tags or [],
                order=order_value,
            )
            if enabled is not None:
                request.enabled = enabled
            response = await self._call(self._stubs().automations.ListAutomations, request)
            found.extend(_convert.automation_from_proto(a) for a in response.automations)
            token = response.next_page_token
            if not token or (limit is not None and len(found) >= limit):
                return found[:limit] if limit is not None else found

    async def update_automation(
        self, automation: Automation, *, allow_match_all: bool = False
    ) -> Automation:
        """Replaces everything but the owner of the automation with `automation.id`."""
        if automation.id is None:
            raise ValueError("update needs an automation with an id")
        response = await self._call(
            self._stubs().automations.UpdateAutomation,
            automation_service_pb2.UpdateAutomationRequest(
                automation=_convert.automation_to_proto(automation),
                update_mask=field_mask_pb2.FieldMask(paths=UPDATE_PATHS),
                allow_match_all=allow_match_all,
            ),
        )
        return _convert.automation_from_proto(response.automation)

    async def delete_automation(self, id: str | UUID) -> bool:
        """True, or False when it was already gone."""
        try:
            await self._call(
                self._stubs().automations.DeleteAutomation,
                automation_service_pb2.DeleteAutomationRequest(id=str(id)),
            )
        except NotFoundError:
            return False
        return True

    async def pause_automation(self, id: str | UUID) -> bool:
        """Disables it: True, or False when it does not exist."""
        try:
            await self._call(
                self._stubs().automations.PauseAutomation,
                automation_service_pb2.PauseAutomationRequest(id=str(id)),
            )
        except NotFoundError:
            return False
        return True

    async def resume_automation(self, id: str | UUID) -> bool:
        """Enables it: True, or False when it does not exist."""
        try:
            await self._call(
                self._stubs().automations.ResumeAutomation,
                automation_service_pb2.ResumeAutomationRequest(id=str(id)),
            )
        except NotFoundError:
            return False
        return True

    async def count_automations(self, enabled: bool | None = None) -> int:
        request = automation_service_pb2.CountAutomationsRequest()
        if enabled is not None:
            request.enabled = enabled
        response = await self._call(self._stubs().automations.CountAutomations, request)
        return response.count

    async def list_related_automations(self, resource_id: str) -> list[Automation]:
        """Automations related to a resource (for example a deployment), owned or not."""
        response = await self._call(
            self._stubs().automations.ListRelatedAutomations,
            automation_service_pb2.ListRelatedAutomationsRequest(resource_id=resource_id),
        )
        return [_convert.automation_from_proto(a) for a in response.automations]

    async def delete_owned_automations(self, resource_id: str) -> int:
        """Deletes the automations a resource owns; how many there were."""
        response = await self._call(
            self._stubs().automations.DeleteOwnedAutomations,
            automation_service_pb2.DeleteOwnedAutomationsRequest(resource_id=resource_id),
        )
        return response.deleted_count

    async def apply_deployment_triggers(
        self,
        deployment_id: UUID | str,
        triggers: Sequence[DeploymentTriggerTypes],
        deployment_name: str | None = None,
    ) -> list[Automation]:
        """Replaces the automations a deployment owns with one per trigger (Prefect's sync
        on deploy: delete the owned ones, even for an empty list, then create)."""
        await self.delete_owned_automations(owner_of(deployment_id))
        return [
            await self.create_automation(t.as_automation(deployment_id, n, deployment_name))
            for n, t in enumerate(triggers, start=1)
        ]

    async def validate_template(self, template: str) -> TemplateCheck:
        response = await self._call(
            self._stubs().automations.ValidateTemplate,
            automation_service_pb2.ValidateTemplateRequest(template=template),
        )
        return TemplateCheck(response.valid, response.line, response.message)
