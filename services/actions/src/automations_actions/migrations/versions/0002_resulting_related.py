"""The outcome event's related resources on each action run, to publish the event again.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("action_run", sa.Column("resulting_related", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("action_run") as batch:
        batch.drop_column("resulting_related")
