"""The triggers service's tables (its own; no other service reads them)."""

from __future__ import annotations

import sqlalchemy as sa

from automations_common.database import new_metadata

metadata = new_metadata()

# Trigger and action lists are stored as Prefect-shaped JSON documents (see
# documents.py), so a row reads like Prefect's own `automation` table.
automation = sa.Table(
    "automation",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("workspace", sa.String(200), nullable=False, server_default="default"),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, server_default=""),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("tags", sa.JSON(), nullable=False),
    sa.Column("trigger", sa.JSON(), nullable=False),
    sa.Column("actions", sa.JSON(), nullable=False),
    sa.Column("actions_on_trigger", sa.JSON(), nullable=False),
    sa.Column("actions_on_resolve", sa.JSON(), nullable=False),
    sa.Column("owner_resource", sa.Text(), nullable=True),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    sa.Index(None, "workspace", "name"),
    sa.Index(None, "workspace", "created"),
    sa.Index(None, "workspace", "updated"),
)

# Tags again, one row each, so "has all these tags" is a portable SQL filter.
automation_tag = sa.Table(
    "automation_tag",
    metadata,
    sa.Column(
        "automation_id",
        sa.String(36),
        sa.ForeignKey("automation.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("tag", sa.Text(), primary_key=True),
    sa.Index(None, "tag"),
)

automation_related_resource = sa.Table(
    "automation_related_resource",
    metadata,
    sa.Column(
        "automation_id",
        sa.String(36),
        sa.ForeignKey("automation.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("resource_id", sa.Text(), primary_key=True),
    sa.Column("workspace", sa.String(200), nullable=False, server_default="default"),
    sa.Column("owned", sa.Boolean(), nullable=False),
    sa.Index(None, "workspace", "resource_id"),
)

# The engine's durable state (buckets, child firings, waiting followers, seen events), one
# row per (kind, key); written in the same transaction as the outbox and the position.
trigger_state = sa.Table(
    "trigger_state",
    metadata,
    sa.Column("workspace", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("automation_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("data", sa.JSON(), nullable=False),
)

# Messages committed with the state change that caused them, deleted once JetStream has
# stored them; anything left after a crash is published again (same ids, so deduplicated).
outbox = sa.Table(
    "trigger_outbox",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("workspace", sa.String(200), nullable=False),
    sa.Column("msg_id", sa.String(64), nullable=False),
    sa.Column("subject", sa.Text(), nullable=False),
    sa.Column("data", sa.LargeBinary(), nullable=False),
    sa.Index(None, "workspace", "msg_id"),
)
