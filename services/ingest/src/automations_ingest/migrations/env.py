"""Alembic environment for the ingest tables (run through automations_common.database.migrate)."""

from automations_common.database import run_migrations_in_env
from automations_ingest.tables import metadata

run_migrations_in_env(metadata)
