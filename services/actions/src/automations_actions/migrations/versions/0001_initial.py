"""Blocks and the action ledger.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "block",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", sa.String(64), nullable=False, server_default="default"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_block"),
        sa.UniqueConstraint("workspace", "kind", "name", name="uq_block_workspace_kind_name"),
    )
    op.create_index("ix_block_workspace_created", "block", ["workspace", "created", "id"])
    op.create_table(
        "action_run",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", sa.String(64), nullable=False, server_default="default"),
        sa.Column("automation_id", sa.String(36), nullable=False),
        sa.Column("automation_name", sa.String(1024), nullable=False),
        sa.Column("action_index", sa.Integer, nullable=False),
        sa.Column("action_type", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("firing_id", sa.String(36), nullable=False),
        sa.Column("triggering_event_id", sa.String(36), nullable=False),
        sa.Column("attempts", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("rendered_request", sa.JSON, nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_action_run"),
    )
    op.create_index("ix_action_run_workspace_created", "action_run", ["workspace", "created", "id"])
    op.create_index("ix_action_run_automation_created", "action_run", ["automation_id", "created"])


def downgrade() -> None:
    op.drop_table("action_run")
    op.drop_table("block")
