"""Incoming webhooks: HTTP requests to `/hooks/{slug}` that the ingest service turns into events."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import SecretStr

from automations._models import Model


class IncomingWebhook(Model):
    """A webhook endpoint. `template` (Jinja over body, headers, query, method, url) renders
    the event as JSON. `secret` is write-only: reads return it masked."""

    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"id", "created", "updated"})

    id: str | None = None
    name: str
    description: str = ""
    slug: str = ""
    template: str
    enabled: bool = True
    verification: Literal["none", "shared_secret", "hmac_sha256"] = "none"
    signature_header: str = ""
    secret: SecretStr = SecretStr("")
    created: datetime | None = None
    updated: datetime | None = None
