"""The Prefect bridge's resume point, kept across restarts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from automations_ingest.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prefect_bridge_position",
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("source", sa.String(2048), nullable=False),
        sa.Column("occurred", UtcDateTime(), nullable=False),
        sa.Column("update_time", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "source", name="pk_prefect_bridge_position"),
    )


def downgrade() -> None:
    op.drop_table("prefect_bridge_position")
