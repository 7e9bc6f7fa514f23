"""In-memory servicers behind a real gRPC server: just enough behaviour to check the client.

They raise automations_common errors, so the real error interceptor turns them into
statuses with google.rpc details exactly as the services do.
"""

# The servicer method names are the RPC names, fixed by the generated base classes.
# ruff: noqa: N802

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc

from automations.v1 import (
    action_run_pb2,
    action_service_pb2,
    action_service_pb2_grpc,
    automation_service_pb2,
    automation_service_pb2_grpc,
    block_pb2,
    block_service_pb2,
    block_service_pb2_grpc,
    events_service_pb2,
    events_service_pb2_grpc,
    webhook_pb2,
    webhook_service_pb2,
    webhook_service_pb2_grpc,
)
from automations_common.errors import AlreadyExists, InvalidArgument, NotFound
from automations_common.grpc_server import GrpcServer
from automations_common.ids import parse_uuid

MASK = "********"


def _metadata(context: Any) -> dict[str, str]:
    return {k: v for k, v in context.invocation_metadata()}


class Automations(automation_service_pb2_grpc.AutomationServiceServicer):
    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}
        self.clock = 0
        self.seen_metadata: list[dict[str, str]] = []

    def _tick(self, message: Any) -> None:
        self.clock += 1
        message.update_time.FromSeconds(1_700_000_000 + self.clock)

    def _get(self, id: str) -> Any:
        key = parse_uuid(id)
        if key not in self.stored:
            raise NotFound("automation", key)
        return self.stored[key]

    async def CreateAutomation(self, request: Any, context: Any) -> Any:
        self.seen_metadata.append(_metadata(context))
        automation = request.automation
        if not automation.name:
            raise InvalidArgument.for_field("automation.name", "must not be empty")
        if automation.id:
            raise InvalidArgument.for_field("automation.id", "is assigned by the server")
        automation.id = str(uuid.uuid4())
        automation.create_time.FromSeconds(1_700_000_000)
        self._tick(automation)
        if automation.trigger.WhichOneof("kind") == "event":
            automation.trigger.event.id = str(uuid.uuid4())
        self.stored[automation.id] = automation
        return automation_service_pb2.CreateAutomationResponse(automation=automation)

    async def GetAutomation(self, request: Any, context: Any) -> Any:
        return automation_service_pb2.GetAutomationResponse(automation=self._get(request.id))

    async def ListAutomations(self, request: Any, context: Any) -> Any:
        found = [
            a
            for a in self.stored.values()
            if (not request.names or a.name in request.names)
            and set(request.tags) <= set(a.tags)
            and (not request.HasField("enabled") or a.enabled == request.enabled)
        ]
        if request.order == automation_service_pb2.AUTOMATION_ORDER_UPDATED_DESC:
            found.sort(key=lambda a: a.update_time.ToNanoseconds(), reverse=True)
        else:
            found.sort(key=lambda a: a.name)
        start = int(request.page_token or 0)
        size = request.page_size or 200
        page = found[start : start + size]
        token = str(start + size) if start + size < len(found) else ""
        return automation_service_pb2.ListAutomationsResponse(
            automations=page, next_page_token=token
        )

    async def UpdateAutomation(self, request: Any, context: Any) -> Any:
        stored = self._get(request.automation.id)
        for path in request.update_mask.paths:
            if path == "owner_resource":
                raise InvalidArgument.for_field("update_mask", "owner cannot change")
            stored.ClearField(path)
            value = getattr(request.automation, path)
            if hasattr(value, "extend"):
                getattr(stored, path).extend(value)
            elif hasattr(value, "CopyFrom"):
                getattr(stored, path).CopyFrom(value)
            else:
                setattr(stored, path, value)
        self._tick(stored)
        return automation_service_pb2.UpdateAutomationResponse(automation=stored)

    async def DeleteAutomation(self, request: Any, context: Any) -> Any:
        self._get(request.id)
        del self.stored[parse_uuid(request.id)]
        return automation_service_pb2.DeleteAutomationResponse()

    async def PauseAutomation(self, request: Any, context: Any) -> Any:
        stored = self._get(request.id)
        stored.enabled = False
        return automation_service_pb2.PauseAutomationResponse(automation=stored)

    async def ResumeAutomation(self, request: Any, context: Any) -> Any:
        stored = self._get(request.id)
        stored.enabled = True
        return automation_service_pb2.ResumeAutomationResponse(automation=stored)

    async def CountAutomations(self, request: Any, context: Any) -> Any:
        return automation_service_pb2.CountAutomationsResponse(count=len(self.stored))

    async def ListRelatedAutomations(self, request: Any, context: Any) -> Any:
        related = [a for a in self.stored.values() if a.owner_resource == request.resource_id]
        return automation_service_pb2.ListRelatedAutomationsResponse(automations=related)

    async def DeleteOwnedAutomations(self, request: Any, context: Any) -> Any:
        owned = [k for k, a in self.stored.items() if a.owner_resource == request.resource_id]
        for key in owned:
            del self.stored[key]
        return automation_service_pb2.DeleteOwnedAutomationsResponse(deleted_count=len(owned))

    async def ValidateTemplate(self, request: Any, context: Any) -> Any:
        if "{{" in request.template and "}}" not in request.template:
            return automation_service_pb2.ValidateTemplateResponse(
                valid=False, line=1, message="unexpected end of template"
            )
        return automation_service_pb2.ValidateTemplateResponse(valid=True)


