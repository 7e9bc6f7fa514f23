"""Blocks in SQL, with every secret field encrypted before it reaches the database."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from automations_actions.blocks import SECRETS, Block, BlockPage
from automations_actions.tables import as_utc
from automations_actions.tables import block as block_table
from automations_common.errors import AlreadyExists
from automations_common.secret_box import SecretBox


class SqlBlockStore:
    """BlockStore on SQLAlchemy; the SecretBox encrypts on write and decrypts on read."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], box: SecretBox | None = None
    ) -> None:
        self._sessions = sessions
        self._secret_box = box

    def use(self, box: SecretBox) -> None:
        """Set the key once it is loaded (the key file is read off the event loop)."""
        self._secret_box = box

    @property
    def _box(self) -> SecretBox:
        if self._secret_box is None:
            raise RuntimeError("the block store has no key yet; start the service first")
        return self._secret_box

    def _seal(self, kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
        return _transform(kind, config, self._box.encrypt)

    def _open(self, row: RowMapping) -> Block:
        return Block(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            config=_transform(row["kind"], row["config"], self._box.decrypt),
            workspace=row["workspace"],
            created=as_utc(row["created"]),
            updated=as_utc(row["updated"]),
        )

    async def insert(self, block: Block) -> Block:
        now = datetime.now(UTC)
        values = {
            "id": block.id,
            "workspace": block.workspace,
            "name": block.name,
            "kind": block.kind,
            "config": self._seal(block.kind, block.config),
            "created": now,
            "updated": now,
        }
        try:
            async with self._sessions.begin() as session:
                await session.execute(insert(block_table).values(**values))
        except IntegrityError:
            raise AlreadyExists(
                f"a {block.kind} block named {block.name!r} already exists"
            ) from None
        return Block(**{**block.__dict__, "created": now, "updated": now})

    async def get(self, workspace: str, block_id: str) -> Block | None:
        rows = await self._select(workspace, block_table.c.id == block_id)
        return self._open(rows[0]) if rows else None

    async def find_by_name(self, workspace: str, name: str) -> list[Block]:
        return [
            self._open(row) for row in await self._select(workspace, block_table.c.name == name)
        ]

    async def _select(self, workspace: str, condition: ColumnElement[bool]) -> Sequence[RowMapping]:
        async with self._sessions() as session:
            result = await session.execute(
                select(block_table).where(block_table.c.workspace == workspace, condition)
            )
            return result.mappings().all()

    async def name_taken(self, workspace: str, kind: str, name: str, except_id: str) -> bool:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(block_table)
                .where(
                    block_table.c.workspace == workspace,
                    block_table.c.kind == kind,
                    block_table.c.name == name,
                    block_table.c.id != except_id,
                )
            )
        return bool(count)

    async def list(
        self, workspace: str, kind: str, after: Mapping[str, Any] | None, limit: int
    ) -> BlockPage:
        query = select(block_table).where(block_table.c.workspace == workspace)
        if kind:
            query = query.where(block_table.c.kind == kind)
        if after:
            created = datetime.fromisoformat(str(after["created"]))
            query = query.where(
                or_(
                    block_table.c.created > created,
                    and_(block_table.c.created == created, block_table.c.id > str(after["id"])),
                )
            )
        query = query.order_by(block_table.c.created, block_table.c.id).limit(limit + 1)
        async with self._sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        blocks = [self._open(row) for row in rows[:limit]]
        next_position = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_position = {"created": last["created"].isoformat(), "id": last["id"]}
        return BlockPage(blocks, next_position)

    async def update(self, block: Block) -> Block:
        now = datetime.now(UTC)
        try:
            async with self._sessions.begin() as session:
                await session.execute(
                    update(block_table)
                    .where(block_table.c.workspace == block.workspace, block_table.c.id == block.id)
                    .values(
                        name=block.name,
                        config=self._seal(block.kind, block.config),
                        updated=now,
                    )
                )
        except IntegrityError:
            raise AlreadyExists(
                f"a {block.kind} block named {block.name!r} already exists"
            ) from None
        return Block(**{**block.__dict__, "updated": now})

    async def delete(self, workspace: str, block_id: str) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(block_table).where(
                    block_table.c.workspace == workspace, block_table.c.id == block_id
                )
            )
        return bool(getattr(result, "rowcount", 0))


def _transform(kind: str, config: Mapping[str, Any], change: Any) -> dict[str, Any]:
    """`config` with `change` applied to every non-empty secret value."""
    spec = SECRETS[kind]
    result = copy.deepcopy(dict(config))
    for name in spec.strings:
        if result.get(name):
            result[name] = change(result[name])
    for name in spec.maps:
        values = result.get(name) or {}
        result[name] = {key: change(value) if value else value for key, value in values.items()}
    return result
