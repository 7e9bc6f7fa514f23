"""The event store (event, event_resource) and incoming webhooks.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from automations_ingest.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False, server_default="default"),
        sa.Column("occurred", UtcDateTime(), nullable=False),
        sa.Column("event", sa.String(1024), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("related", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("follows", sa.String(36), nullable=True),
        sa.Column("received", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event"),
    )
    op.create_index("ix_event_occurred", "event", ["occurred"])
    op.create_index("ix_event_event_occurred", "event", ["event", "occurred"])
    op.create_index("ix_event_resource_id_occurred", "event", ["resource_id", "occurred"])
    op.create_table(
        "event_resource",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False, server_default="default"),
        sa.Column("occurred", UtcDateTime(), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "position", name="pk_event_resource"),
    )
    op.create_index(
        "ix_event_resource_resource_id_occurred", "event_resource", ["resource_id", "occurred"]
    )
    op.create_index("ix_event_resource_occurred", "event_resource", ["occurred"])
    op.create_table(
        "webhook",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False, server_default="default"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("slug", sa.String(255), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("verification", sa.String(32), nullable=False),
        sa.Column("signature_header", sa.String(255), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("create_time", UtcDateTime(), nullable=False),
        sa.Column("update_time", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook"),
        sa.UniqueConstraint("slug", name="uq_webhook_slug"),
    )


def downgrade() -> None:
    op.drop_table("webhook")
    op.drop_index("ix_event_resource_occurred", table_name="event_resource")
    op.drop_index("ix_event_resource_resource_id_occurred", table_name="event_resource")
    op.drop_table("event_resource")
    op.drop_index("ix_event_resource_id_occurred", table_name="event")
    op.drop_index("ix_event_event_occurred", table_name="event")
    op.drop_index("ix_event_occurred", table_name="event")
    op.drop_table("event")
