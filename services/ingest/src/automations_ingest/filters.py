"""Prefect's EventFilter as plain data, with the in-memory test live tails use.

The SQL translation of the same filter lives in `store_queries.py`; both follow
prefect-semantics.md §10.2, except that `related` criteria also apply to live events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from automations_ingest.events import RESOURCE_ID, RESOURCE_ROLE, EventRecord
from automations_ingest.globbing import labels_match

MAX_TEXT_QUERY_CHARS = 200

LabelSpec = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class TextQuery:
    """Parsed free text: any of `include` (if given), all of `required`, none of `exclude`."""

    include: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.include or self.required or self.exclude)


def parse_text(query: str) -> TextQuery:
    """Split a search string into terms; `"quoted phrases"` stay whole, case is ignored."""
    include: list[str] = []
    required: list[str] = []
    exclude: list[str] = []
    for raw in _tokens(query):
        sign = raw[0] if raw[:1] in ("+", "-") else ""
        term = raw[1:] if sign else raw
        term = term.strip('"').lower()
        if not term:
            continue
        {"+": required, "-": exclude, "": include}[sign].append(term)
    return TextQuery(tuple(include), tuple(required), tuple(exclude))


def _tokens(query: str) -> list[str]:
    tokens: list[str] = []
    current: list[str] = []
    quoted = False
    for char in query:
        if char == '"':
            quoted = not quoted
            current.append(char)
        elif char.isspace() and not quoted:
            if current:
                tokens.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        tokens.append("".join(current))
    return tokens


@dataclass(frozen=True)
class ResourceCriteria:
    """Conditions on the primary resource."""

    ids: tuple[str, ...] = ()
    id_prefixes: tuple[str, ...] = ()
    labels: LabelSpec = field(default_factory=dict)
    distinct: bool = False


@dataclass(frozen=True)
class RelatedCriteria:
    """Conditions one related resource must meet together."""

    ids: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    in_roles: tuple[tuple[str, str], ...] = ()
    labels: LabelSpec = field(default_factory=dict)


@dataclass(frozen=True)
class AnyResourceCriteria:
    """Conditions one involved resource (primary or related) must meet together."""

    ids: tuple[str, ...] = ()
    id_prefixes: tuple[str, ...] = ()
    labels: LabelSpec = field(default_factory=dict)


@dataclass(frozen=True)
class EventFilter:
    """All set criteria must hold (AND)."""

    since: datetime | None = None
    until: datetime | None = None
    names: tuple[str, ...] = ()
    name_prefixes: tuple[str, ...] = ()
    exclude_names: tuple[str, ...] = ()
    exclude_prefixes: tuple[str, ...] = ()
    resource: ResourceCriteria | None = None
    related: tuple[RelatedCriteria, ...] = ()
    any_resource: tuple[AnyResourceCriteria, ...] = ()
    ids: tuple[str, ...] = ()
    text: TextQuery | None = None
    ascending: bool = False

    def with_bounds(self, since: datetime | None, until: datetime | None) -> EventFilter:
        return replace(self, since=since, until=until)

    def includes(self, event: EventRecord) -> bool:
        """Whether `event` passes the filter (used for live events, not stored ones)."""
        if self.since is not None and event.occurred < self.since:
            return False
        if self.until is not None and event.occurred > self.until:
            return False
        if not self._name_ok(event.event):
            return False
        if self.ids and event.id not in self.ids:
            return False
        if self.resource is not None and not _primary_ok(self.resource, event.resource):
            return False
        for related in self.related:
            if not any(_related_ok(related, r) for r in event.related):
                return False
        involved = [event.resource, *event.related]
        for criteria in self.any_resource:
            if not any(_any_ok(criteria, r) for r in involved):
                return False
        return self.text is None or text_matches(self.text, searchable_text(event))

    def _name_ok(self, name: str) -> bool:
        if self.names and name not in self.names:
            return False
        if self.name_prefixes and not any(name.startswith(p) for p in self.name_prefixes):
            return False
        if name in self.exclude_names:
            return False
        return not any(name.startswith(p) for p in self.exclude_prefixes)


def _id_ok(ids: Sequence[str], prefixes: Sequence[str], resource_id: str) -> bool:
    if ids and resource_id not in ids:
        return False
    return not prefixes or any(resource_id.startswith(p) for p in prefixes)


def _primary_ok(criteria: ResourceCriteria, labels: Mapping[str, str]) -> bool:
    return _id_ok(criteria.ids, criteria.id_prefixes, labels.get(RESOURCE_ID, "")) and (
        labels_match(labels, criteria.labels)
    )


def _related_ok(criteria: RelatedCriteria, labels: Mapping[str, str]) -> bool:
    resource_id = labels.get(RESOURCE_ID, "")
    role = labels.get(RESOURCE_ROLE, "")
    if criteria.ids and resource_id not in criteria.ids:
        return False
    if criteria.roles and role not in criteria.roles:
        return False
    if criteria.in_roles and (resource_id, role) not in criteria.in_roles:
        return False
    return labels_match(labels, criteria.labels)


def _any_ok(criteria: AnyResourceCriteria, labels: Mapping[str, str]) -> bool:
    return _id_ok(criteria.ids, criteria.id_prefixes, labels.get(RESOURCE_ID, "")) and (
        labels_match(labels, criteria.labels)
    )


def searchable_text(event: EventRecord) -> str:
    """What text search looks through: the name, every label value and the payload."""
    parts = [event.event, *event.resource.values()]
    for related in event.related:
        parts.extend(related.values())
    parts.append(json.dumps(event.payload, default=str))
    return "\n".join(parts).lower()


def text_matches(query: TextQuery, text: str) -> bool:
    if query.include and not any(term in text for term in query.include):
        return False
    if not all(term in text for term in query.required):
        return False
    return not any(term in text for term in query.exclude)
