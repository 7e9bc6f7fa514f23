"""AutomationService's logic: validate, assign ids, store, and announce every change."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from automations_common.errors import InvalidArgument, NotFound
from automations_common.ids import derived_id, new_id, parse_uuid
from automations_common.paging import clamp_page_size, decode_page_token, encode_page_token
from automations_triggers.documents import (
    MUTABLE_FIELDS,
    AutomationDocument,
    JsonDict,
    ListFilter,
)
from automations_triggers.validation import validate_automation

DEFAULT_PAGE_SIZE = 200
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class LifecycleEvent:
    """`prefect.automation.created|updated|deleted` for one change (reference §6.6): the
    repository commits it to the outbox with the change itself, so it is never lost."""

    kind: str  # created, updated or deleted
    automation: AutomationDocument  # as it is after the change (before it, when deleted)
    occurred: datetime  # the time of the change

    @property
    def name(self) -> str:
        return f"prefect.automation.{self.kind}"

    @property
    def id(self) -> str:
        # Derived, so a message replayed from the outbox is the same event (and JetStream
        # drops the copy); every change has its own time, as updates are strictly ordered.
        return derived_id(self.automation.id, self.kind, self.occurred.isoformat())


class Repository(Protocol):
    """Where automations are kept (store.AutomationStore); every write commits its
    lifecycle event to the outbox in the same transaction."""

    async def insert(self, doc: AutomationDocument, event: LifecycleEvent) -> None: ...
    async def replace(self, doc: AutomationDocument, event: LifecycleEvent) -> bool: ...
    async def get(self, automation_id: str) -> AutomationDocument | None: ...
    async def delete(self, automation_id: str, event: LifecycleEvent) -> bool: ...
    async def list_page(
        self, where: ListFilter, page_size: int, after: dict[str, Any] | None
    ) -> tuple[list[AutomationDocument], dict[str, Any] | None]: ...
    async def count(self, enabled: bool | None = None) -> int: ...
    async def related_to(self, resource_id: str) -> list[AutomationDocument]: ...
    async def delete_owned(self, resource_id: str, created_before: datetime) -> list[str]: ...


class ChangeNotifier(Protocol):
    """Tells evaluators to reload an automation (`created`, `updated` or `deleted`)."""

    async def changed(self, automation_id: str, kind: str) -> None: ...


class LifecyclePublisher(Protocol):
    """Publishes a lifecycle event already committed to the outbox. Never raises: what
    it cannot publish now stays in the outbox and goes out later."""

    async def publish(self, event: LifecycleEvent) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def with_new_trigger_ids(trigger: JsonDict, make_id: Callable[[], str]) -> JsonDict:
    """A copy of the trigger tree with fresh ids, as Prefect does on every create and update
    (which also starts its trigger state afresh)."""
    copy = dict(trigger, id=make_id())
    if "triggers" in copy:
        copy["triggers"] = [with_new_trigger_ids(t, make_id) for t in copy["triggers"] or []]
    return copy


class Automations:
    """The use cases behind AutomationService, on domain documents."""

    def __init__(
        self,
        repository: Repository,
        notifier: ChangeNotifier,
        events: LifecyclePublisher,
        workspace: str = "default",
        clock: Callable[[], datetime] = _utc_now,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        self._repository = repository
        self._notifier = notifier
        self._events = events
        self._workspace = workspace
        self._clock = clock
        self._make_id = make_id

    def _prepare(self, doc: AutomationDocument, allow_match_all: bool) -> AutomationDocument:
        doc = validate_automation(doc, allow_match_all=allow_match_all)
        if doc.trigger is not None:
            doc.trigger = with_new_trigger_ids(doc.trigger, self._make_id)
        doc.workspace = self._workspace
        return doc

    async def create(
        self, doc: AutomationDocument, *, allow_match_all: bool = False, validate_only: bool = False
    ) -> AutomationDocument:
        doc = self._prepare(doc, allow_match_all)
        now = self._clock()
        doc = dataclasses.replace(doc, id=self._make_id(), created=now, updated=now)
        if validate_only:
            return doc
        event = LifecycleEvent("created", doc, now)
        await self._repository.insert(doc, event)
        await self._announce(event)
        return doc

    async def _announce(self, event: LifecycleEvent) -> None:
        """After the commit: the reload hint to evaluators, then the lifecycle event."""
        await self._notifier.changed(event.automation.id, event.kind)
        await self._events.publish(event)

    async def get(self, automation_id: str, field: str = "id") -> AutomationDocument:
        key = parse_uuid(automation_id, field)
        doc = await self._repository.get(key)
        if doc is None:
            raise NotFound("automation", key)
        return doc

    async def list_page(
        self, where: ListFilter, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[AutomationDocument], str]:
        size = clamp_page_size(page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        query = {"workspace": self._workspace, **dataclasses.asdict(where)}
        after = decode_page_token(page_token, query)
        docs, position = await self._repository.list_page(where, size, after)
        return docs, encode_page_token(query, position) if position is not None else ""

    async def update(
        self,
        doc: AutomationDocument,
        update_mask: list[str] | None = None,
        *,
        allow_match_all: bool = False,
    ) -> AutomationDocument:
        current = await self.get(doc.id, "automation.id")
        paths = list(update_mask or MUTABLE_FIELDS)
        unknown = [p for p in paths if p not in MUTABLE_FIELDS]
        if unknown:
            raise InvalidArgument.for_field(
                "update_mask",
                f"cannot update {', '.join(unknown)}; updatable: {', '.join(MUTABLE_FIELDS)}",
            )
        merged = dataclasses.replace(current, **{p: getattr(doc, p) for p in paths})
        # Match-all was judged when the trigger was saved; only a new trigger is judged again.
        merged = self._prepare(merged, allow_match_all or "trigger" not in paths)
        if "trigger" not in paths and current.trigger is not None:
            # The trigger did not change: keep its ids, and with them its state.
            merged.trigger = current.trigger
        return await self._replace(current, merged)

    async def _replace(
        self, current: AutomationDocument, changed: AutomationDocument
    ) -> AutomationDocument:
        changed.updated = self._next_update_time(current)
        event = LifecycleEvent("updated", changed, changed.updated)
        if not await self._repository.replace(changed, event):
            raise NotFound("automation", current.id)
        await self._announce(event)
        return changed

    def _next_update_time(self, current: AutomationDocument) -> datetime:
        # Strictly later than the last update, so the reconcile signature always moves.
        now = self._clock()
        if current.updated is None:
            return now
        return max(now, current.updated + timedelta(microseconds=1))

    async def set_enabled(self, automation_id: str, enabled: bool) -> AutomationDocument:
        """Pause or resume; resuming re-validates (a looping automation stays paused)."""
        current = await self.get(automation_id)
        changed = dataclasses.replace(current, enabled=enabled)
        if enabled:
            # Match-all was accepted (or refused) when the trigger was saved; the loop
            # rules depend on `enabled`, so they are checked again here.
            validate_automation(changed, allow_match_all=True)
        # An update like any other, as Prefect's PATCH is (reference §8.1): `updated` event.
        return await self._replace(current, changed)

    async def delete(self, automation_id: str) -> None:
        # Read first: the deleted event carries the automation (as Prefect's does).
        current = await self.get(automation_id)
        event = LifecycleEvent("deleted", current, self._clock())
        if not await self._repository.delete(current.id, event):
            raise NotFound("automation", current.id)
        await self._announce(event)

    async def count(self, enabled: bool | None = None) -> int:
        return await self._repository.count(enabled)

    async def related(self, resource_id: str) -> list[AutomationDocument]:
        if not resource_id:
            raise InvalidArgument.for_field("resource_id", "is required")
        return await self._repository.related_to(resource_id)

    async def delete_owned(self, resource_id: str) -> int:
        if not resource_id:
            raise InvalidArgument.for_field("resource_id", "is required")
        deleted = await self._repository.delete_owned(resource_id, self._clock())
        # Reload hints only: Prefect emits no lifecycle events for this bulk delete (§6.6).
        for automation_id in deleted:
            await self._notifier.changed(automation_id, "deleted")
        return len(deleted)
