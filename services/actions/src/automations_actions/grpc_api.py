"""BlockService and ActionService: convert requests, delegate, convert answers."""

from __future__ import annotations

from typing import Any

import grpc

from automations.v1 import (
    action_service_pb2,
    action_service_pb2_grpc,
    block_service_pb2,
    block_service_pb2_grpc,
)
from automations_actions.blocks import Blocks
from automations_actions.convert import (
    block_from_proto,
    block_to_proto,
    run_state_from_proto,
    run_to_proto,
    timestamp_from_proto,
)
from automations_actions.ledger import SqlLedger
from automations_actions.runs import RunQuery
from automations_common.errors import InvalidArgument, NotFound
from automations_common.ids import parse_uuid
from automations_common.paging import clamp_page_size, decode_page_token, encode_page_token

Context = grpc.aio.ServicerContext[Any, Any]


class BlockApi(block_service_pb2_grpc.BlockServiceServicer):
    def __init__(self, blocks: Blocks) -> None:
        self._blocks = blocks

    async def CreateBlock(  # noqa: N802
        self, request: block_service_pb2.CreateBlockRequest, context: Context
    ) -> block_service_pb2.CreateBlockResponse:
        kind, config = block_from_proto(request.block)
        if not kind:
            raise InvalidArgument.for_field("block.config", "set one block type (webhook, ...)")
        block = await self._blocks.create(request.block.name, kind, config)
        return block_service_pb2.CreateBlockResponse(block=block_to_proto(block))

    async def GetBlock(  # noqa: N802
        self, request: block_service_pb2.GetBlockRequest, context: Context
    ) -> block_service_pb2.GetBlockResponse:
        block = await self._blocks.get(block_id=request.id, name=request.name)
        return block_service_pb2.GetBlockResponse(block=block_to_proto(block))

    async def ListBlocks(  # noqa: N802
        self, request: block_service_pb2.ListBlocksRequest, context: Context
    ) -> block_service_pb2.ListBlocksResponse:
        query = {"kind": request.kind}
        size = clamp_page_size(request.page_size, 100, 500)
        page = await self._blocks.list(
            request.kind, decode_page_token(request.page_token, query), size
        )
        token = encode_page_token(query, page.next_position) if page.next_position else ""
        return block_service_pb2.ListBlocksResponse(
            blocks=[block_to_proto(b) for b in page.blocks], next_page_token=token
        )

    async def UpdateBlock(  # noqa: N802
        self, request: block_service_pb2.UpdateBlockRequest, context: Context
    ) -> block_service_pb2.UpdateBlockResponse:
        if not request.block.id:
            raise InvalidArgument.for_field("block.id", "is required")
        kind, config = block_from_proto(request.block)
        block = await self._blocks.update(
            request.block.id,
            request.block.name,
            kind,
            config,
            list(request.update_mask.paths),
        )
        return block_service_pb2.UpdateBlockResponse(block=block_to_proto(block))

    async def DeleteBlock(  # noqa: N802
        self, request: block_service_pb2.DeleteBlockRequest, context: Context
    ) -> block_service_pb2.DeleteBlockResponse:
        await self._blocks.delete(request.id)
        return block_service_pb2.DeleteBlockResponse()

    async def TestBlock(  # noqa: N802
        self, request: block_service_pb2.TestBlockRequest, context: Context
    ) -> block_service_pb2.TestBlockResponse:
        ok, detail = await self._blocks.test(request.id, request.subject, request.body)
        return block_service_pb2.TestBlockResponse(ok=ok, detail=detail)


class ActionRunApi(action_service_pb2_grpc.ActionServiceServicer):
    def __init__(self, ledger: SqlLedger, workspace: str) -> None:
        self._ledger = ledger
        self._workspace = workspace

    async def ListActionRuns(  # noqa: N802
        self, request: action_service_pb2.ListActionRunsRequest, context: Context
    ) -> action_service_pb2.ListActionRunsResponse:
        automation_id = (
            parse_uuid(request.automation_id, "automation_id") if request.automation_id else ""
        )
        try:
            states = tuple(run_state_from_proto(s) for s in request.states if s)
        except ValueError:
            raise InvalidArgument.for_field("states", "contains an unknown state") from None
        query = RunQuery(
            workspace=self._workspace,
            automation_id=automation_id,
            states=states,
            since=timestamp_from_proto(request.since),
            until=timestamp_from_proto(request.until),
        )
        fingerprint = {
            "automation_id": automation_id,
            "states": [str(s) for s in states],
            "since": str(query.since),
            "until": str(query.until),
        }
        size = clamp_page_size(request.page_size, 50, 500)
        runs, position = await self._ledger.list(
            query, decode_page_token(request.page_token, fingerprint), size
        )
        return action_service_pb2.ListActionRunsResponse(
            action_runs=[run_to_proto(r) for r in runs],
            next_page_token=encode_page_token(fingerprint, position) if position else "",
        )

    async def GetActionRun(  # noqa: N802
        self, request: action_service_pb2.GetActionRunRequest, context: Context
    ) -> action_service_pb2.GetActionRunResponse:
        run = await self._ledger.get(self._workspace, parse_uuid(request.id, "id"))
        if run is None:
            raise NotFound("action run", request.id)
        return action_service_pb2.GetActionRunResponse(action_run=run_to_proto(run))
