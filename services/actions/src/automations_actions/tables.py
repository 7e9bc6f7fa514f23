"""The actions service's tables (blocks and the action ledger), shared by store and migrations."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from automations_common.database import new_metadata

metadata = new_metadata()

block = Table(
    "block",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(64), nullable=False, server_default="default"),
    Column("name", String(255), nullable=False),
    Column("kind", String(64), nullable=False),
    # Proto field names; secret values are stored as `enc:v1:<token>` (common secret_box).
    Column("config", JSON, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    UniqueConstraint("workspace", "kind", "name"),
    Index("ix_block_workspace_created", "workspace", "created", "id"),
)

action_run = Table(
    "action_run",
    metadata,
    # The deterministic action id (firing id + action index).
    Column("id", String(36), primary_key=True),
    Column("workspace", String(64), nullable=False, server_default="default"),
    Column("automation_id", String(36), nullable=False),
    Column("automation_name", String(1024), nullable=False),
    Column("action_index", Integer, nullable=False),
    Column("action_type", String(64), nullable=False),
    # PENDING, RUNNING, RETRYING, SUCCEEDED, FAILED (runs.py).
    Column("state", String(16), nullable=False),
    Column("firing_id", String(36), nullable=False),
    Column("triggering_event_id", String(36), nullable=False),
    Column("attempts", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("result", JSON, nullable=False),
    Column("rendered_request", JSON, nullable=True),
    # The outcome event's related resources (NULL in rows written before 0002).
    Column("resulting_related", JSON, nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    Column("finished", DateTime(timezone=True), nullable=True),
    Index("ix_action_run_workspace_created", "workspace", "created", "id"),
    Index("ix_action_run_automation_created", "automation_id", "created"),
)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
