"""The ingest service's tables: the event store, incoming webhooks, the bridge's resume point."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from automations_common.database import new_metadata


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; stored naive UTC so SQLite compares them as text."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = new_metadata()

event_table = Table(
    "event",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(64), nullable=False, server_default="default"),
    Column("occurred", UtcDateTime(), nullable=False),
    Column("event", String(1024), nullable=False),
    Column("resource_id", Text, nullable=False),
    Column("resource", JSON, nullable=False),
    Column("related", JSON, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("follows", String(36), nullable=True),
    Column("received", UtcDateTime(), nullable=False),
    Index("ix_event_occurred", "occurred"),
    Index("ix_event_event_occurred", "event", "occurred"),
    Index("ix_event_resource_id_occurred", "resource_id", "occurred"),
)

# One row per involved resource: position 0 is the primary (role ''), then the related.
event_resource_table = Table(
    "event_resource",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("workspace", String(64), nullable=False, server_default="default"),
    Column("occurred", UtcDateTime(), nullable=False),
    Column("resource_id", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("labels", JSON, nullable=False),
    Index("ix_event_resource_resource_id_occurred", "resource_id", "occurred"),
    Index("ix_event_resource_occurred", "occurred"),
)

webhook_table = Table(
    "webhook",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(64), nullable=False, server_default="default"),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("slug", String(255), nullable=False),
    Column("template", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("verification", String(32), nullable=False),
    Column("signature_header", String(255), nullable=False),
    Column("secret", Text, nullable=False),
    Column("create_time", UtcDateTime(), nullable=False),
    Column("update_time", UtcDateTime(), nullable=False),
    UniqueConstraint("slug", name="uq_webhook_slug"),
)


# The `occurred` of the newest event the Prefect bridge forwarded, per source, so that a
# restarted service resumes there (prefect_bridge.py).
bridge_position_table = Table(
    "prefect_bridge_position",
    metadata,
    Column("workspace", String(64), primary_key=True),
    Column("source", String(2048), primary_key=True),
    Column("occurred", UtcDateTime(), nullable=False),
    Column("update_time", UtcDateTime(), nullable=False),
)
