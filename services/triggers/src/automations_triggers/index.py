"""Finds the event triggers interested in an event without scanning every trigger.

Each trigger is filed under every pattern of `expect ∪ after` (or the catch-all when `expect`
is empty), by kind: exact names in a dict, trailing-`*` prefixes in a dict per prefix length,
other globs under their literal head (the text before the first glob character), so an
event checks only the globs whose head its name starts with. Inside each pattern, triggers
whose `match` pins exact `prefect.resource.id` values are filed under those values, the rest
under None.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from automations_triggers.matching import (
    GLOB_CHARACTERS,
    exact_resource_ids,
    is_glob,
    name_keys,
    name_pattern_matches,
)
from automations_triggers.model import Event, EventTrigger

TriggerRef = tuple[str, str]  # (automation_id, trigger_id)
# resource id (or None for "any") -> triggers
Group = dict[str | None, set[TriggerRef]]


class TriggerIndex:
    """Event-name and resource-id index over event triggers; add and remove incrementally."""

    __slots__ = (
        "_catch_all_table",
        "_exact",
        "_glob_head_lengths",
        "_globs",
        "_prefix_lengths",
        "_prefixes",
        "_triggers",
    )

    def __init__(self) -> None:
        self._exact: dict[str, Group] = {}
        self._prefixes: dict[str, Group] = {}
        self._prefix_lengths: list[int] = []
        # literal head -> glob pattern -> group
        self._globs: dict[str, dict[str, Group]] = {}
        self._glob_head_lengths: list[int] = []
        # A one-entry table so the catch-all is filed like any other pattern.
        self._catch_all_table: dict[str, Group] = {"": {}}
        self._triggers: dict[TriggerRef, EventTrigger] = {}

    def __len__(self) -> int:
        return len(self._triggers)

    def add(self, automation_id: str, trigger: EventTrigger) -> None:
        ref = (automation_id, trigger.id)
        self.remove(automation_id, trigger.id)
        self._triggers[ref] = trigger
        for table, key, resource_id in self._slots(trigger, create=True):
            group = table.get(key)
            if group is None:
                group = table[key] = {}
                if table is self._prefixes and len(key) not in self._prefix_lengths:
                    bisect.insort(self._prefix_lengths, len(key))
            group.setdefault(resource_id, set()).add(ref)

    def remove(self, automation_id: str, trigger_id: str) -> None:
        ref = (automation_id, trigger_id)
        trigger = self._triggers.pop(ref, None)
        if trigger is None:
            return
        for table, key, resource_id in self._slots(trigger):
            group = table.get(key)
            refs = group.get(resource_id) if group is not None else None
            if group is None or refs is None:
                continue
            refs.discard(ref)
            if not refs:
                del group[resource_id]
            if not group and table is not self._catch_all_table:
                del table[key]
                if table is self._prefixes:
                    self._prefix_lengths = sorted({len(k) for k in self._prefixes})
                elif not table and is_glob(key):
                    self._drop_glob_table(_literal_head(key))

    def trigger(self, ref: TriggerRef) -> EventTrigger:
        return self._triggers[ref]

    def all(self) -> Iterable[tuple[TriggerRef, EventTrigger]]:
        return self._triggers.items()

    def candidates(self, event: Event) -> set[TriggerRef]:
        """Triggers whose event-name stage passes and whose pinned resource id (if any) holds."""
        name = event.event
        if not name:
            return set()
        groups: list[Group] = []
        group = self._exact.get(name)
        if group:
            groups.append(group)
        if self._prefixes:
            size = len(name)
            for length in self._prefix_lengths:
                if length >= size:
                    break
                group = self._prefixes.get(name[:length])
                if group:
                    groups.append(group)
        if self._globs:
            size = len(name)
            for length in self._glob_head_lengths:
                if length > size:
                    break
                globs = self._globs.get(name[:length])
                if globs:
                    for pattern, group in globs.items():
                        if name_pattern_matches(pattern, name):
                            groups.append(group)
        group = self._catch_all_table[""]
        if group:
            groups.append(group)
        found: set[TriggerRef] = set()
        if not groups:
            return found
        resource_id = event.resource.get("prefect.resource.id")
        for group in groups:
            refs = group.get(None)
            if refs:
                found.update(refs)
            if resource_id is not None:
                refs = group.get(resource_id)
                if refs:
                    found.update(refs)
        return found

    def _slots(
        self, trigger: EventTrigger, create: bool = False
    ) -> list[tuple[dict[str, Group], str, str | None]]:
        pinned = exact_resource_ids(trigger.match)
        resource_ids: Iterable[str | None] = pinned if pinned is not None else (None,)
        places: list[tuple[dict[str, Group], str]] = []
        if not trigger.expect:
            places.append((self._catch_all_table, ""))
        else:
            places.extend(self._table_for(p, create) for p in sorted(name_keys(trigger)))
        return [(t, k, r) for t, k in places for r in resource_ids]

    def _table_for(self, pattern: str, create: bool) -> tuple[dict[str, Group], str]:
        if not is_glob(pattern):
            return self._exact, pattern
        head = pattern[:-1]
        if pattern.endswith("*") and head and not is_glob(head):
            return self._prefixes, head
        return self._glob_table(_literal_head(pattern), create), pattern

    def _glob_table(self, head: str, create: bool) -> dict[str, Group]:
        table = self._globs.get(head)
        if table is None:
            table = {}
            if create:
                self._globs[head] = table
                if len(head) not in self._glob_head_lengths:
                    bisect.insort(self._glob_head_lengths, len(head))
        return table

    def _drop_glob_table(self, head: str) -> None:
        if self._globs.pop(head, None) is not None:
            self._glob_head_lengths = sorted({len(h) for h in self._globs})


def _literal_head(pattern: str) -> str:
    """The text before the first glob character: every name the glob matches starts so."""
    for position, char in enumerate(pattern):
        if char in GLOB_CHARACTERS:
            return pattern[:position]
    return pattern
