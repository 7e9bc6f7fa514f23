"""`python -m automations_ingest`: read the settings once, run until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import sys

from automations_common.lifecycle import run_service
from automations_common.logs import configure_logging
from automations_common.settings import describe_settings
from automations_ingest.app import build
from automations_ingest.settings import IngestSettings

HELP = """Runs the ingest service: EventsService and WebhookService over gRPC, the
incoming-webhook endpoint /hooks/{slug} over HTTP (INGEST_HTTP_PORT, 0 picks a free one),
the persister that stores every event of the EVENTS stream and, when
INGEST_PREFECT_BRIDGE__URL is set, the bridge that follows a Prefect server's events.
An empty INGEST_DATABASE_URL means SQLite at <data_dir>/ingest.db."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="automations-ingest",
        description=HELP,
        epilog=describe_settings(IngestSettings, "INGEST_"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    settings = IngestSettings()
    configure_logging("ingest", settings.log_level)
    run_service(lambda: build(settings), settings.event_loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