class Events(events_service_pb2_grpc.EventsServiceServicer):
    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}
        self.request_sizes: list[int] = []
        self.fail_next = 0

    def _take(self, events: Any) -> tuple[list[str], list[Any]]:
        accepted, rejected = [], []
        for index, event in enumerate(events):
            if not event.resource.labels.get("prefect.resource.id"):
                rejected.append(
                    events_service_pb2.RejectedEvent(
                        index=index,
                        event_id=event.id,
                        reason="prefect.resource.id is required",
                        field='resource.labels["prefect.resource.id"]',
                    )
                )
                continue
            event.received_time.FromSeconds(1_700_000_000)
            self.stored[event.id] = event
            accepted.append(event.id)
        return accepted, rejected

    async def EmitEvents(self, request: Any, context: Any) -> Any:
        self.request_sizes.append(len(request.events))
        if not request.events:
            raise InvalidArgument.for_field("events", "must not be empty")
        accepted, rejected = self._take(request.events)
        return events_service_pb2.EmitEventsResponse(
            accepted_count=len(accepted), accepted_ids=accepted, rejected=rejected
        )

    async def EmitEventStream(
        self, request_iterator: Any, context: Any
    ) -> AsyncIterator[events_service_pb2.EmitEventStreamResponse]:
        async for batch in request_iterator:
            accepted, rejected = self._take(batch.events)
            yield events_service_pb2.EmitEventStreamResponse(
                batch_id=batch.batch_id,
                accepted_count=len(accepted),
                accepted_ids=accepted,
                rejected=rejected,
            )

    def _matching(self, request: Any) -> list[Any]:
        names = set(request.filter.event.name)
        return [e for e in self.stored.values() if not names or e.event in names]

    async def QueryEvents(self, request: Any, context: Any) -> Any:
        found = self._matching(request)
        start = int(request.page_token or 0)
        size = request.page_size or 50
        token = str(start + size) if start + size < len(found) else ""
        return events_service_pb2.QueryEventsResponse(
            events=found[start : start + size], total_size=len(found), next_page_token=token
        )

    async def CountEvents(self, request: Any, context: Any) -> Any:
        counts: dict[str, int] = {}
        for event in self._matching(request):
            counts[event.event] = counts.get(event.event, 0) + 1
        return events_service_pb2.CountEventsResponse(
            counts=[
                events_service_pb2.EventCount(value=k, label=k, count=v)
                for k, v in sorted(counts.items())
            ]
        )

    async def SubscribeEvents(
        self, request: Any, context: Any
    ) -> AsyncIterator[events_service_pb2.SubscribeEventsResponse]:
        for event in self._matching(request):
            yield events_service_pb2.SubscribeEventsResponse(event=event)


class Blocks(block_service_pb2_grpc.BlockServiceServicer):
    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}

    @staticmethod
    def _masked(block: Any) -> Any:
        copy = block_pb2.Block()
        copy.CopyFrom(block)
        kind = str(copy.WhichOneof("config"))
        config = getattr(copy, kind)
        if hasattr(config, "url") and kind != "custom_webhook":
            config.url = MASK
        if kind == "webhook":
            for key in config.headers:
                config.headers[key] = MASK
        return copy

    def _by(self, id: str = "", name: str = "") -> Any:
        for block in self.stored.values():
            if block.id == id or (name and block.name == name):
                return block
        raise NotFound("block", id or name)

    async def CreateBlock(self, request: Any, context: Any) -> Any:
        block = request.block
        if any(b.name == block.name for b in self.stored.values()):
            raise AlreadyExists(f"a block named {block.name!r} already exists")
        block.id = str(uuid.uuid4())
        self.stored[block.id] = block
        return block_service_pb2.CreateBlockResponse(block=self._masked(block))

    async def GetBlock(self, request: Any, context: Any) -> Any:
        if bool(request.id) == bool(request.name):
            raise InvalidArgument.for_field("id", "give exactly one of id and name")
        return block_service_pb2.GetBlockResponse(
            block=self._masked(self._by(request.id, request.name))
        )

    async def ListBlocks(self, request: Any, context: Any) -> Any:
        found = [
            self._masked(b)
            for b in self.stored.values()
            if not request.kind or b.WhichOneof("config") == request.kind
        ]
        return block_service_pb2.ListBlocksResponse(blocks=found)

    async def UpdateBlock(self, request: Any, context: Any) -> Any:
        stored = self._by(request.block.id)
        incoming = request.block
        kind = incoming.WhichOneof("config")
        old = getattr(stored, kind)
        new = getattr(incoming, kind)
        if getattr(new, "url", None) == MASK:
            new.url = old.url
        self.stored[stored.id] = incoming
        return block_service_pb2.UpdateBlockResponse(block=self._masked(incoming))

    async def DeleteBlock(self, request: Any, context: Any) -> Any:
        stored = self._by(parse_uuid(request.id))
        del self.stored[stored.id]
        return block_service_pb2.DeleteBlockResponse()

    async def TestBlock(self, request: Any, context: Any) -> Any:
        self._by(request.id)
        return block_service_pb2.TestBlockResponse(ok=True, detail="sent")


