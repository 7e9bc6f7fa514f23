"""`python -m automations_ingest`: read the settings once, run until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import sys

from automations_common.lifecycle import run_until_signalled
from automations_common.logs import configure_logging
from automations_ingest.app import build
from automations_ingest.settings import IngestSettings

HELP = """Runs the ingest service: EventsService and WebhookService over gRPC, the
incoming-webhook endpoint /hooks/{slug} over HTTP, and the persister that stores
every event of the EVENTS stream.

Configuration comes from the environment (nested fields with `__`):
  INGEST_NATS__URL          JetStream server (default nats://127.0.0.1:7422)
  INGEST_NATS__NAMESPACE    prefix for stream and subject names (default none)
  INGEST_GRPC__HOST/PORT    gRPC address (default 127.0.0.1:7471)
  INGEST_HTTP_PORT          webhook HTTP port (default 7480; 0 picks a free one)
  INGEST_HTTP_ENABLED       false to run without the webhook endpoint
  INGEST_DATABASE_URL       SQLAlchemy async URL (default SQLite under INGEST_DATA_DIR)
  INGEST_DATA_DIR           where the SQLite file goes (default .data)
  INGEST_RETENTION__DEFAULT_DAYS  how long events are stored (default 7)
  INGEST_PREFECT_BRIDGE__URL  follow this Prefect server's events, e.g.
                            http://127.0.0.1:4200/api (default empty: off)
  INGEST_PREFECT_BRIDGE__API_KEY / __AUTH_STRING  Prefect Cloud key / server auth string
  INGEST_PREFECT_BRIDGE__EXCLUDE_EVENT_PREFIXES   JSON list of event-name prefixes to skip
  INGEST_PREFECT_BRIDGE__BATCH_SIZE               events per publish (default 100)
  INGEST_PREFECT_BRIDGE__CATCH_UP_DELAY_SECONDS   catch-up query delay (default 10)
  INGEST_LOG_LEVEL          DEBUG, INFO, WARNING (default INFO)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="automations-ingest",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    settings = IngestSettings()
    configure_logging("ingest", settings.log_level)
    asyncio.run(run_until_signalled(build(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
