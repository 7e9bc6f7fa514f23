"""Prefect's matching rules: label globs, resource specs, event-name patterns, bucketing keys."""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from functools import lru_cache

from automations_triggers.model import Event, EventTrigger, Labels, ResourceSpecification

GLOB_CHARACTERS = frozenset("*?[")
RELATED_PREFIX = "related:"


def value_matches(pattern: str, value: str | None) -> bool:
    """Full-string case-sensitive glob with `!` negation; a missing value never matches."""
    if value is None:
        return False
    if pattern.startswith("!"):
        return not fnmatchcase(value, pattern[1:])
    return fnmatchcase(value, pattern)


def spec_matches(spec: ResourceSpecification, resource: Labels) -> bool:
    """Every label of the spec (AND) matches through one of its patterns (OR)."""
    for label, patterns in spec.labels.items():
        value = resource.get(label)
        if not any(value_matches(p, value) for p in patterns):
            return False
    return True


def spec_includes(spec: ResourceSpecification, candidates: Iterable[Labels]) -> bool:
    """An empty spec, or one that some single candidate satisfies entirely."""
    if not spec.labels:
        return True
    return any(spec_matches(spec, c) for c in candidates)


def covers_resources(trigger: EventTrigger, event: Event) -> bool:
    """`match` on the primary resource, and each `match_related` spec on some related one."""
    if not spec_matches(trigger.match, event.resource):
        return False
    return all(spec_includes(spec, event.related) for spec in trigger.match_related)


def name_keys(trigger: EventTrigger) -> frozenset[str]:
    """The patterns a trigger is indexed under: `expect ∪ after`, or `*` without `expect`."""
    if not trigger.expect:
        return frozenset({"*"})
    return trigger.expect | trigger.after


@lru_cache(maxsize=65536)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # Prefect's `event_pattern`: escaped, `*` -> `.+`, anchored at the start only.
    return re.compile(re.escape(pattern).replace(r"\*", ".+"))


def name_pattern_matches(pattern: str, name: str) -> bool:
    """Both of Prefect's stages: fnmatch against the index key and the `.+` regex."""
    return fnmatchcase(name, pattern) and _pattern_regex(pattern).match(name) is not None


def covers_name(trigger: EventTrigger, name: str) -> bool:
    """Whether the event name reaches this trigger at all (a nameless event reaches none)."""
    if not name:
        return False
    if not trigger.expect:
        return True
    return any(name_pattern_matches(p, name) for p in trigger.expect | trigger.after)


def covers(trigger: EventTrigger, event: Event) -> bool:
    """The full filter: event name first, then resources."""
    return covers_name(trigger, event.event) and covers_resources(trigger, event)


def expects(trigger: EventTrigger, name: str) -> bool:
    """Whether the event counts: any event without `expect`, else a matching pattern."""
    return not trigger.expect or any(value_matches(p, name) for p in trigger.expect)


def starts_after(trigger: EventTrigger, name: str) -> bool:
    """Whether the event arms a window: only with `after`, through a matching pattern."""
    return any(value_matches(p, name) for p in trigger.after)


def find_label(event: Event, label: str) -> str | None:
    """A label of the primary resource, or `related:<role>:<label>` of the first such role."""
    if label.startswith(RELATED_PREFIX):
        role, _, related_label = label[len(RELATED_PREFIX) :].partition(":")
        for related in event.related:
            if related.get("prefect.resource.role") == role:
                return related.get(related_label)
        return None
    return event.resource.get(label)


def bucketing_key(trigger: EventTrigger, event: Event) -> tuple[str, ...]:
    """One value per sorted `for_each` label; a missing label gives `""` (a shared bucket)."""
    return tuple(find_label(event, label) or "" for label in trigger.for_each)


def triggering_labels(trigger: EventTrigger, key: tuple[str, ...]) -> dict[str, str]:
    return dict(zip(trigger.for_each, key, strict=True))


def is_glob(pattern: str) -> bool:
    return any(c in GLOB_CHARACTERS for c in pattern)


def exact_resource_ids(spec: ResourceSpecification) -> frozenset[str] | None:
    """The exact `prefect.resource.id` values a spec pins, or None when it pins none."""
    patterns = spec.labels.get("prefect.resource.id")
    if patterns is None:
        return None
    if any(is_glob(p) or p.startswith("!") for p in patterns):
        return None
    return frozenset(patterns)
