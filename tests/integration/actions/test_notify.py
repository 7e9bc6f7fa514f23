"""send-notification reaches real local receivers: an SMTP server and HTTP endpoints."""

from __future__ import annotations

import email
import ipaddress
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from automations_actions.blocks import Block
from automations_actions.kinds.base import ActionFailed, ActionInvocation, TransientFailure
from automations_actions.kinds.notification import notification_executors
from automations_actions.notify import Notifier
from automations_actions.rendering import ContextRenderer
from automations_actions.webhook_transport import WebhookTransport
from automations_common.devstack import free_port
from automations_common.errors import NotFound
from tests.support.receivers import HttpReceiver


@dataclass
class Blocks:
    """Blocks with their secrets, as the block store hands them to executors."""

    blocks: dict[str, Block] = field(default_factory=dict)

    def add(self, kind: str, config: dict[str, Any], name: str = "alerts") -> Block:
        block = Block(id=str(uuid.uuid4()), name=name, kind=kind, config=config)
        self.blocks[block.id] = block
        return block

    async def load(self, block_id: str) -> Block:
        if block_id not in self.blocks:
            raise NotFound("block", block_id)
        return self.blocks[block_id]


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    yield server
    server.close()


@pytest.fixture
async def transport() -> AsyncIterator[WebhookTransport]:
    client = WebhookTransport(timeout_seconds=5.0)
    yield client
    await client.aclose()


@pytest.fixture
def blocks() -> Blocks:
    return Blocks()


@pytest.fixture
def send(blocks: Blocks, transport: WebhookTransport) -> Any:
    executors = notification_executors(
        blocks, Notifier(transport, timeout_seconds=5.0), ContextRenderer(None)
    )
    return executors["send-notification"]


EVENT = {
    "id": str(uuid.uuid4()),
    "occurred": "2026-11-21T10:00:00+00:00",
    "event": "prefect.flow-run.Failed",
    "resource": {
        "prefect.resource.id": "prefect.flow-run.5b0c5d2e-1ad6-4f4b-9d69-6bf2f3c81e7d",
        "prefect.resource.name": "silly-cat",
        "prefect.state-name": "Failed",
    },
    "related": [],
    "payload": {"attempts": 3},
}
SUBJECT = (
    "{{ event.resource['prefect.resource.name'] }} is {{ event.resource['prefect.state-name'] }}"
)
BODY = (
    "Automation {{ automation.name }} saw {{ event.event }}"
    " after {{ event.payload.attempts }} tries"
)
RENDERED_SUBJECT = "silly-cat is Failed"
RENDERED_BODY = "Automation ops saw prefect.flow-run.Failed after 3 tries"


def invocation(block_id: str, subject: str = SUBJECT, body: str = BODY) -> ActionInvocation:
    return ActionInvocation(
        action_id=str(uuid.uuid4()),
        action_index=0,
        action_type="send-notification",
        action={
            "type": "send-notification",
            "block_document_id": block_id,
            "subject": subject,
            "body": body,
        },
        automation={"id": str(uuid.uuid4()), "name": "ops"},
        firing={"id": str(uuid.uuid4()), "triggering_labels": {}},
        triggering_event=EVENT,
        triggered_time=datetime.now(UTC),
    )


async def test_email_reaches_the_smtp_server(
    smtp: tuple[Mailbox, int], blocks: Blocks, send: Any
) -> None:
    mailbox, port = smtp
    block = blocks.add(
        "email",
        {
            "smtp_server": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "SMTP_SECURITY_INSECURE",
            "from_email": "automations@example.com",
            "to_emails": ["oncall@example.com", "lead@example.com"],
            "allow_private_urls": True,
        },
    )

    outcome = await send(invocation(block.id))

    assert len(mailbox.messages) == 1
    sender, recipients, message = mailbox.messages[0]
    assert sender == "automations@example.com"
    assert recipients == ["oncall@example.com", "lead@example.com"]
    assert message["Subject"] == RENDERED_SUBJECT
    assert str(message.get_payload()).strip() == RENDERED_BODY
    assert outcome.resulting_related == [
        {
            "prefect.resource.id": f"prefect.block-document.{block.id}",
            "prefect.resource.role": "block",
            "prefect.resource.name": "alerts",
        },
        {"prefect.resource.id": "prefect.block-type.email", "prefect.resource.role": "block-type"},
    ]
    assert "accepted" in outcome.result["notification_log"]


async def test_email_to_a_private_server_is_refused_without_permission(
    smtp: tuple[Mailbox, int], blocks: Blocks, send: Any
) -> None:
    mailbox, port = smtp
    block = blocks.add(
        "email",
        {
            "smtp_server": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "SMTP_SECURITY_INSECURE",
            "from_email": "a@example.com",
            "to_emails": ["b@example.com"],
        },
    )

    with pytest.raises(ActionFailed, match="Notification failed: blocked") as failure:
        await send(invocation(block.id))
    assert not failure.value.transient
    assert "loopback" in failure.value.result["notification_log"]
    assert mailbox.messages == []


