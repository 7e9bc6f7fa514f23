"""Entry point: `python -m automations_actions` (settings from ACTIONS_* environment)."""

from __future__ import annotations

import argparse

from automations_actions.app import build
from automations_actions.settings import ActionsSettings
from automations_common.lifecycle import run_service
from automations_common.logs import configure_logging
from automations_common.settings import describe_settings

DESCRIPTION = """Runs the actions service: consumes ACTIONS, carries out each action once,
serves BlockService and ActionService over gRPC (default port 7473).
An empty ACTIONS_DATABASE_URL means SQLite at <data_dir>/actions.db; an empty
ACTIONS_SECRET_KEY means a key file generated under the data directory."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="automations-actions",
        description=DESCRIPTION,
        epilog=describe_settings(ActionsSettings, "ACTIONS_"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    settings = ActionsSettings()
    configure_logging("actions", settings.log_level)
    run_service(lambda: build(settings), settings.event_loop)


if __name__ == "__main__":
    main()
