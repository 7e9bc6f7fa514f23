"""The `automations` command: manage automations, blocks and events from a terminal.

Exit codes: 0 success, 1 the operation failed (not found, refused, unreachable), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from automations._blocks import BLOCK_CLASSES
from automations._client import AutomationsClient
from automations._commands import (
    Context,
    cmd_blocks_create,
    cmd_blocks_delete,
    cmd_blocks_inspect,
    cmd_blocks_ls,
    cmd_create,
    cmd_delete,
    cmd_events_emit,
    cmd_events_query,
    cmd_events_tail,
    cmd_inspect,
    cmd_ls,
    cmd_pause,
    cmd_resume,
    cmd_runs_ls,
    cmd_triggers_apply,
    cmd_update,
    cmd_webhooks_create,
    cmd_webhooks_delete,
    cmd_webhooks_disable,
    cmd_webhooks_enable,
    cmd_webhooks_inspect,
    cmd_webhooks_ls,
)
from automations._errors import AutomationsError
from automations._transport import ClientConfig

Command = Callable[[Context], Awaitable[None]]


# --- parsing ------------------------------------------------------------------------------


def _options(default: Any) -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "-o",
        "--output",
        choices=["table", "json"],
        default="table" if default is None else default,
        help="table/YAML for people (default) or JSON for programs",
    )
    for flag, env in [
        ("--api-url", "AutomationService address (AUTOMATIONS_API_URL)"),
        ("--events-url", "EventsService address (AUTOMATIONS_EVENTS_URL)"),
        ("--actions-url", "BlockService and ActionService address (AUTOMATIONS_ACTIONS_URL)"),
        ("--api-key", "API key (AUTOMATIONS_API_KEY)"),
    ]:
        options.add_argument(flag, help=env, default=default)
    return options


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; every command has --help and --output."""
    # Sub-commands repeat the options without defaults, so that `automations -o json ls`
    # and `automations ls -o json` both work (a sub-parser default would win otherwise).
    common = _options(argparse.SUPPRESS)
    top = _options(None)
    parser = argparse.ArgumentParser(
        prog="automations",
        description="Manage automations, blocks and events.",
        parents=[top],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Command, help: str, **kwargs: Any) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[common], **kwargs)
        sub.set_defaults(handler=handler)
        return sub

    add("ls", cmd_ls, "List automations.")
    add("inspect", cmd_inspect, "Show one automation by id or name.").add_argument("automation")
    for name, handler, what in [
        ("create", cmd_create, "Create automations from a Prefect JSON/YAML document."),
        ("update", cmd_update, "Replace an automation with a document."),
    ]:
        sub = add(name, handler, what)
        source = sub.add_mutually_exclusive_group(required=True)
        source.add_argument("--from-file", "-f", help="a JSON or YAML file")
        source.add_argument("--from-json", "-j", help="a JSON string")
        if name == "update":
            sub.add_argument("--id", help="the automation to replace (else the document's id)")
    add("pause", cmd_pause, "Disable an automation.", aliases=["disable"]).add_argument(
        "automation"
    )
    add("resume", cmd_resume, "Enable an automation.", aliases=["enable"]).add_argument(
        "automation"
    )
    delete = add("delete", cmd_delete, "Delete an automation (or --all --yes).")
    delete.add_argument("automation", nargs="?")
    delete.add_argument("--all", action="store_true", help="delete every automation")
    delete.add_argument("--yes", action="store_true", help="do not ask; needed with --all")

    events = commands.add_parser(
        "events", help="Emit, query and tail events.", description="Emit, query and tail events."
    )
    event_commands = events.add_subparsers(dest="events_command", metavar="COMMAND", required=True)

    def add_event(name: str, handler: Command, help: str) -> argparse.ArgumentParser:
        sub = event_commands.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    emit = add_event("emit", cmd_events_emit, "Emit one event.")
    emit.add_argument("event", help="the event name, for example demo.ping")
    emit.add_argument("--resource-id", "-r", required=True, help="prefect.resource.id")
    emit.add_argument("--label", "-l", action="append", default=[], help="label=value")
    emit.add_argument("--related", help="related resources as a JSON list of label objects")
    emit.add_argument("--payload", "-p", help="the payload as a JSON object")
    query = add_event("query", cmd_events_query, "Show stored events, newest first.")
    query.add_argument("--event", "-e", action="append", help="event name (trailing * = prefix)")
    query.add_argument("--resource", action="append", help="primary resource id")
    query.add_argument("--limit", type=int, default=50)
    tail = add_event("tail", cmd_events_tail, "Print events as they arrive (Ctrl-C stops).")
    tail.add_argument("--event", "-e", action="append", help="event name (trailing * = prefix)")
    tail.add_argument(
        "--no-backfill", dest="backfill", action="store_false", help="skip recent stored events"
    )

    blocks = commands.add_parser(
        "blocks",
        help="Webhook and notification blocks.",
        description="Webhook and notification blocks.",
    )
    block_commands = blocks.add_subparsers(dest="blocks_command", metavar="COMMAND", required=True)
    what = "Save a block: its fields as JSON, as in Prefect (url, method, headers, ...)."
    create = block_commands.add_parser("create", help=what, description=what, parents=[common])
    create.set_defaults(handler=cmd_blocks_create)
    create.add_argument("kind", choices=sorted(BLOCK_CLASSES))
    create.add_argument("name")
    create.add_argument("--from-json", "-j", required=True, help='e.g. \'{"url": "https://..."}\'')
    create.add_argument("--overwrite", action="store_true", help="replace a block of that name")
    for name, handler, what in [
        ("ls", cmd_blocks_ls, "List blocks."),
        ("inspect", cmd_blocks_inspect, "Show a block (secrets masked)."),
        ("delete", cmd_blocks_delete, "Delete a block."),
    ]:
        sub = block_commands.add_parser(name, help=what, description=what, parents=[common])
        sub.set_defaults(handler=handler)
        if name == "ls":
            sub.add_argument("--kind", help="webhook, slack_webhook, email, ...")
        else:
            sub.add_argument("name")

    webhooks = commands.add_parser(
        "webhooks",
        help="Incoming webhooks: HTTP requests that become events.",
        description="Incoming webhooks: HTTP requests that become events.",
    )
    webhook_commands = webhooks.add_subparsers(
        dest="webhooks_command", metavar="COMMAND", required=True
    )
    for name, handler, what in [
        ("ls", cmd_webhooks_ls, "List incoming webhooks."),
        ("create", cmd_webhooks_create, "Create an incoming webhook."),
        ("inspect", cmd_webhooks_inspect, "Show a webhook (secret masked)."),
        ("delete", cmd_webhooks_delete, "Delete a webhook."),
        ("enable", cmd_webhooks_enable, "Accept requests again."),
        ("disable", cmd_webhooks_disable, "Refuse requests (404) until enabled."),
    ]:
        sub = webhook_commands.add_parser(name, help=what, description=what, parents=[common])
        sub.set_defaults(handler=handler)
        if name == "create":
            sub.add_argument("name")
            body = sub.add_mutually_exclusive_group(required=True)
            body.add_argument("--template", "-t", help="Jinja template rendering the event JSON")
            body.add_argument("--template-file", help="the template in a file")
            sub.add_argument("--slug", default="", help="path after /hooks/ (generated if empty)")
            sub.add_argument("--description", default="")
            sub.add_argument(
                "--verification",
                choices=["none", "shared_secret", "hmac_sha256"],
                default="none",
            )
            sub.add_argument("--secret", default="", help="for shared_secret or hmac_sha256")
            sub.add_argument("--signature-header", default="", help="the header to check")
            sub.add_argument("--disabled", action="store_true", help="create it disabled")
        elif name != "ls":
            sub.add_argument("id")

    triggers = commands.add_parser(
        "triggers",
        help="Deployment triggers (prefect.yaml `triggers:`).",
        description="Deployment triggers (prefect.yaml `triggers:`).",
    )
    trigger_commands = triggers.add_subparsers(
        dest="triggers_command", metavar="COMMAND", required=True
    )
    what = "Replace a deployment's triggers with those in a file (JSON, YAML, prefect.yaml)."
    apply = trigger_commands.add_parser("apply", help=what, description=what, parents=[common])
    apply.set_defaults(handler=cmd_triggers_apply)
    apply.add_argument("deployment_id", help="the deployment's id")
    apply.add_argument("--from-file", "-f", required=True, help="the triggers file")
    apply.add_argument(
        "--deployment-name", help="the deployment in a prefect.yaml; also names the automations"
    )

    runs = commands.add_parser(
        "runs",
        help="Action runs: what the actions did.",
        description="Action runs: what the actions did.",
    )
    run_commands = runs.add_subparsers(dest="runs_command", metavar="COMMAND", required=True)
    ls = run_commands.add_parser(
        "ls",
        help="List action runs, newest first.",
        description="List action runs, newest first.",
        parents=[common],
    )
    ls.set_defaults(handler=cmd_runs_ls)
    ls.add_argument("--automation", help="only this automation's runs (id)")
    ls.add_argument(
        "--state", action="append", help="pending, running, retrying, succeeded, failed or skipped"
    )
    ls.add_argument("--limit", type=int, default=50)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    client: AutomationsClient | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Runs one command and returns its exit code (argparse exits with 2 on bad usage)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    if client is None:
        client = AutomationsClient(
            config=ClientConfig.from_env(
                api_url=args.api_url,
                events_url=args.events_url,
                actions_url=args.actions_url,
                api_key=args.api_key,
            )
        )

    async def run() -> None:
        try:
            await args.handler(Context(args, client, out))
        finally:
            await client.aclose()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 130
    except (AutomationsError, ValueError, ValidationError, OSError, yaml.YAMLError) as exc:
        err.write(f"error: {_describe(exc)}\n")
        return 1
    return 0


def _describe(exc: Exception) -> str:
    if isinstance(exc, AutomationsError) and exc.field_violations:
        fields = "; ".join(f"{v.field}: {v.description}" for v in exc.field_violations)
        return f"{exc.message} ({fields})" if fields not in exc.message else exc.message
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