async def test_dead_smtp_server_is_transient(blocks: Blocks, send: Any) -> None:
    block = blocks.add(
        "email",
        {
            "smtp_server": "127.0.0.1",
            "smtp_port": free_port(),
            "smtp_security": "SMTP_SECURITY_INSECURE",
            "from_email": "a@example.com",
            "to_emails": ["b@example.com"],
            "allow_private_urls": True,
        },
    )

    with pytest.raises(TransientFailure, match="Notification failed"):
        await send(invocation(block.id))


async def test_slack_message(receiver: HttpReceiver, blocks: Blocks, send: Any) -> None:
    block = blocks.add(
        "slack_webhook",
        {"url": f"{receiver.url}/services/T0/B0/secret", "allow_private_urls": True},
    )

    outcome = await send(invocation(block.id))

    [request] = await receiver.wait_for(1)
    assert request.path == "/services/T0/B0/secret"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"text": f"*{RENDERED_SUBJECT}*\n{RENDERED_BODY}"}
    assert outcome.result["status_code"] == 200
    assert "secret" not in json.dumps(outcome.rendered_request)
    assert outcome.resulting_related[1]["prefect.resource.id"] == "prefect.block-type.slack-webhook"


async def test_teams_message(receiver: HttpReceiver, blocks: Blocks, send: Any) -> None:
    block = blocks.add(
        "microsoft_teams_webhook",
        {"url": f"{receiver.url}/workflows/abc", "allow_private_urls": True},
    )

    await send(invocation(block.id))

    [request] = await receiver.wait_for(1)
    body = json.loads(request.body)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    texts = [item["text"] for item in attachment["content"]["body"]]
    assert texts == [RENDERED_SUBJECT, RENDERED_BODY]


async def test_custom_webhook_with_placeholders_and_secrets(
    receiver: HttpReceiver, blocks: Blocks, send: Any
) -> None:
    block = blocks.add(
        "custom_webhook",
        {
            "url": f"{receiver.url}/hook?token={{{{token}}}}",
            "method": "PUT",
            "headers": {"X-Api-Key": "{{token}}"},
            "json_data": {
                "title": "{{subject}}",
                "text": "{{body}}",
                "source": "{{name}}",
                "tags": ["automations", "{{subject}}!"],
            },
            "secrets": {"token": "s3cret"},
            "allow_private_urls": True,
        },
        name="pager",
    )

    outcome = await send(invocation(block.id))

    [request] = await receiver.wait_for(1)
    assert request.method == "PUT"
    assert request.path == "/hook?token=s3cret"
    assert request.headers["X-Api-Key"] == "s3cret"
    assert json.loads(request.body) == {
        "title": RENDERED_SUBJECT,
        "text": RENDERED_BODY,
        "source": "pager",
        "tags": ["automations", f"{RENDERED_SUBJECT}!"],
    }
    assert "s3cret" not in json.dumps(outcome.rendered_request)


async def test_apprise_json_url(receiver: HttpReceiver, blocks: Blocks, send: Any) -> None:
    block = blocks.add(
        "apprise", {"url": f"json://127.0.0.1:{receiver.port}/notify", "allow_private_urls": True}
    )

    outcome = await send(invocation(block.id))

    [request] = await receiver.wait_for(1)
    assert request.path == "/notify"
    body = json.loads(request.body)
    assert body["title"] == RENDERED_SUBJECT
    assert body["message"] == RENDERED_BODY
    assert outcome.result["notification_log"]


async def test_apprise_to_loopback_is_refused_without_permission(
    receiver: HttpReceiver, blocks: Blocks, send: Any
) -> None:
    block = blocks.add("apprise", {"url": f"json://127.0.0.1:{receiver.port}/notify"})

    with pytest.raises(ActionFailed, match="blocked"):
        await send(invocation(block.id))
    assert receiver.requests == []


async def test_webhook_to_loopback_is_refused_without_permission(
    receiver: HttpReceiver, blocks: Blocks, send: Any
) -> None:
    block = blocks.add("slack_webhook", {"url": f"{receiver.url}/x"})

    with pytest.raises(ActionFailed, match="blocked") as failure:
        await send(invocation(block.id))
    assert not failure.value.transient
    assert receiver.requests == []


async def test_metadata_address_is_refused_even_with_permission(blocks: Blocks, send: Any) -> None:
    block = blocks.add(
        "slack_webhook", {"url": "http://169.254.169.254/latest", "allow_private_urls": True}
    )

    with pytest.raises(ActionFailed, match="metadata"):
        await send(invocation(block.id))


