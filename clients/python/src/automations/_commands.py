"""What each `automations` command does, and how its output is printed."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

import yaml
from pydantic import TypeAdapter

from automations._automation import Automation
from automations._blocks import BLOCK_CLASSES
from automations._client import AutomationsClient
from automations._deployment_triggers import parse_deployment_triggers
from automations._events import Event, EventFilter, Resource
from automations._webhooks import IncomingWebhook

_AUTOMATIONS: TypeAdapter[list[Automation]] = TypeAdapter(list[Automation])


class Context:
    """What a command needs: its arguments, a client and where to write."""

    def __init__(self, args: argparse.Namespace, client: AutomationsClient, out: TextIO) -> None:
        self.args = args
        self.client = client
        self.out = out

    @property
    def json(self) -> bool:
        return bool(self.args.output == "json")

    def emit(self, data: Any, columns: Sequence[str] = ()) -> None:
        """Prints `data` as JSON, as a table (a list of rows with `columns`) or as YAML."""
        if self.json:
            self.out.write(json.dumps(data, indent=2, default=str) + "\n")
        elif columns:
            self.out.write(format_table(data, columns))
        else:
            self.out.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain text table; long cells are cut so that each row stays on one line."""
    if not rows:
        return "(none)\n"
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def load_documents(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The automations in --from-file (JSON or YAML) or --from-json: one, a list, or
    `{"automations": [...]}`."""
    if args.from_file:
        text = Path(args.from_file).read_text()
        data = yaml.safe_load(text)
    else:
        data = json.loads(args.from_json)
    if isinstance(data, dict) and isinstance(data.get("automations"), list):
        data = data["automations"]
    documents = data if isinstance(data, list) else [data]
    if not all(isinstance(d, dict) for d in documents):
        raise ValueError("expected an automation object, a list of them, or `automations:`")
    return documents


async def _find(context: Context, key: str) -> Automation:
    """An automation by id when `key` is a UUID, else by name."""
    try:
        key_id = UUID(key)
    except ValueError:
        return await Automation.aread(name=key, client=context.client)
    return await Automation.aread(id=key_id, client=context.client)


# --- automation commands ------------------------------------------------------------------


async def cmd_ls(context: Context) -> None:
    found = await context.client.list_automations()
    if context.json:
        context.emit([a.model_dump(mode="json") for a in found])
    else:
        context.emit([a.describe() for a in found], ["id", "name", "enabled", "trigger", "actions"])


async def cmd_inspect(context: Context) -> None:
    context.emit((await _find(context, context.args.automation)).model_dump(mode="json"))


async def cmd_create(context: Context) -> None:
    documents = await asyncio.to_thread(load_documents, context.args)
    automations = _AUTOMATIONS.validate_python(documents)
    created = []
    for automation in automations:
        automation.id = None
        await automation.acreate(context.client)
        created.append({"id": str(automation.id), "name": automation.name})
    context.emit(created, ["id", "name"])


async def cmd_update(context: Context) -> None:
    documents = await asyncio.to_thread(load_documents, context.args)
    if len(documents) != 1:
        raise ValueError("update takes exactly one automation")
    automation = Automation.model_validate(documents[0])
    if context.args.id:
        automation.id = UUID(context.args.id)
    if automation.id is None:
        raise ValueError("give --id or an `id` in the document")
    await automation.aupdate(context.client)
    context.emit([{"id": str(automation.id), "name": automation.name}], ["id", "name"])


async def cmd_pause(context: Context) -> None:
    automation = await _find(context, context.args.automation)
    await automation.adisable(context.client)
    context.emit(
        [{"id": str(automation.id), "name": automation.name, "enabled": False}],
        ["id", "name", "enabled"],
    )


async def cmd_resume(context: Context) -> None:
    automation = await _find(context, context.args.automation)
    await automation.aenable(context.client)
    context.emit(
        [{"id": str(automation.id), "name": automation.name, "enabled": True}],
        ["id", "name", "enabled"],
    )


async def cmd_delete(context: Context) -> None:
    if context.args.all:
        if not context.args.yes:
            raise ValueError("deleting every automation needs --yes")
        targets = await context.client.list_automations()
    elif context.args.automation:
        targets = [await _find(context, context.args.automation)]
    else:
        raise ValueError("name an automation, or give --all --yes")
    deleted = [
        {"id": str(a.id), "name": a.name} for a in targets if await a.adelete(context.client)
    ]
    context.emit(deleted, ["id", "name"])


# --- events, blocks, runs -----------------------------------------------------------------


def _labels(pairs: Sequence[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"expected label=value, got {pair!r}")
        labels[key] = value
    return labels


async def cmd_events_emit(context: Context) -> None:
    args = context.args
    resource = {"prefect.resource.id": args.resource_id, **_labels(args.label)}
    related = [Resource(r) for r in json.loads(args.related)] if args.related else []
    event = Event(
        event=args.event,
        resource=Resource(resource),
        related=related,
        payload=json.loads(args.payload) if args.payload else {},
    )
    result = await context.client.emit_events([event])
    if result.rejected:
        raise ValueError(f"the event was rejected: {result.rejected[0].reason}")
    context.emit([{"id": str(event.id), "event": event.event}], ["id", "event"])


def _event_row(event: Event) -> dict[str, Any]:
    return {
        "occurred": event.occurred.isoformat(),
        "event": event.event,
        "resource": event.resource.id,
        "id": str(event.id),
    }


async def cmd_events_query(context: Context) -> None:
    found = await context.client.query_events(
        EventFilter(event_names=context.args.event or [], resource_ids=context.args.resource or []),
        limit=context.args.limit,
    )
    if context.json:
        context.emit([e.model_dump(mode="json") for e in found])
    else:
        context.emit([_event_row(e) for e in found], ["occurred", "event", "resource", "id"])


async def cmd_events_tail(context: Context) -> None:
    query = EventFilter(event_names=context.args.event or [])
    async for event in context.client.subscribe_events(query, backfill=context.args.backfill):
        if context.json:
            context.out.write(event.model_dump_json() + "\n")
        else:
            row = _event_row(event)
            context.out.write(f"{row['occurred']}  {row['event']}  {row['resource']}\n")
        context.out.flush()


async def cmd_blocks_ls(context: Context) -> None:
    found = await context.client.list_blocks(context.args.kind or "")
    rows = [
        {"id": str(b.block_document_id), "name": b.block_document_name, "kind": b.kind}
        for b in found
    ]
    context.emit(rows, ["id", "name", "kind"])


async def cmd_blocks_create(context: Context) -> None:
    args = context.args
    block = BLOCK_CLASSES[args.kind].model_validate(json.loads(args.from_json))
    block_id = await context.client.save_block(block, args.name, overwrite=args.overwrite)
    context.emit(
        [{"id": str(block_id), "name": args.name, "kind": args.kind}], ["id", "name", "kind"]
    )


async def cmd_blocks_inspect(context: Context) -> None:
    block = await context.client.get_block(name=context.args.name)
    context.emit(
        {
            "id": str(block.block_document_id),
            "name": block.block_document_name,
            "kind": block.kind,
            **block.model_dump(mode="json"),
        }
    )


async def cmd_blocks_delete(context: Context) -> None:
    block = await context.client.get_block(name=context.args.name)
    assert block.block_document_id is not None
    await context.client.delete_block(block.block_document_id)
    context.emit([{"id": str(block.block_document_id), "name": context.args.name}], ["id", "name"])


_WEBHOOK_COLUMNS = ["id", "name", "slug", "enabled", "verification"]


def _webhook_row(webhook: IncomingWebhook) -> dict[str, Any]:
    return webhook.model_dump(mode="json")


async def cmd_webhooks_ls(context: Context) -> None:
    found = await context.client.list_webhooks()
    context.emit([_webhook_row(w) for w in found], _WEBHOOK_COLUMNS)


async def cmd_webhooks_create(context: Context) -> None:
    args = context.args
    template = (
        await asyncio.to_thread(Path(args.template_file).read_text)
        if args.template_file
        else args.template
    )
    created = await context.client.create_webhook(
        IncomingWebhook(
            name=args.name,
            description=args.description,
            slug=args.slug,
            template=template,
            enabled=not args.disabled,
            verification=args.verification,
            signature_header=args.signature_header,
            secret=args.secret,
        )
    )
    context.emit([_webhook_row(created)], _WEBHOOK_COLUMNS)


async def cmd_webhooks_inspect(context: Context) -> None:
    context.emit(_webhook_row(await context.client.get_webhook(context.args.id)))


async def cmd_webhooks_delete(context: Context) -> None:
    if not await context.client.delete_webhook(context.args.id):
        raise ValueError(f"webhook {context.args.id!r} not found")
    context.emit([{"id": context.args.id}], ["id"])


async def cmd_webhooks_enable(context: Context) -> None:
    context.emit(
        [_webhook_row(await context.client.enable_webhook(context.args.id))], _WEBHOOK_COLUMNS
    )


async def cmd_webhooks_disable(context: Context) -> None:
    context.emit(
        [_webhook_row(await context.client.disable_webhook(context.args.id))], _WEBHOOK_COLUMNS
    )


async def cmd_triggers_apply(context: Context) -> None:
    args = context.args
    text = await asyncio.to_thread(Path(args.from_file).read_text)
    document = yaml.safe_load(text)
    triggers = parse_deployment_triggers(document, args.deployment_name)
    name = args.deployment_name
    deployments = document.get("deployments") if isinstance(document, dict) else None
    if name is None and isinstance(deployments, list) and len(deployments) == 1:
        name = deployments[0].get("name")
    created = await context.client.apply_deployment_triggers(args.deployment_id, triggers, name)
    context.emit([{"id": str(a.id), "name": a.name} for a in created], ["id", "name"])


async def cmd_runs_ls(context: Context) -> None:
    found = await context.client.list_action_runs(
        automation_id=context.args.automation,
        states=context.args.state or [],
        limit=context.args.limit,
    )
    if context.json:
        context.emit([r.model_dump(mode="json") for r in found])
    else:
        rows = [r.model_dump() | {"attempts": len(r.attempts)} for r in found]
        context.emit(
            rows, ["id", "automation_name", "action_type", "state", "attempts", "created", "reason"]
        )
