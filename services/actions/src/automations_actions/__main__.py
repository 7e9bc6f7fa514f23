"""Entry point: `python -m automations_actions` (settings from ACTIONS_* environment)."""

from __future__ import annotations

import argparse
import asyncio
import gc
from collections.abc import Callable

from automations_actions.app import ActionsApp, build
from automations_actions.settings import ActionsSettings
from automations_common.lifecycle import run_until_signalled
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
    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        runner.run(serve(settings))


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when asked for and installed (about a third less CPU per action), else asyncio's."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            return None
        return uvloop.new_event_loop
    return None


async def serve(settings: ActionsSettings) -> None:
    # Built inside the running loop: the gRPC server binds to the loop it is created on.
    await run_until_signalled(_Frozen(build(settings)))


class _Frozen:
    """Starts the app, then moves everything alive so far out of the garbage collector's
    sight: full collections then scan only what actions allocate (shorter pauses)."""

    def __init__(self, app: ActionsApp) -> None:
        self.app = app

    async def start(self) -> None:
        await self.app.start()
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        await self.app.stop()


if __name__ == "__main__":
    main()