async def test_receiver_errors(blocks: Blocks, send: Any) -> None:
    server_error, client_error = HttpReceiver(statuses=[503]), HttpReceiver(statuses=[404])
    try:
        failing = blocks.add("slack_webhook", {"url": server_error.url, "allow_private_urls": True})
        refusing = blocks.add(
            "slack_webhook", {"url": client_error.url, "allow_private_urls": True}
        )

        with pytest.raises(TransientFailure, match="answered 503") as transient:
            await send(invocation(failing.id))
        with pytest.raises(ActionFailed, match="answered 404") as permanent:
            await send(invocation(refusing.id))
    finally:
        server_error.close()
        client_error.close()
    assert transient.value.result["status_code"] == 503
    assert not permanent.value.transient


async def test_unknown_block(send: Any) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(ActionFailed, match=f"block {missing} not found"):
        await send(invocation(missing))


async def test_template_error_names_the_template(
    receiver: HttpReceiver, blocks: Blocks, send: Any
) -> None:
    block = blocks.add("slack_webhook", {"url": receiver.url, "allow_private_urls": True})
    body = "{% for i in range(1000) %}{{ i }}{% endfor %}"

    with pytest.raises(ActionFailed, match="Template rendering failed") as failure:
        await send(invocation(block.id, subject="fine", body=body))
    assert failure.value.result["template_source"] == body
    assert receiver.requests == []


async def test_webhook_block_cannot_notify(blocks: Blocks, send: Any) -> None:
    block = blocks.add("webhook", {"url": "https://example.com", "method": "POST"})

    with pytest.raises(ActionFailed, match="is a webhook block; this action needs"):
        await send(invocation(block.id))


# -- SMTP over TLS (implicit and STARTTLS), with a certificate made for the test ---------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, so TLS verification really runs."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def checking_sender(
    blocks: Blocks, transport: WebhookTransport, certificate: tuple[Path, Path]
) -> Any:
    def trusting() -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(certificate[0]))

    notifier = Notifier(transport, timeout_seconds=5.0, tls_context=trusting)
    return notification_executors(blocks, notifier, ContextRenderer(None))["send-notification"]


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"robot",
        b"hunter2",
    )
    return AuthResult(success=ok)


@pytest.mark.parametrize("security", ["SMTP_SECURITY_SSL", "SMTP_SECURITY_STARTTLS"])
async def test_email_over_tls_with_login(
    certificate: tuple[Path, Path], blocks: Blocks, transport: WebhookTransport, security: str
) -> None:
    mailbox, port = Mailbox(), free_port()
    tls = server_context(certificate)
    # aiosmtpd knows only STARTTLS as "TLS" for auth_require_tls; implicit TLS is TLS anyway.
    options: dict[str, Any] = (
        {"ssl_context": tls, "auth_require_tls": False}
        if security == "SMTP_SECURITY_SSL"
        else {"tls_context": tls, "require_starttls": True, "auth_require_tls": True}
    )
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator, **options
    )
    controller.start()
    try:
        block = blocks.add(
            "email",
            {
                "smtp_server": "127.0.0.1",
                "smtp_port": port,
                "smtp_security": security,
                "username": "robot",
                "password": "hunter2",
                "from_email": "automations@example.com",
                "to_emails": ["oncall@example.com"],
                "allow_private_urls": True,
            },
        )
        send = checking_sender(blocks, transport, certificate)

        await send(invocation(block.id))
    finally:
        controller.stop()
    [(_, _, message)] = mailbox.messages
    assert message["Subject"] == RENDERED_SUBJECT


async def test_email_with_an_untrusted_certificate_fails(
    certificate: tuple[Path, Path], blocks: Blocks, send: Any
) -> None:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, ssl_context=server_context(certificate)
    )
    controller.start()
    try:
        block = blocks.add(
            "email",
            {
                "smtp_server": "127.0.0.1",
                "smtp_port": port,
                "smtp_security": "SMTP_SECURITY_SSL",
                "from_email": "a@example.com",
                "to_emails": ["b@example.com"],
                "allow_private_urls": True,
            },
        )
        with pytest.raises(ActionFailed, match="CERTIFICATE_VERIFY_FAILED") as failure:
            await send(invocation(block.id))
    finally:
        controller.stop()
    assert not failure.value.transient
    assert mailbox.messages == []


class Refusing(Mailbox):
    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return "550 5.1.1 no such mailbox"


async def test_refused_recipients_fail_at_once(blocks: Blocks, send: Any) -> None:
    mailbox, port = Refusing(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        block = blocks.add(
            "email",
            {
                "smtp_server": "127.0.0.1",
                "smtp_port": port,
                "smtp_security": "SMTP_SECURITY_INSECURE",
                "from_email": "a@example.com",
                "to_emails": ["nobody@example.com"],
                "allow_private_urls": True,
            },
        )
        with pytest.raises(ActionFailed, match="SMTPRecipientsRefused") as failure:
            await send(invocation(block.id))
    finally:
        controller.stop()
    assert not failure.value.transient
    assert "no such mailbox" in failure.value.result["notification_log"]
