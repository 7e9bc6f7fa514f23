"""Glob patterns, the in-memory EventFilter and text search parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from automations_ingest.events import EventRecord
from automations_ingest.filters import (
    AnyResourceCriteria,
    EventFilter,
    RelatedCriteria,
    ResourceCriteria,
    parse_text,
)
from automations_ingest.globbing import glob_matches, glob_to_like, labels_match, prefix_to_like

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_globs_match_the_whole_string() -> None:
    assert glob_matches("demo.*", "demo.thing")
    assert not glob_matches("demo.*", "x.demo.thing")
    assert glob_matches("a?c", "abc")
    assert not glob_matches("a?c", "abbc")
    assert glob_matches("[x]", "[x]")  # no character classes, as in Prefect's DB filter


def test_globs_translate_to_like_with_escapes() -> None:
    assert glob_to_like("demo.*") == "demo.%"
    assert glob_to_like("a?c") == "a_c"
    assert glob_to_like("100%_\\*") == "100\\%\\_\\\\%"
    assert prefix_to_like("a_b*") == "a\\_b*%"


def test_label_specs_and_keys_or_values_and_negation() -> None:
    labels = {"color": "red", "kind": "thing"}
    assert labels_match(labels, {"color": ["blue", "r*"], "kind": ["thing"]})
    assert not labels_match(labels, {"color": ["!red"]})
    assert labels_match(labels, {"color": ["!blue"]})
    assert not labels_match(labels, {"size": ["!big"]})  # a missing label never matches


def record(**changes: object) -> EventRecord:
    values: dict[str, object] = {
        "id": "e1",
        "occurred": NOW,
        "event": "demo.ping",
        "resource": {"prefect.resource.id": "demo.thing.1", "color": "red"},
        "related": [{"prefect.resource.id": "demo.flow.a", "prefect.resource.role": "flow"}],
        "payload": {"message": "Hello World"},
    }
    values.update(changes)
    return EventRecord(**values)  # type: ignore[arg-type]


def test_in_memory_filter_covers_every_field() -> None:
    event = record()
    assert EventFilter().includes(event)
    assert EventFilter(since=NOW, until=NOW).includes(event)
    assert not EventFilter(since=NOW + timedelta(seconds=1)).includes(event)
    assert not EventFilter(until=NOW - timedelta(seconds=1)).includes(event)
    assert EventFilter(name_prefixes=("demo.",)).includes(event)
    assert not EventFilter(exclude_prefixes=("demo.",)).includes(event)
    assert not EventFilter(names=("demo.pong",)).includes(event)
    assert not EventFilter(exclude_names=("demo.ping",)).includes(event)
    assert EventFilter(ids=("e1",)).includes(event)
    assert EventFilter(resource=ResourceCriteria(id_prefixes=("demo.",))).includes(event)
    assert not EventFilter(resource=ResourceCriteria(ids=("demo.thing.2",))).includes(event)
    assert EventFilter(resource=ResourceCriteria(labels={"color": ("r?d",)})).includes(event)
    assert EventFilter(related=(RelatedCriteria(roles=("flow",)),)).includes(event)
    assert not EventFilter(related=(RelatedCriteria(roles=("tag",)),)).includes(event)
    assert EventFilter(related=(RelatedCriteria(in_roles=(("demo.flow.a", "flow"),)),)).includes(
        event
    )
    assert not EventFilter(related=(RelatedCriteria(ids=("demo.thing.1",)),)).includes(event)
    assert EventFilter(any_resource=(AnyResourceCriteria(ids=("demo.thing.1",)),)).includes(event)
    assert EventFilter(any_resource=(AnyResourceCriteria(ids=("demo.flow.a",)),)).includes(event)
    assert EventFilter(text=parse_text("hello")).includes(event)
    assert not EventFilter(text=parse_text("-world")).includes(event)
    assert EventFilter(text=parse_text('+"hello world" demo.flow.a')).includes(event)


def test_text_queries_parse_into_terms() -> None:
    query = parse_text('alpha +Beta -gamma "two words" +"must have"')
    assert query.include == ("alpha", "two words")
    assert query.required == ("beta", "must have")
    assert query.exclude == ("gamma",)
