"""BlockService on a running service: CRUD, masked secrets, encryption at rest, test sends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import select

from automations.v1 import block_pb2, block_service_pb2
from automations_actions.tables import block as block_table
from tests.integration.actions.harness import Harness, actions_settings, running_actions
from tests.support.receivers import HttpReceiver

pytestmark = pytest.mark.timeout(60)
MASK = "********"
SECRET_URL = "https://hooks.example.com/services/T000/B000/very-secret-token"


@pytest.fixture
async def actions(
    nats_url: str, namespace: str, database_url: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    async with running_actions(actions_settings(nats_url, namespace, database_url, tmp_path)) as h:
        yield h


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.close()


def webhook(
    name: str, url: str = SECRET_URL, *, allow_private_urls: bool = False
) -> block_pb2.Block:
    return block_pb2.Block(
        name=name,
        webhook=block_pb2.WebhookBlock(
            url=url,
            method="POST",
            headers={"Authorization": "Bearer abc"},
            verify=True,
            allow_private_urls=allow_private_urls,
        ),
    )


async def expect_error(code: grpc.StatusCode, call: Awaitable[object]) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    return str(info.value.details())


async def test_block_crud_masks_secrets_and_encrypts_them_at_rest(actions: Harness) -> None:
    stub = actions.blocks
    created = (
        await stub.CreateBlock(block_service_pb2.CreateBlockRequest(block=webhook("alerts")))
    ).block
    assert created.id
    assert created.webhook.url == MASK
    assert dict(created.webhook.headers) == {"Authorization": MASK}

    by_id = (await stub.GetBlock(block_service_pb2.GetBlockRequest(id=created.id))).block
    by_name = (await stub.GetBlock(block_service_pb2.GetBlockRequest(name="alerts"))).block
    assert by_id == by_name
    assert by_id.webhook.url == MASK
    assert by_id.webhook.method == "POST"

    # Encrypted at rest: the raw row holds no plaintext secret.
    async with actions.app.engine.connect() as connection:
        row = (await connection.execute(select(block_table.c.config))).scalar_one()
    raw = str(row)
    assert "very-secret-token" not in raw
    assert "hooks.example.com" not in raw
    assert "Bearer abc" not in raw
    assert row["url"].startswith("enc:v1:")

    # An update that sends the mask back keeps the stored secret.
    changed = webhook("alerts-renamed", url=MASK)
    changed.id = created.id
    changed.webhook.method = "PUT"
    changed.webhook.headers["Authorization"] = MASK
    updated = (await stub.UpdateBlock(block_service_pb2.UpdateBlockRequest(block=changed))).block
    assert updated.name == "alerts-renamed"
    assert updated.webhook.method == "PUT"
    stored = await actions.app.blocks.load(created.id)
    assert stored.config["url"] == SECRET_URL
    assert stored.config["headers"] == {"Authorization": "Bearer abc"}

    # An update mask touches only the named fields.
    only_name = block_pb2.Block(id=created.id, name="alerts-3")
    masked = (
        await stub.UpdateBlock(
            block_service_pb2.UpdateBlockRequest(
                block=only_name, update_mask=field_mask_pb2.FieldMask(paths=["name"])
            )
        )
    ).block
    assert masked.name == "alerts-3"
    assert masked.webhook.method == "PUT"

    await stub.DeleteBlock(block_service_pb2.DeleteBlockRequest(id=created.id))
    await expect_error(
        grpc.StatusCode.NOT_FOUND, stub.GetBlock(block_service_pb2.GetBlockRequest(id=created.id))
    )
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        stub.DeleteBlock(block_service_pb2.DeleteBlockRequest(id=created.id)),
    )
    await actions.assert_serving()


async def test_block_list_filters_by_kind_and_pages(actions: Harness) -> None:
    stub = actions.blocks
    for i in range(3):
        await stub.CreateBlock(block_service_pb2.CreateBlockRequest(block=webhook(f"w{i}")))
    slack = block_pb2.Block(name="team", slack_webhook=block_pb2.SlackWebhookBlock(url=SECRET_URL))
    await stub.CreateBlock(block_service_pb2.CreateBlockRequest(block=slack))

    first = await stub.ListBlocks(block_service_pb2.ListBlocksRequest(page_size=2, kind="webhook"))
    rest = await stub.ListBlocks(
        block_service_pb2.ListBlocksRequest(
            page_size=2, kind="webhook", page_token=first.next_page_token
        )
    )
    names = [b.name for b in [*first.blocks, *rest.blocks]]
    assert names == ["w0", "w1", "w2"]
    assert rest.next_page_token == ""
    everything = await stub.ListBlocks(block_service_pb2.ListBlocksRequest())
    assert len(everything.blocks) == 4
    assert all(b.webhook.url == MASK or b.slack_webhook.url == MASK for b in everything.blocks)
    await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.ListBlocks(block_service_pb2.ListBlocksRequest(page_token="garbage")),
    )


async def test_bad_block_input_gets_clear_statuses(actions: Harness) -> None:
    stub = actions.blocks
    details = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.CreateBlock(block_service_pb2.CreateBlockRequest(block=webhook("x", url="ftp://a/b"))),
    )
    assert "block.webhook.url" in details
    details = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.CreateBlock(block_service_pb2.CreateBlockRequest(block=webhook("x", url="not a url"))),
    )
    assert "block.webhook.url" in details
    await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.CreateBlock(block_service_pb2.CreateBlockRequest(block=block_pb2.Block(name="x"))),
    )
    await stub.CreateBlock(block_service_pb2.CreateBlockRequest(block=webhook("taken")))
    await expect_error(
        grpc.StatusCode.ALREADY_EXISTS,
        stub.CreateBlock(block_service_pb2.CreateBlockRequest(block=webhook("taken"))),
    )
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        stub.GetBlock(block_service_pb2.GetBlockRequest(id="00000000-0000-0000-0000-000000000000")),
    )
    details = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.GetBlock(block_service_pb2.GetBlockRequest(id="not-a-uuid")),
    )
    assert "not a valid UUID" in details
    await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.GetBlock(block_service_pb2.GetBlockRequest()),
    )
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        stub.GetBlock(block_service_pb2.GetBlockRequest(name="nobody")),
    )
    email = block_pb2.Block(name="mail", email=block_pb2.EmailBlock(smtp_server="smtp.example.com"))
    details = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.CreateBlock(block_service_pb2.CreateBlockRequest(block=email)),
    )
    assert "block.email.from_email" in details
    assert "block.email.to_emails" in details
    await actions.assert_serving()


async def test_test_block_sends_through_the_webhook(
    actions: Harness, receiver: HttpReceiver
) -> None:
    block = await actions.create_webhook_block(receiver.url + "/test")
    reply = await actions.blocks.TestBlock(
        block_service_pb2.TestBlockRequest(id=block.id, body="hello")
    )
    assert reply.ok, reply.detail
    assert reply.detail == "the webhook answered 200"
    assert receiver.requests[0].text == "hello"
    private = await actions.create_webhook_block(receiver.url, allow_private_urls=False)
    refused = await actions.blocks.TestBlock(block_service_pb2.TestBlockRequest(id=private.id))
    assert not refused.ok
    assert refused.detail.startswith("blocked:")
    assert len(receiver.requests) == 1
