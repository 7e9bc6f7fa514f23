"""`python -m automations_ingest`: read the settings once, run until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
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
An empty INGEST_DATABASE_URL means SQLite at <data_dir>/ingest.db.

INGEST_ROLE splits the work between processes: `api` serves the APIs, `persister`
stores events and trims old ones (at a lower CPU priority, INGEST_PERSISTER__NICENESS),
`all` (the default) does both in one process."""

log = logging.getLogger("automations_ingest")


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
    if settings.role == "persister" and settings.persister.niceness:
        # The whole process: a lower-priority thread would hold the GIL while it waits
        # for a CPU and stall everything else in the process.
        os.nice(settings.persister.niceness)
        log.info("persister role: CPU niceness raised by %d", settings.persister.niceness)
    run_service(lambda: build(settings), settings.event_loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
