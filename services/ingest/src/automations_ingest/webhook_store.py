"""Incoming webhook definitions in SQL; their secrets encrypted at rest."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from automations_common.errors import AlreadyExists, NotFound
from automations_common.secret_box import SecretBox
from automations_ingest.tables import webhook_table
from automations_ingest.webhooks import Webhook

W = webhook_table.c


def _row(webhook: Webhook, box: SecretBox) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "workspace": webhook.workspace,
        "name": webhook.name,
        "description": webhook.description,
        "slug": webhook.slug,
        "template": webhook.template,
        "enabled": webhook.enabled,
        "verification": webhook.verification,
        "signature_header": webhook.signature_header,
        "secret": box.encrypt(webhook.secret) if webhook.secret else "",
        "create_time": webhook.created,
        "update_time": webhook.updated,
    }


def _webhook(row: RowMapping, box: SecretBox) -> Webhook:
    return Webhook(
        id=row["id"],
        name=row["name"],
        slug=row["slug"],
        template=row["template"],
        created=row["create_time"],
        updated=row["update_time"],
        description=row["description"],
        enabled=row["enabled"],
        verification=row["verification"],
        signature_header=row["signature_header"],
        secret=box.reveal(row["secret"]),
        workspace=row["workspace"],
    )


def _slug_taken(slug: str) -> AlreadyExists:
    return AlreadyExists(f"a webhook with slug {slug!r} already exists", reason="SLUG_TAKEN")


class WebhookStore:
    def __init__(self, engine: AsyncEngine, workspace: str, box: SecretBox) -> None:
        self._engine = engine
        self._workspace = workspace
        self._box = box

    @property
    def workspace(self) -> str:
        return self._workspace

    async def create(self, webhook: Webhook) -> Webhook:
        try:
            async with self._engine.begin() as connection:
                await connection.execute(insert(webhook_table).values(_row(webhook, self._box)))
        except IntegrityError:
            raise _slug_taken(webhook.slug) from None
        return webhook

    async def get(self, webhook_id: str) -> Webhook:
        async with self._engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(webhook_table).where(
                            W.id == webhook_id, W.workspace == self._workspace
                        )
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound("webhook", webhook_id)
        return _webhook(row, self._box)

    async def by_slug(self, slug: str) -> Webhook | None:
        async with self._engine.connect() as connection:
            row = (
                (await connection.execute(select(webhook_table).where(W.slug == slug)))
                .mappings()
                .first()
            )
        return _webhook(row, self._box) if row is not None else None

    async def list(self, limit: int, offset: int) -> list[Webhook]:
        statement = (
            select(webhook_table)
            .where(W.workspace == self._workspace)
            .order_by(W.create_time, W.id)
            .limit(limit)
            .offset(offset)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [_webhook(r, self._box) for r in rows]

    async def replace(self, webhook: Webhook) -> Webhook:
        values = _row(webhook, self._box)
        del values["id"], values["create_time"]
        try:
            async with self._engine.begin() as connection:
                result = await connection.execute(
                    update(webhook_table)
                    .where(W.id == webhook.id, W.workspace == self._workspace)
                    .values(values)
                )
        except IntegrityError:
            raise _slug_taken(webhook.slug) from None
        if result.rowcount == 0:
            raise NotFound("webhook", webhook.id)
        return webhook

    async def delete(self, webhook_id: str) -> None:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(webhook_table).where(W.id == webhook_id, W.workspace == self._workspace)
            )
        if result.rowcount == 0:
            raise NotFound("webhook", webhook_id)
