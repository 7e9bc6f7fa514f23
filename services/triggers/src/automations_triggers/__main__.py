"""`python -m automations_triggers`: read settings once, build the app, run until signalled."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from automations_common.lifecycle import run_service
from automations_common.logs import configure_logging
from automations_common.settings import describe_settings
from automations_triggers.app import build
from automations_triggers.settings import TriggersSettings

ENV_PREFIX = "TRIGGERS_"


def _describe() -> str:
    return (
        describe_settings(TriggersSettings, ENV_PREFIX)
        + "\nAn empty TRIGGERS_DATABASE_URL means SQLite at <data_dir>/triggers.db."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m automations_triggers",
        description="The triggers service: AutomationService (gRPC) and trigger evaluation "
        "over the EVENTS stream. Configured only through the environment.",
        epilog=_describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    settings = TriggersSettings()
    configure_logging("triggers", settings.log_level)
    try:
        run_service(lambda: build(settings), settings.event_loop)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
