"""Incoming webhooks end to end: WebhookService CRUD and real HTTP requests to /hooks/{slug}."""

from __future__ import annotations

import hashlib
import hmac
import json

import grpc
import httpx
import pytest
import sqlalchemy as sa
from google.protobuf.field_mask_pb2 import FieldMask

from automations.v1 import event_filter_pb2 as f
from automations.v1 import events_service_pb2 as events_pb
from automations.v1 import webhook_pb2
from automations.v1 import webhook_service_pb2 as pb
from automations_common.database import create_engine
from automations_ingest.app import IngestApp
from automations_ingest.tables import webhook_table
from tests.support.waiting import eventually

TEMPLATE = json.dumps(
    {
        "event": "shop.order.{{ body.status }}",
        "resource": {
            "prefect.resource.id": "shop.order.{{ body.order_id }}",
            "source": "{{ headers['x-source'] }}",
        },
        "payload": {"total": "{{ body.total }}", "via": "{{ query.via }}"},
    }
)


async def _stream_count(ingest: IngestApp, events_stub) -> int:
    page = await events_stub.CountEvents(
        events_pb.CountEventsRequest(countable=events_pb.COUNTABLE_EVENT)
    )
    return sum(c.count for c in page.counts)


async def test_a_webhook_request_becomes_the_templated_event(
    ingest: IngestApp, webhooks_stub, events_stub
) -> None:
    created = (
        await webhooks_stub.CreateWebhook(
            pb.CreateWebhookRequest(
                webhook=webhook_pb2.Webhook(
                    name="shop", slug="shop", template=TEMPLATE, enabled=True
                )
            )
        )
    ).webhook
    assert created.id
    assert created.slug == "shop"
    assert created.enabled
    async with httpx.AsyncClient(base_url=ingest.http_url) as http:
        reply = await http.post(
            "/hooks/shop?via=test",
            json={"status": "paid", "order_id": 42, "total": 9.5},
            headers={"X-Source": "checkout"},
        )
        assert reply.status_code == 202, reply.text
        event_id = reply.json()["id"]

        async def stored():
            page = await events_stub.QueryEvents(
                events_pb.QueryEventsRequest(
                    filter=f.EventFilter(id=f.EventIdFilter(id=[event_id]))
                )
            )
            return list(page.events)

        (event,) = await eventually(stored, what="the webhook event is stored")
        assert event.event == "shop.order.paid"
        assert dict(event.resource.labels) == {
            "prefect.resource.id": "shop.order.42",
            "source": "checkout",
        }
        assert event.payload["total"] == "9.5"
        assert event.payload["via"] == "test"
        webhook_related = event.related[-1].labels
        assert webhook_related["prefect.resource.id"] == f"prefect.webhook.{created.id}"
        assert webhook_related["prefect.resource.role"] == "webhook"

        # Bad input: 400 with the reason, nothing published, and the endpoint keeps serving.
        before = await _stream_count(ingest, events_stub)
        bad = await http.post(
            "/hooks/shop", content=b"{oops", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        assert "not valid JSON" in bad.json()["error"]
        no_resource = await http.post("/hooks/shop", json={"status": "paid", "order_id": ""})
        assert no_resource.status_code == 202  # "shop.order." is still a resource id
        missing = await http.post("/hooks/nowhere", json={})
        assert missing.status_code == 404

        await webhooks_stub.DisableWebhook(pb.DisableWebhookRequest(id=created.id))
        assert (
            await http.post("/hooks/shop", json={"status": "x", "order_id": 1})
        ).status_code == 404
        await webhooks_stub.EnableWebhook(pb.EnableWebhookRequest(id=created.id))
        assert (
            await http.post("/hooks/shop", json={"status": "x", "order_id": 1})
        ).status_code == 202

        await eventually(
            lambda: _expect_count(ingest, events_stub, before + 2), what="only good requests stored"
        )


async def _expect_count(ingest: IngestApp, events_stub, expected: int) -> bool:
    return await _stream_count(ingest, events_stub) == expected


async def test_a_template_that_renders_a_bad_event_is_400_and_nothing_is_published(
    ingest: IngestApp, webhooks_stub
) -> None:
    await webhooks_stub.CreateWebhook(
        pb.CreateWebhookRequest(
            webhook=webhook_pb2.Webhook(
                name="broken",
                slug="broken",
                template='{"event": "x", "resource": {"name": "{{ body.name }}"}}',
                enabled=True,
            )
        )
    )
    async with httpx.AsyncClient(base_url=ingest.http_url) as http:
        reply = await http.post("/hooks/broken", json={"name": "n"})
    assert reply.status_code == 400
    assert "prefect.resource.id" in reply.json()["error"]


async def test_hmac_signed_webhooks_refuse_unsigned_requests(
    ingest: IngestApp, webhooks_stub
) -> None:
    created = (
        await webhooks_stub.CreateWebhook(
            pb.CreateWebhookRequest(
                webhook=webhook_pb2.Webhook(
                    name="signed",
                    slug="signed",
                    template=TEMPLATE,
                    enabled=True,
                    verification=webhook_pb2.WEBHOOK_VERIFICATION_HMAC_SHA256,
                    secret="topsecret",
                )
            )
        )
    ).webhook
    assert created.secret == "********"
    assert created.signature_header == "x-signature"
    body = json.dumps({"status": "paid", "order_id": 1}).encode()
    digest = hmac.new(b"topsecret", body, hashlib.sha256).hexdigest()
    async with httpx.AsyncClient(base_url=ingest.http_url) as http:
        unsigned = await http.post(
            "/hooks/signed", content=body, headers={"content-type": "application/json"}
        )
        assert unsigned.status_code == 401
        signed = await http.post(
            "/hooks/signed",
            content=body,
            headers={"content-type": "application/json", "x-signature": f"sha256={digest}"},
        )
        assert signed.status_code == 202, signed.text


async def test_webhook_service_crud(webhooks_stub) -> None:
    made = []
    for i in range(3):
        reply = await webhooks_stub.CreateWebhook(
            pb.CreateWebhookRequest(webhook=webhook_pb2.Webhook(name=f"hook{i}", template=TEMPLATE))
        )
        made.append(reply.webhook)
    assert all(w.slug for w in made)
    assert len({w.slug for w in made}) == 3

    got = (await webhooks_stub.GetWebhook(pb.GetWebhookRequest(id=made[0].id))).webhook
    assert got.name == "hook0"

    first = await webhooks_stub.ListWebhooks(pb.ListWebhooksRequest(page_size=2))
    second = await webhooks_stub.ListWebhooks(
        pb.ListWebhooksRequest(page_size=2, page_token=first.next_page_token)
    )
    assert [w.id for w in [*first.webhooks, *second.webhooks]] == [w.id for w in made]
    assert not second.next_page_token

    updated = (
        await webhooks_stub.UpdateWebhook(
            pb.UpdateWebhookRequest(
                webhook=webhook_pb2.Webhook(id=made[1].id, description="renamed", name="ignored"),
                update_mask=FieldMask(paths=["description"]),
            )
        )
    ).webhook
    assert updated.description == "renamed"
    assert updated.name == "hook1"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await webhooks_stub.UpdateWebhook(
            pb.UpdateWebhookRequest(
                webhook=webhook_pb2.Webhook(id=made[1].id, slug=made[0].slug),
                update_mask=FieldMask(paths=["slug"]),
            )
        )
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS

    await webhooks_stub.DeleteWebhook(pb.DeleteWebhookRequest(id=made[2].id))
    bad_calls = [
        (webhooks_stub.GetWebhook(pb.GetWebhookRequest(id=made[2].id)), grpc.StatusCode.NOT_FOUND),
        (
            webhooks_stub.DeleteWebhook(pb.DeleteWebhookRequest(id=made[2].id)),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            webhooks_stub.GetWebhook(pb.GetWebhookRequest(id="nope")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            webhooks_stub.CreateWebhook(
                pb.CreateWebhookRequest(webhook=webhook_pb2.Webhook(name="x", template="{{ oops"))
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            webhooks_stub.CreateWebhook(
                pb.CreateWebhookRequest(
                    webhook=webhook_pb2.Webhook(name="dup", slug=made[0].slug, template=TEMPLATE)
                )
            ),
            grpc.StatusCode.ALREADY_EXISTS,
        ),
    ]
    for call, code in bad_calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == code
    # Still serving after all that.
    assert (
        await webhooks_stub.GetWebhook(pb.GetWebhookRequest(id=made[0].id))
    ).webhook.name == "hook0"


async def test_webhook_secrets_are_encrypted_at_rest(
    ingest: IngestApp, webhooks_stub, database_url: str
) -> None:
    await webhooks_stub.CreateWebhook(
        pb.CreateWebhookRequest(
            webhook=webhook_pb2.Webhook(
                name="sealed",
                slug="sealed",
                template=TEMPLATE,
                enabled=True,
                verification=webhook_pb2.WEBHOOK_VERIFICATION_SHARED_SECRET,
                signature_header="x-token",
                secret="topsecret",
            )
        )
    )
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            stored = (
                await connection.execute(
                    sa.select(webhook_table.c.secret).where(webhook_table.c.slug == "sealed")
                )
            ).scalar_one()
        assert stored.startswith("enc:v1:")
        assert "topsecret" not in stored

        async def send(token: str) -> int:
            async with httpx.AsyncClient(base_url=ingest.http_url) as http:
                reply = await http.post(
                    "/hooks/sealed",
                    json={"status": "paid", "order_id": 1},
                    headers={"x-token": token},
                )
            return reply.status_code

        assert await send("topsecret") == 202
        assert await send("wrong") == 401
        # A row written before secrets were encrypted still verifies requests.
        async with engine.begin() as connection:
            await connection.execute(
                sa.update(webhook_table)
                .where(webhook_table.c.slug == "sealed")
                .values(secret="topsecret")
            )
        assert await send("topsecret") == 202
    finally:
        await engine.dispose()
