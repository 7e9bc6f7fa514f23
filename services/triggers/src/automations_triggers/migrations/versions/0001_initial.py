"""Automations, their tags and related resources.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
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
        "automation",
        sa.Column("id", sa.String(36), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_automation"),
    )
    op.create_index("ix_automation_workspace_name", "automation", ["workspace", "name"])
    op.create_index("ix_automation_workspace_created", "automation", ["workspace", "created"])
    op.create_index("ix_automation_workspace_updated", "automation", ["workspace", "updated"])
    op.create_table(
        "automation_tag",
        sa.Column("automation_id", sa.String(36), nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automation.id"],
            name="fk_automation_tag_automation_id_automation",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("automation_id", "tag", name="pk_automation_tag"),
    )
    op.create_index("ix_automation_tag_tag", "automation_tag", ["tag"])
    op.create_table(
        "automation_related_resource",
        sa.Column("automation_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("workspace", sa.String(200), nullable=False, server_default="default"),
        sa.Column("owned", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automation.id"],
            name="fk_automation_related_resource_automation_id_automation",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "automation_id", "resource_id", name="pk_automation_related_resource"
        ),
    )
    op.create_index(
        "ix_automation_related_resource_workspace_resource_id",
        "automation_related_resource",
        ["workspace", "resource_id"],
    )


def downgrade() -> None:
    op.drop_table("automation_related_resource")
    op.drop_table("automation_tag")
    op.drop_table("automation")
