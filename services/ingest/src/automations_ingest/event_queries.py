"""Reads of the event store: Prefect's EventFilter translated to SQL, pages and counts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    Text,
    and_,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from automations_ingest.counting import Bins
from automations_ingest.events import EventRecord
from automations_ingest.filters import (
    AnyResourceCriteria,
    EventFilter,
    LabelSpec,
    RelatedCriteria,
    TextQuery,
)
from automations_ingest.globbing import LIKE_ESCAPE, glob_to_like, prefix_to_like, split_patterns
from automations_ingest.store import record_from_row
from automations_ingest.tables import event_resource_table, event_table

MAX_GROUPS = 1000

E = event_table.c


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: the last event's `occurred` and id."""

    occurred: datetime
    id: str


@dataclass(frozen=True)
class GroupCount:
    """One row of a count by event name or by resource."""

    value: str
    label: str
    count: int
    first: datetime
    last: datetime


def _like_prefix(column: Any, prefix: str) -> ColumnElement[bool]:
    return column.like(prefix_to_like(prefix), escape=LIKE_ESCAPE)  # type: ignore[no-any-return]


def _matches(column: Any, pattern: str) -> ColumnElement[bool]:
    if "*" not in pattern and "?" not in pattern:
        return column == pattern  # type: ignore[no-any-return]
    return column.like(glob_to_like(pattern), escape=LIKE_ESCAPE)  # type: ignore[no-any-return]


def labels_clause(labels_column: Any, spec: LabelSpec) -> list[ColumnElement[bool]]:
    """One clause per label key: present, one positive pattern matches, no negative does."""
    clauses: list[ColumnElement[bool]] = []
    for key, patterns in spec.items():
        value = labels_column[key].as_string()
        positive, negative = split_patterns(patterns)
        parts: list[ColumnElement[bool]] = [value.is_not(None)]
        if positive:
            parts.append(or_(*[_matches(value, p) for p in positive]))
        parts.extend(not_(_matches(value, n)) for n in negative)
        clauses.append(and_(*parts))
    return clauses


def _id_clauses(column: Any, ids: Sequence[str], prefixes: Sequence[str]) -> list[Any]:
    clauses: list[Any] = []
    if ids:
        clauses.append(column.in_(ids))
    if prefixes:
        clauses.append(or_(*[_like_prefix(column, p) for p in prefixes]))
    return clauses


def _related_exists(criteria: RelatedCriteria) -> ColumnElement[bool]:
    er = event_resource_table.alias()
    clauses: list[Any] = [er.c.event_id == E.id]
    if not criteria.roles:
        clauses.append(er.c.role != "")
    if criteria.ids:
        clauses.append(er.c.resource_id.in_(criteria.ids))
    if criteria.roles:
        clauses.append(er.c.role.in_(criteria.roles))
    if criteria.in_roles:
        clauses.append(
            or_(*[and_(er.c.resource_id == i, er.c.role == r) for i, r in criteria.in_roles])
        )
    clauses.extend(labels_clause(er.c.labels, criteria.labels))
    return exists().where(*clauses)


def _any_exists(criteria: AnyResourceCriteria) -> ColumnElement[bool]:
    er = event_resource_table.alias()
    clauses: list[Any] = [er.c.event_id == E.id]
    clauses.extend(_id_clauses(er.c.resource_id, criteria.ids, criteria.id_prefixes))
    clauses.extend(labels_clause(er.c.labels, criteria.labels))
    return exists().where(*clauses)


def _text_clause(query: TextQuery) -> list[ColumnElement[bool]]:
    haystack = func.lower(
        E.event
        + literal("\n")
        + cast(E.resource, Text)
        + literal("\n")
        + cast(E.related, Text)
        + literal("\n")
        + cast(E.payload, Text)
    )

    def has(term: str) -> ColumnElement[bool]:
        return haystack.like("%" + prefix_to_like(term), escape=LIKE_ESCAPE)

    clauses: list[ColumnElement[bool]] = []
    if query.include:
        clauses.append(or_(*[has(t) for t in query.include]))
    clauses.extend(has(t) for t in query.required)
    clauses.extend(not_(has(t)) for t in query.exclude)
    return clauses


def where_clauses(workspace: str, f: EventFilter) -> list[Any]:
    """The SQL conditions equivalent to `f` (all AND-ed)."""
    clauses: list[Any] = [E.workspace == workspace]
    if f.since is not None:
        clauses.append(E.occurred >= f.since)
    if f.until is not None:
        clauses.append(E.occurred <= f.until)
    if f.names:
        clauses.append(E.event.in_(f.names))
    if f.name_prefixes:
        clauses.append(or_(*[_like_prefix(E.event, p) for p in f.name_prefixes]))
    if f.exclude_names:
        clauses.append(E.event.not_in(f.exclude_names))
    clauses.extend(not_(_like_prefix(E.event, p)) for p in f.exclude_prefixes)
    if f.ids:
        clauses.append(E.id.in_(f.ids))
    if f.resource is not None:
        clauses.extend(_id_clauses(E.resource_id, f.resource.ids, f.resource.id_prefixes))
        clauses.extend(labels_clause(E.resource, f.resource.labels))
    clauses.extend(_related_exists(r) for r in f.related)
    clauses.extend(_any_exists(a) for a in f.any_resource)
    if f.text is not None and not f.text.empty:
        clauses.extend(_text_clause(f.text))
    if f.resource is not None and f.resource.distinct:
        # Only the newest event of each primary resource.
        ranked = (
            select(
                E.id,
                func.row_number()
                .over(partition_by=E.resource_id, order_by=(E.occurred.desc(), E.id.desc()))
                .label("rank"),
            )
            .where(*clauses)
            .subquery()
        )
        clauses = [E.id.in_(select(ranked.c.id).where(ranked.c.rank == 1))]
    return clauses


