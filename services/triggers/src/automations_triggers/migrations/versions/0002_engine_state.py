"""The trigger engine's durable state, the outbox and the consumer position.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trigger_state",
        sa.Column("workspace", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("automation_id", sa.String(36), nullable=False, server_default=""),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "kind", "key", name="pk_trigger_state"),
    )
    op.create_table(
        "trigger_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workspace", sa.String(200), nullable=False),
        sa.Column("msg_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trigger_outbox"),
    )
    op.create_index("ix_trigger_outbox_workspace_msg_id", "trigger_outbox", ["workspace", "msg_id"])
    op.create_table(
        "trigger_consumer_position",
        sa.Column("workspace", sa.String(200), nullable=False),
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("stream_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "consumer", name="pk_trigger_consumer_position"),
    )


def downgrade() -> None:
    op.drop_table("trigger_consumer_position")
    op.drop_table("trigger_outbox")
    op.drop_table("trigger_state")