class Actions(action_service_pb2_grpc.ActionServiceServicer):
    def __init__(self) -> None:
        self.runs = [
            action_run_pb2.ActionRun(
                id=f"run-{n}",
                automation_id="a" if n % 2 else "b",
                action_type="call-webhook",
                state=action_run_pb2.ACTION_RUN_STATE_SUCCEEDED,
            )
            for n in range(5)
        ]

    async def ListActionRuns(self, request: Any, context: Any) -> Any:
        found = [
            r
            for r in self.runs
            if (not request.automation_id or r.automation_id == request.automation_id)
            and (not request.states or r.state in request.states)
        ]
        start = int(request.page_token or 0)
        size = request.page_size or 50
        token = str(start + size) if start + size < len(found) else ""
        return action_service_pb2.ListActionRunsResponse(
            action_runs=found[start : start + size], next_page_token=token
        )

    async def GetActionRun(self, request: Any, context: Any) -> Any:
        for run in self.runs:
            if run.id == request.id:
                return action_service_pb2.GetActionRunResponse(action_run=run)
        raise NotFound("action run", request.id)


class Webhooks(webhook_service_pb2_grpc.WebhookServiceServicer):
    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}

    def _get(self, id: str) -> Any:
        key = parse_uuid(id)
        if key not in self.stored:
            raise NotFound("webhook", key)
        return self.stored[key]

    @staticmethod
    def _masked(webhook: Any) -> Any:
        copy = webhook_pb2.Webhook()
        copy.CopyFrom(webhook)
        if copy.secret:
            copy.secret = MASK
        return copy

    async def CreateWebhook(self, request: Any, context: Any) -> Any:
        webhook = request.webhook
        if not webhook.template:
            raise InvalidArgument.for_field("webhook.template", "must not be empty")
        webhook.id = str(uuid.uuid4())
        webhook.slug = webhook.slug or uuid.uuid4().hex[:16]
        self.stored[webhook.id] = webhook
        return webhook_service_pb2.CreateWebhookResponse(webhook=self._masked(webhook))

    async def GetWebhook(self, request: Any, context: Any) -> Any:
        return webhook_service_pb2.GetWebhookResponse(webhook=self._masked(self._get(request.id)))

    async def ListWebhooks(self, request: Any, context: Any) -> Any:
        return webhook_service_pb2.ListWebhooksResponse(
            webhooks=[self._masked(w) for w in self.stored.values()]
        )

    async def UpdateWebhook(self, request: Any, context: Any) -> Any:
        stored = self._get(request.webhook.id)
        incoming = request.webhook
        if incoming.secret == MASK:
            incoming.secret = stored.secret
        self.stored[stored.id] = incoming
        return webhook_service_pb2.UpdateWebhookResponse(webhook=self._masked(incoming))

    async def DeleteWebhook(self, request: Any, context: Any) -> Any:
        del self.stored[self._get(request.id).id]
        return webhook_service_pb2.DeleteWebhookResponse()

    async def EnableWebhook(self, request: Any, context: Any) -> Any:
        stored = self._get(request.id)
        stored.enabled = True
        return webhook_service_pb2.EnableWebhookResponse(webhook=self._masked(stored))

    async def DisableWebhook(self, request: Any, context: Any) -> Any:
        stored = self._get(request.id)
        stored.enabled = False
        return webhook_service_pb2.DisableWebhookResponse(webhook=self._masked(stored))


class FakeStack:
    """One gRPC server on loopback serving all four fakes."""

    def __init__(self) -> None:
        self.automations = Automations()
        self.events = Events()
        self.blocks = Blocks()
        self.actions = Actions()
        self.webhooks = Webhooks()
        self.server = GrpcServer(
            "127.0.0.1",
            0,
            registrars=[
                lambda s: automation_service_pb2_grpc.add_AutomationServiceServicer_to_server(
                    self.automations, s
                ),
                lambda s: events_service_pb2_grpc.add_EventsServiceServicer_to_server(
                    self.events, s
                ),
                lambda s: block_service_pb2_grpc.add_BlockServiceServicer_to_server(self.blocks, s),
                lambda s: action_service_pb2_grpc.add_ActionServiceServicer_to_server(
                    self.actions, s
                ),
                lambda s: webhook_service_pb2_grpc.add_WebhookServiceServicer_to_server(
                    self.webhooks, s
                ),
            ],
            service_names=[],
        )

    @property
    def address(self) -> str:
        return self.server.address


__all__ = ["FakeStack", "grpc"]
