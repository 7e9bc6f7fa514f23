"""Alembic environment of the actions service: runs on the connection `migrate()` passes."""

from automations_common.database import run_migrations_in_env

run_migrations_in_env()
