"""`Automation`: the seed SDK's model with create/read/update/delete/enable/disable."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self
from uuid import UUID

from pydantic import Field

from automations._actions import ActionTypes
from automations._models import Model
from automations._triggers import TriggerTypes

if TYPE_CHECKING:
    from automations._client import AutomationsClient


class AutomationCore(Model):
    """What defines an automation: a trigger and the actions to run when it fires."""

    name: str
    description: str = ""
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    trigger: TriggerTypes
    actions: list[ActionTypes]
    actions_on_trigger: list[ActionTypes] = Field(default_factory=list)
    actions_on_resolve: list[ActionTypes] = Field(default_factory=list)
    owner_resource: str | None = None


class Automation(AutomationCore):
    """An automation as stored by the server. `create()` and friends block (also inside a
    running event loop, which they stall); in async code use the `a*` twins.

    `client=` picks a client; by default one configured from the environment is used.
    """

    _omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {"id", "owner_resource", "created", "updated"}
    )

    id: UUID | None = None
    created: datetime | None = None
    updated: datetime | None = None

    def _require_id(self) -> str:
        if self.id is None:
            raise ValueError("This automation has no id: create() or read() it first")
        return str(self.id)

    async def acreate(self, client: AutomationsClient | None = None) -> Self:
        """Creates the automation and returns self with `id` set."""
        stored = await _client(client).create_automation(self)
        self.id, self.created, self.updated = stored.id, stored.created, stored.updated
        return self

    def create(self, client: AutomationsClient | None = None) -> Self:
        resolved = _client(client)
        return resolved.run_sync(self.acreate(resolved))

    async def aupdate(self, client: AutomationsClient | None = None) -> Self:
        """Replaces the stored automation with this one (its owner is kept)."""
        self._require_id()
        stored = await _client(client).update_automation(self)
        self.updated = stored.updated
        return self

    def update(self, client: AutomationsClient | None = None) -> Self:
        resolved = _client(client)
        return resolved.run_sync(self.aupdate(resolved))

    @classmethod
    async def aread(
        cls,
        id: UUID | str | None = None,
        name: str | None = None,
        client: AutomationsClient | None = None,
    ) -> Self:
        """By id, or by exact name (the most recently updated); ValueError if not found."""
        if id and name:
            raise ValueError("Only one of id or name can be provided")
        if not id and not name:
            raise ValueError("One of id or name must be provided")
        resolved = _client(client)
        if id:
            found = await resolved.find_automation(str(id))
            if found is None:
                raise ValueError(f"Automation with ID {str(id)!r} not found")
        else:
            assert name is not None
            found = await resolved.find_automation_by_name(name)
            if found is None:
                raise ValueError(f"Automation with name {name!r} not found")
        return cls.model_validate(found.model_dump())

    @classmethod
    def read(
        cls,
        id: UUID | str | None = None,
        name: str | None = None,
        client: AutomationsClient | None = None,
    ) -> Self:
        resolved = _client(client)
        return resolved.run_sync(cls.aread(id=id, name=name, client=resolved))

    @classmethod
    async def alist(
        cls,
        name: str | None = None,
        tags: builtins.list[str] | None = None,
        enabled: bool | None = None,
        client: AutomationsClient | None = None,
    ) -> builtins.list[Self]:
        """Every automation, by name, optionally filtered by exact name, tags (all) and state."""
        found = await _client(client).list_automations(
            names=[name] if name else None, tags=tags, enabled=enabled
        )
        return [cls.model_validate(a.model_dump()) for a in found]

    @classmethod
    def list(
        cls,
        name: str | None = None,
        tags: builtins.list[str] | None = None,
        enabled: bool | None = None,
        client: AutomationsClient | None = None,
    ) -> builtins.list[Self]:
        resolved = _client(client)
        return resolved.run_sync(cls.alist(name=name, tags=tags, enabled=enabled, client=resolved))

    async def adelete(self, client: AutomationsClient | None = None) -> bool:
        """Deletes it: True, or False when it was already gone."""
        return await _client(client).delete_automation(self._require_id())

    def delete(self, client: AutomationsClient | None = None) -> bool:
        resolved = _client(client)
        return resolved.run_sync(self.adelete(resolved))

    async def adisable(self, client: AutomationsClient | None = None) -> bool:
        """Stops evaluating it: True, or False when it does not exist."""
        done = await _client(client).pause_automation(self._require_id())
        if done:
            self.enabled = False
        return done

    def disable(self, client: AutomationsClient | None = None) -> bool:
        resolved = _client(client)
        return resolved.run_sync(self.adisable(resolved))

    async def aenable(self, client: AutomationsClient | None = None) -> bool:
        """Evaluates it again: True, or False when it does not exist."""
        done = await _client(client).resume_automation(self._require_id())
        if done:
            self.enabled = True
        return done

    def enable(self, client: AutomationsClient | None = None) -> bool:
        resolved = _client(client)
        return resolved.run_sync(self.aenable(resolved))

    def describe(self) -> dict[str, Any]:
        """A short summary for people (the CLI)."""
        return {
            "id": str(self.id) if self.id else "",
            "name": self.name,
            "enabled": self.enabled,
            "trigger": self.trigger.describe(),
            "actions": ", ".join(a.describe() for a in self.actions),
        }


def _client(client: AutomationsClient | None) -> AutomationsClient:
    # _client imports this module to build results, so it is imported when first needed.
    from automations._client import resolve_client

    return resolve_client(client)
