"""Checks one event against Prefect's rules and limits; says which field is wrong and why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from automations_common.ids import canonical_uuid
from automations_ingest.settings import EventLimits

RESOURCE_ID = "prefect.resource.id"
RESOURCE_ROLE = "prefect.resource.role"


# Candidates and verdicts are built once per incoming event, the ingest hot path: they are
# not frozen, because a frozen dataclass pays an `object.__setattr__` per field.
@dataclass(slots=True)
class Candidate:
    """What validation needs to know about an incoming event (no payload: it is free-form)."""

    id: str
    has_occurred: bool
    event: str
    resource: Mapping[str, str]
    related: Sequence[Mapping[str, str]]
    follows: str
    # The encoded size of the event as it arrived.
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Problem:
    """Why an event is refused and which field (relative to the event) is at fault."""

    reason: str
    field: str


@dataclass(slots=True)
class Verdict:
    """An accepted event's canonical id, or the problem that refuses it."""

    canonical_id: str
    problem: Problem | None


def check_event(candidate: Candidate, limits: EventLimits) -> Verdict:
    """The first problem with `candidate`, or its canonical id when it is acceptable."""
    canonical = canonical_uuid(candidate.id) if candidate.id else None
    if canonical is None:
        reason = (
            f"{candidate.id[:80]!r} is not a valid UUID"
            if candidate.id
            else "the event id is required (a UUID)"
        )
        return Verdict(candidate.id, Problem(reason, "id"))
    return Verdict(canonical, _first_problem(candidate, limits))


def _label_field(prefix: str, label: str) -> str:
    return f'{prefix}.labels["{label}"]'


def _first_problem(c: Candidate, limits: EventLimits) -> Problem | None:
    # The id is checked by `check_event`.
    if c.size_bytes > limits.max_event_bytes:
        return Problem(
            f"the event is {c.size_bytes} bytes; at most {limits.max_event_bytes} are allowed",
            "",
        )
    if not c.has_occurred:
        return Problem("occurred_time is required", "occurred_time")
    if not c.event:
        return Problem("the event name is required", "event")
    if "\x00" in c.event:
        return Problem("the event name contains a NUL character", "event")
    if len(c.event) > limits.max_event_name_chars:
        return Problem(
            f"the event name is {len(c.event)} characters; "
            f"at most {limits.max_event_name_chars} are allowed",
            "event",
        )
    problem = _resource_problem(c.resource, "resource", limits, needs_role=False)
    if problem is not None:
        return problem
    if len(c.related) > limits.max_related_resources:
        return Problem(
            f"{len(c.related)} related resources; "
            f"at most {limits.max_related_resources} are allowed",
            "related",
        )
    for index, related in enumerate(c.related):
        problem = _resource_problem(related, f"related[{index}]", limits, needs_role=True)
        if problem is not None:
            return problem
    if c.follows and canonical_uuid(c.follows) is None:
        return Problem(f"{c.follows[:80]!r} is not a valid UUID", "follows")
    return None


def _resource_problem(
    labels: Mapping[str, str], path: str, limits: EventLimits, *, needs_role: bool
) -> Problem | None:
    if len(labels) > limits.max_labels_per_resource:
        return Problem(
            f"{len(labels)} labels; at most {limits.max_labels_per_resource} are allowed per "
            "resource",
            f"{path}.labels",
        )
    # `[labels[k] ...]`, not `labels.values()`: on a protobuf map the view walks the
    # keys in Python (three times slower).
    if "\x00" in "".join(labels) or "\x00" in "".join([labels[k] for k in labels]):
        key = next(k for k, v in labels.items() if "\x00" in k or "\x00" in v)
        return Problem("labels must not contain NUL characters", _label_field(path, key[:80]))
    if not labels.get(RESOURCE_ID):
        return Problem(
            f"{RESOURCE_ID} is required and must not be empty", _label_field(path, RESOURCE_ID)
        )
    if needs_role and not labels.get(RESOURCE_ROLE):
        return Problem(
            f"a related resource needs a non-empty {RESOURCE_ROLE}",
            _label_field(path, RESOURCE_ROLE),
        )
    return None
