"""Event validation: Prefect's rules and limits, one problem with its field per bad event."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import pytest

from automations_ingest.settings import EventLimits
from automations_ingest.validation import Candidate, check_event

LIMITS = EventLimits()
ID = str(uuid.uuid4())


def candidate(**changes: object) -> Candidate:
    values: dict[str, object] = {
        "id": ID,
        "has_occurred": True,
        "event": "demo.ping",
        "resource": {"prefect.resource.id": "demo.thing"},
        "related": [],
        "follows": "",
        "size_bytes": 100,
    }
    values.update(changes)
    return Candidate(**values)  # type: ignore[arg-type]


def test_a_good_event_passes_with_its_canonical_id() -> None:
    verdict = check_event(candidate(id=ID.upper()), LIMITS)
    assert verdict.problem is None
    assert verdict.canonical_id == ID


RELATED_OK: Mapping[str, str] = {"prefect.resource.id": "x", "prefect.resource.role": "r"}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"id": ""}, "id", "required"),
        ({"id": "nope"}, "id", "not a valid UUID"),
        ({"has_occurred": False}, "occurred_time", "required"),
        ({"event": ""}, "event", "required"),
        ({"event": "e" * 1025}, "event", "1025 characters"),
        ({"resource": {}}, 'resource.labels["prefect.resource.id"]', "required"),
        (
            {"resource": {"prefect.resource.id": ""}},
            'resource.labels["prefect.resource.id"]',
            "empty",
        ),
        (
            {"resource": {"prefect.resource.id": "x", **{f"l{i}": "v" for i in range(500)}}},
            "resource.labels",
            "501 labels",
        ),
        ({"related": [RELATED_OK] * 101}, "related", "101 related"),
        (
            {"related": [RELATED_OK, {"prefect.resource.id": "y"}]},
            'related[1].labels["prefect.resource.role"]',
            "role",
        ),
        (
            {"related": [{"prefect.resource.role": "r"}]},
            'related[0].labels["prefect.resource.id"]',
            "required",
        ),
        ({"size_bytes": 1_500_001}, "", "1500001 bytes"),
        ({"follows": "later"}, "follows", "not a valid UUID"),
        ({"event": "a\x00b"}, "event", "NUL"),
        ({"resource": {"prefect.resource.id": "x", "k": "\x00"}}, 'resource.labels["k"]', "NUL"),
    ],
)
def test_each_problem_names_its_field(changes: dict[str, object], field: str, words: str) -> None:
    verdict = check_event(candidate(**changes), LIMITS)
    assert verdict.problem is not None
    assert verdict.problem.field == field
    assert words in verdict.problem.reason


def test_limits_at_the_boundary_are_allowed() -> None:
    verdict = check_event(
        candidate(
            event="e" * 1024,
            resource={"prefect.resource.id": "x", **{f"l{i}": "v" for i in range(499)}},
            related=[RELATED_OK] * 100,
            size_bytes=1_500_000,
            follows=str(uuid.uuid4()),
        ),
        LIMITS,
    )
    assert verdict.problem is None


@pytest.mark.parametrize(
    "raw",
    [ID, ID.upper(), "{" + ID + "}", ID.replace("-", ""), "urn:uuid:" + ID],
)
def test_every_uuid_spelling_gives_the_canonical_id(raw: str) -> None:
    verdict = check_event(candidate(id=raw), LIMITS)
    assert verdict.problem is None
    assert verdict.canonical_id == ID


@pytest.mark.parametrize("raw", ["", "not-a-uuid", ID[:-1], ID + "0", "g" + ID[1:]])
def test_a_bad_id_is_refused_on_the_id_field(raw: str) -> None:
    verdict = check_event(candidate(id=raw), LIMITS)
    assert verdict.problem is not None
    assert verdict.problem.field == "id"
