"""`python -m automations_triggers`: read settings once, build the app, run until signalled."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from automations_common.lifecycle import run_until_signalled
from automations_common.logs import configure_logging
from automations_triggers.app import build
from automations_triggers.settings import TriggersSettings

ENV_PREFIX = "TRIGGERS_"


def _describe() -> str:
    defaults = TriggersSettings.model_construct()
    lines = ["Settings (environment variables):"]
    for name, info in TriggersSettings.model_fields.items():
        annotation: Any = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub, _ in annotation.model_fields.items():
                value = getattr(getattr(defaults, name), sub)
                env = f"{ENV_PREFIX}{name.upper()}__{sub.upper()}"
                lines.append(f"  {env:<40} default: {value!r}")
        else:
            value = getattr(defaults, name)
            env = f"{ENV_PREFIX}{name.upper()}"
            lines.append(f"  {env:<40} default: {value!r}")
    lines.append("An empty TRIGGERS_DATABASE_URL means SQLite at <data_dir>/triggers.db.")
    return "\n".join(lines)


async def _serve(settings: TriggersSettings) -> None:
    # Built inside the running loop: the gRPC aio server binds to the loop it is made on.
    await run_until_signalled(build(settings))


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
        asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