def _epoch_seconds(dialect: str, column: Any) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", column)
    whole = cast(func.strftime("%s", column), Float)
    fraction = cast(func.strftime("%f", column), Float) - cast(func.strftime("%S", column), Integer)
    return whole + fraction


class EventQueries:
    """Pages and counts over stored events."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def page(
        self, workspace: str, f: EventFilter, limit: int, after: Cursor | None
    ) -> list[EventRecord]:
        clauses = where_clauses(workspace, f)
        if after is not None:
            if f.ascending:
                clauses.append(
                    or_(
                        E.occurred > after.occurred,
                        and_(E.occurred == after.occurred, E.id > after.id),
                    )
                )
            else:
                clauses.append(
                    or_(
                        E.occurred < after.occurred,
                        and_(E.occurred == after.occurred, E.id < after.id),
                    )
                )
        order = (E.occurred.asc(), E.id.asc()) if f.ascending else (E.occurred.desc(), E.id.desc())
        statement: Select[Any] = select(event_table).where(*clauses).order_by(*order).limit(limit)
        rows = await self._rows(statement, mappings=True)
        return [record_from_row(row) for row in rows]

    async def _rows(self, statement: Select[Any], mappings: bool = False) -> Sequence[Any]:
        """Run one query to the end even if the caller is cancelled (a subscriber leaving).

        A connection abandoned mid-query by cancellation is never returned to the pool nor
        closed: the driver's `Connection.__del__` then complains from the garbage collector,
        at any later moment (once inside another compile(), which CPython 3.11 turns into
        `SystemError: AST constructor recursion depth mismatch`).
        """

        async def run() -> Sequence[Any]:
            async with self._engine.connect() as connection:
                result = await connection.execute(statement)
                rows: Sequence[Any] = result.mappings().all() if mappings else result.all()
                return rows

        return await asyncio.shield(asyncio.ensure_future(run()))

    async def total(self, workspace: str, f: EventFilter) -> int:
        statement = (
            select(func.count()).select_from(event_table).where(*where_clauses(workspace, f))
        )
        return int((await self._rows(statement))[0][0])

    async def count_by_time(self, workspace: str, f: EventFilter, bins: Bins) -> list[int]:
        """Events per bin, zero-filled; `f` must be bounded by the bins' span."""
        dialect = self._engine.dialect.name
        offset = (_epoch_seconds(dialect, E.occurred) - bins.start.timestamp()) / bins.width_seconds
        index = func.floor(offset) if dialect == "postgresql" else cast(offset, Integer)
        clauses = where_clauses(workspace, f)
        clauses.append(E.occurred >= bins.start)
        statement = select(index.label("bin"), func.count()).where(*clauses).group_by(index)
        counts = [0] * bins.count
        for bin_index, count in await self._rows(statement):
            position = int(bin_index)
            if 0 <= position < bins.count:
                counts[position] += int(count)
        return counts

    async def count_by_event(self, workspace: str, f: EventFilter) -> list[GroupCount]:
        count = func.count().label("n")
        statement = (
            select(E.event, count, func.min(E.occurred), func.max(E.occurred))
            .where(*where_clauses(workspace, f))
            .group_by(E.event)
            .order_by(count.desc(), E.event.asc())
            .limit(MAX_GROUPS)
        )
        rows = await self._rows(statement)
        return [GroupCount(name, name, int(n), _aware(a), _aware(b)) for name, n, a, b in rows]

    async def count_by_resource(self, workspace: str, f: EventFilter) -> list[GroupCount]:
        count = func.count().label("n")
        name = func.max(E.resource["prefect.resource.name"].as_string())
        other_name = func.max(E.resource["prefect.name"].as_string())
        statement = (
            select(
                E.resource_id, count, name, other_name, func.min(E.occurred), func.max(E.occurred)
            )
            .where(*where_clauses(workspace, f))
            .group_by(E.resource_id)
            .limit(MAX_GROUPS)
        )
        rows = await self._rows(statement)
        groups = [
            GroupCount(rid, label or other or rid, int(n), _aware(a), _aware(b))
            for rid, n, label, other, a, b in rows
        ]
        groups.sort(key=lambda g: (-g.count, g.label))
        return groups


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    # SQLite returns aggregates of the datetime column as text.
    parsed = datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
