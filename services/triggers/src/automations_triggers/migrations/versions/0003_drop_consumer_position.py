"""Drop the consumer position: redeliveries are recognised by the persisted seen ids.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("trigger_consumer_position")


def downgrade() -> None:
    op.create_table(
        "trigger_consumer_position",
        sa.Column("workspace", sa.String(200), nullable=False),
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("stream_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "consumer", name="pk_trigger_consumer_position"),
    )
