"""Alembic environment of the triggers service; run through automations_common.database."""

from automations_common.database import run_migrations_in_env
from automations_triggers.tables import metadata

run_migrations_in_env(metadata)
