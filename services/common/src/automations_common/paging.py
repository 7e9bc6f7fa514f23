"""Opaque page tokens that remember the query they belong to.

A token from one query used with another is refused, as AIP-158 asks.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from automations_common.errors import InvalidArgument


def query_fingerprint(query: Any) -> str:
    """A short stable hash of the query parameters (everything but the page fields)."""
    blob = json.dumps(query, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def encode_page_token(query: Any, position: dict[str, Any]) -> str:
    payload = {"q": query_fingerprint(query), "p": position}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def decode_page_token(token: str, query: Any) -> dict[str, Any] | None:
    """The position stored in `token`, None for an empty token, InvalidArgument otherwise."""
    if not token:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        position = payload["p"]
        fingerprint = payload["q"]
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument.for_field(
            "page_token", "is not a page token this service issued", reason="BAD_PAGE_TOKEN"
        ) from None
    if fingerprint != query_fingerprint(query) or not isinstance(position, dict):
        raise InvalidArgument.for_field(
            "page_token",
            "belongs to a different query; repeat the query without a token",
            reason="PAGE_TOKEN_MISMATCH",
        )
    return position


def clamp_page_size(requested: int, default: int, maximum: int) -> int:
    if requested < 0:
        raise InvalidArgument.for_field("page_size", "must not be negative")
    if requested == 0:
        return default
    return min(requested, maximum)
