"""BlockService calls, and Prefect's Block.save/load on top of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

import grpc

from automations import _convert
from automations._blocks import Block
from automations._errors import AlreadyExistsError, NotFoundError
from automations._transport import Transport
from automations.v1 import block_service_pb2

B = TypeVar("B", bound=Block)


@dataclass(frozen=True)
class BlockTestResult:
    """Whether a test message went out through a block, and what happened."""

    ok: bool
    detail: str = ""


class BlocksApi(Transport):
    """BlockService calls, and Prefect's Block.save/load on top of them."""

    async def create_block(self, block: Block, name: str) -> Block:
        """Stores a block under a new name; AlreadyExistsError when the name is taken."""
        response = await self._call(
            self._stubs().blocks.CreateBlock,
            block_service_pb2.CreateBlockRequest(block=_convert.block_to_proto(block, name)),
        )
        return _convert.block_from_proto(response.block)

    async def get_block(self, id: str | UUID | None = None, name: str | None = None) -> Block:
        """A block by id or by name (secrets masked); NotFoundError when there is none."""
        if (id is None) == (name is None):
            raise ValueError("Give exactly one of id or name")
        response = await self._call(
            self._stubs().blocks.GetBlock,
            block_service_pb2.GetBlockRequest(id=str(id) if id else "", name=name or ""),
        )
        return _convert.block_from_proto(response.block)

    async def list_blocks(self, kind: str = "") -> list[Block]:
        """Every block, or those of one kind (`webhook`, `slack_webhook`, `email`, ...)."""
        found: list[Block] = []
        token = ""
        while True:
            response = await self._call(
                self._stubs().blocks.ListBlocks,
                block_service_pb2.ListBlocksRequest(page_size=500, page_token=token, kind=kind),
            )
            found.extend(_convert.block_from_proto(b) for b in response.blocks)
            token = response.next_page_token
            if not token:
                return found

    async def update_block(self, block: Block, id: str | UUID, name: str) -> Block:
        """Replaces a block's configuration; masked secrets keep their stored values."""
        response = await self._call(
            self._stubs().blocks.UpdateBlock,
            block_service_pb2.UpdateBlockRequest(
                block=_convert.block_to_proto(block, name, block_id=str(id))
            ),
        )
        return _convert.block_from_proto(response.block)

    async def delete_block(self, id: str | UUID) -> bool:
        """True, or False when it was already gone."""
        try:
            await self._call(
                self._stubs().blocks.DeleteBlock, block_service_pb2.DeleteBlockRequest(id=str(id))
            )
        except NotFoundError:
            return False
        return True

    async def test_block(
        self, id: str | UUID, subject: str = "Test", body: str = "A test message"
    ) -> BlockTestResult:
        """Sends a test message through a block; `ok` says whether it went out."""
        response = await self._call(
            self._stubs().blocks.TestBlock,
            block_service_pb2.TestBlockRequest(id=str(id), subject=subject, body=body),
        )
        return BlockTestResult(ok=response.ok, detail=response.detail)

    async def save_block(self, block: Block, name: str, *, overwrite: bool = False) -> UUID:
        """Prefect's Block.save: creates, or with `overwrite` replaces, the named block."""
        try:
            stored = await self.create_block(block, name)
        except AlreadyExistsError:
            if not overwrite:
                raise AlreadyExistsError(
                    f"A block named {name!r} already exists; save with overwrite=True to "
                    "replace it",
                    code=grpc.StatusCode.ALREADY_EXISTS,
                    reason="BLOCK_ALREADY_EXISTS",
                ) from None
            existing = await self.get_block(name=name)
            assert existing.block_document_id is not None
            stored = await self.update_block(block, existing.block_document_id, name)
        assert stored.block_document_id is not None
        block._bind(stored.block_document_id, name)
        return stored.block_document_id

    async def load_block(self, cls: type[B], name: str) -> B:
        """Prefect's Block.load: the named block as `cls`; ValueError when there is none."""
        try:
            block = await self.get_block(name=name)
        except NotFoundError:
            raise ValueError(f"Unable to find block document named {name!r}") from None
        if not isinstance(block, cls):
            raise ValueError(
                f"The block named {name!r} is a {type(block).__name__}, not a {cls.__name__}"
            )
        return block
