"""Label patterns: full-string globs (`*`, `?`) with `!` negation, in memory and as SQL LIKE."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

LIKE_ESCAPE = "\\"


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def glob_matches(pattern: str, value: str) -> bool:
    """Whether the whole of `value` matches `pattern` (`*` any run, `?` one character)."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == value
    return _compiled(pattern).fullmatch(value) is not None


def glob_to_like(pattern: str) -> str:
    """The SQL LIKE pattern (escape character `\\`) equivalent to a glob."""
    out = []
    for char in pattern:
        if char in ("%", "_", LIKE_ESCAPE):
            out.append(LIKE_ESCAPE + char)
        elif char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        else:
            out.append(char)
    return "".join(out)


def prefix_to_like(prefix: str) -> str:
    """A LIKE pattern matching every string that starts with `prefix` (taken literally)."""
    escaped = "".join(LIKE_ESCAPE + c if c in ("%", "_", LIKE_ESCAPE) else c for c in prefix)
    return escaped + "%"


def split_patterns(patterns: Sequence[str]) -> tuple[list[str], list[str]]:
    """Positive patterns and negated ones (without their `!`)."""
    positive = [p for p in patterns if not p.startswith("!")]
    negative = [p[1:] for p in patterns if p.startswith("!")]
    return positive, negative


def labels_match(labels: Mapping[str, str], spec: Mapping[str, Sequence[str]]) -> bool:
    """Every key of `spec` (AND) must be present and match one of its patterns (OR);
    a `!pattern` must not match."""
    for key, patterns in spec.items():
        value = labels.get(key)
        if value is None:
            return False
        positive, negative = split_patterns(patterns)
        if positive and not any(glob_matches(p, value) for p in positive):
            return False
        if any(glob_matches(n, value) for n in negative):
            return False
    return True
