"""Sends a notification (subject, body) through a block: Slack, Teams, webhook, e-mail, apprise.

Slack and Teams blocks hold an incoming-webhook URL, so we post their documented JSON
shapes ourselves through the SSRF-guarded transport; e-mail goes over SMTP (smtplib in a
worker thread) to an address checked like any webhook target; every other destination
is an apprise URL. Failures raise NotificationError carrying what happened
(`notification_log`), `transient` when a later attempt may succeed.
"""

from __future__ import annotations

import asyncio
import json
import re
import smtplib
import ssl
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from automations_actions.blocks import Block
from automations_actions.kinds.webhook import masked_url
from automations_actions.webhook_transport import (
    OutboundRequest,
    OutboundResponse,
    TransportError,
    UnsafeTargetError,
    WebhookTransport,
)

NOTIFYING_KINDS = ("slack_webhook", "microsoft_teams_webhook", "custom_webhook", "email", "apprise")
_EXCERPT_CHARS = 1000


class NotificationError(Exception):
    """The notification was not delivered; `log` says what happened."""

    def __init__(self, message: str, log: str, *, transient: bool = False, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.log = log
        self.transient = transient
        self.details = details


@dataclass
class Delivery:
    """What was sent and how the destination answered."""

    log: str
    status_code: int | None = None
    # Method, URL with its secret path masked, and body or e-mail headers.
    request: dict[str, Any] = field(default_factory=dict)


def slack_payload(subject: str, body: str) -> dict[str, Any]:
    text = f"*{subject}*\n{body}" if subject else body
    return {"text": text}


def teams_payload(url: str, subject: str, body: str) -> dict[str, Any]:
    """A MessageCard for legacy Office 365 connector URLs, an Adaptive Card otherwise.

    Teams Workflows (the connectors' replacement) accept only the Adaptive Card form.
    """
    host = (urlsplit(url).hostname or "").lower()
    if host.endswith("webhook.office.com") or host.endswith("outlook.office.com"):
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": subject or body[:100],
            "title": subject,
            "text": body,
        }
    card_body: list[dict[str, Any]] = []
    if subject:
        card_body.append(
            {
                "type": "TextBlock",
                "text": subject,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            }
        )
    card_body.append({"type": "TextBlock", "text": body, "wrap": True})
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": card_body,
                },
            }
        ],
    }


_PLACEHOLDER = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")


def substitute(value: Any, values: Mapping[str, Any]) -> Any:
    """Prefect's CustomWebhook placeholders: `{{subject}}`, `{{body}}`, `{{name}}`, secrets.

    A string that is exactly one placeholder takes the value as it is; otherwise each
    placeholder is replaced by its text. Unknown placeholders are left alone.
    """
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value.strip())
        if whole and whole.group(1) in values:
            return values[whole.group(1)]

        def replace(match: re.Match[str]) -> str:
            key = match.group(1)
            return str(values[key]) if key in values else match.group(0)

        return _PLACEHOLDER.sub(replace, value)
    if isinstance(value, Mapping):
        return {key: substitute(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, values) for item in value]
    return value


def _excerpt(body: bytes) -> str:
    return body[:_EXCERPT_CHARS].decode("utf-8", errors="replace")


class Notifier:
    """Delivers notifications through blocks. Holds no state of its own beyond its tools."""

    def __init__(
        self,
        transport: WebhookTransport,
        *,
        timeout_seconds: float = 10.0,
        tls_context: Callable[[], ssl.SSLContext] = ssl.create_default_context,
    ) -> None:
        self.transport = transport
        self.timeout_seconds = timeout_seconds
        self._tls_context = tls_context

    async def send(self, block: Block, subject: str, body: str) -> Delivery:
        """Deliver or raise NotificationError."""
        config = block.config
        if block.kind == "slack_webhook":
            url = str(config.get("url") or "")
            return await self._post_json(block, url, slack_payload(subject, body), "POST", {})
        if block.kind == "microsoft_teams_webhook":
            url = str(config.get("url") or "")
            return await self._post_json(block, url, teams_payload(url, subject, body), "POST", {})
        if block.kind == "custom_webhook":
            public = {"subject": subject, "body": body, "name": block.name}
            values = {**public, **dict(config.get("secrets") or {})}
            url = str(substitute(str(config.get("url") or ""), values))
            headers = {
                str(k): str(v) for k, v in substitute(config.get("headers") or {}, values).items()
            }
            template = config.get("json_data") or {}
            payload = substitute(template, values)
            method = str(config.get("method") or "POST").upper()
            # The run record shows the body with the secrets' placeholders left in.
            shown = substitute(template, public)
            return await self._post_json(block, url, payload, method, headers, shown)
        if block.kind == "email":
            return await self._email(block, subject, body)
        if block.kind == "apprise":
            return await self._apprise(block, subject, body)
        raise NotificationError(
            f"a {block.kind} block cannot send notifications"
            + ("; use call-webhook" if block.kind == "webhook" else ""),
            f"block {block.name!r} is a {block.kind} block",
        )

    async def _post_json(
        self,
        block: Block,
        url: str,
        payload: Any,
        method: str,
        headers: Mapping[str, str],
        shown: Any = None,
    ) -> Delivery:
        content = json.dumps(payload).encode()
        sent_headers = {"Content-Type": "application/json", **headers}
        request = {
            "method": method,
            "url": masked_url(url),
            "body": payload if shown is None else shown,
        }
        with _transport_errors(request):
            response: OutboundResponse = await self.transport.send(
                OutboundRequest(
                    method=method,
                    url=url,
                    headers=sent_headers,
                    body=content,
                    allow_private=block.allow_private_urls,
                )
            )
        log = f"{method} {masked_url(url)} -> {response.status_code}"
        status = response.status_code
        if status >= 300:
            raise NotificationError(
                f"the destination answered {status}",
                f"{log}: {_excerpt(response.body)}",
                transient=status == 429 or status >= 500,
                status_code=status,
                response_body=_excerpt(response.body),
                request=request,
            )
        return Delivery(log=log, status_code=status, request=request)

    async def _email(self, block: Block, subject: str, body: str) -> Delivery:
        config = block.config
        host = str(config.get("smtp_server") or "")
        security = _smtp_security(config.get("smtp_security"))
        port = int(config.get("smtp_port") or (465 if security == "SSL" else 587))
        recipients = [str(r) for r in config.get("to_emails") or []]
        sender = str(config.get("from_email") or "")
        request = {"smtp_server": f"{host}:{port}", "security": security, "to": recipients}
        if not host or not recipients or not sender:
            raise NotificationError(
                "the e-mail block needs smtp_server, from_email and to_emails",
                "incomplete e-mail block",
            )
        with _transport_errors(request):
            target = await self.transport.check(
                host, port, allow_private=block.allow_private_urls, scheme="smtp"
            )
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = sender
        message["To"] = ", ".join(recipients)
        message.set_content(body)
        context = self._tls_context() if security in ("SSL", "STARTTLS") else None
        try:
            await asyncio.to_thread(
                _smtp_send,
                address=str(target.address),
                server_name=host,
                port=port,
                security=security,
                username=str(config.get("username") or ""),
                password=str(config.get("password") or ""),
                message=message,
                timeout=self.timeout_seconds,
                context=context,
            )
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise NotificationError(
                f"the SMTP server answered {exc.smtp_code}",
                f"SMTP {host}:{port} -> {exc.smtp_code} {text}",
                transient=400 <= exc.smtp_code < 500,
                request=request,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotificationError(
                f"sending e-mail failed: {type(exc).__name__}: {exc}",
                f"SMTP {host}:{port} ({target.address}): {type(exc).__name__}: {exc}",
                transient=_smtp_transient(exc),
                request=request,
            ) from None
        return Delivery(
            log=f"SMTP {host}:{port} accepted the message for {len(recipients)} recipient(s)",
            request={**request, "subject": subject},
        )

    async def _apprise(self, block: Block, subject: str, body: str) -> Delivery:
        url = str(block.config.get("url") or "")
        scheme = url.split("://", 1)[0] if "://" in url else ""
        request = {"url": f"{scheme}://********"}
        plugin = _apprise_plugin(url)
        if plugin is None:
            raise NotificationError(
                "the notification library does not understand this URL",
                f"apprise could not load a {scheme}:// URL",
                request=request,
            )
        # Services whose host the user chooses (json://, mailto://, ntfy://, ...) are
        # checked like webhooks; the others talk to their vendor's fixed public API.
        host = _user_chosen_host(plugin)
        if host is not None:
            port = int(getattr(plugin, "port", None) or 0) or (443 if plugin.secure else 80)
            with _transport_errors(request):
                await self.transport.check(
                    host, port, allow_private=block.allow_private_urls, scheme=scheme
                )
        log: list[str] = []
        delivered = await asyncio.to_thread(
            _apprise_notify, _load_apprise(), url, subject, body, log, self.timeout_seconds
        )
        text = "\n".join(log)[-4000:]
        if not delivered:
            raise NotificationError(
                "the notification library could not deliver the message",
                text or "apprise reported a failure",
                transient=True,
                request=request,
            )
        return Delivery(log=text or f"delivered through {scheme}://", request=request)

    async def test_message(self, block: Block, subject: str, body: str) -> str:
        """For BlockService's "send a test message": what happened, or raise."""
        try:
            return (await self.send(block, subject, body)).log
        except NotificationError as exc:
            raise RuntimeError(f"{exc.message} ({exc.log})") from None


def _smtp_transient(exc: Exception) -> bool:
    """Connection trouble may pass; a refusal, a missing feature or a bad certificate won't."""
    if isinstance(exc, ssl.SSLError):
        return False
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # 4xx answers ("mailbox busy", greylisting) are worth another try; 5xx are not.
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPException):  # an OSError too, but a protocol answer
        return False
    return isinstance(exc, OSError)


def _smtp_security(value: Any) -> str:
    text = str(value or "").upper()
    for name in ("STARTTLS", "INSECURE", "SSL"):
        if text.endswith(name):
            return name
    return {1: "SSL", 2: "STARTTLS", 3: "INSECURE"}.get(
        value if isinstance(value, int) else 0, "STARTTLS"
    )


class _PinnedSMTP(smtplib.SMTP):
    """Connects to the checked address while TLS verifies the server's name."""

    server_name = ""

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        self._host = self.server_name
        return super().starttls(*args, **kwargs)


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    server_name = ""

    def _get_socket(self, host: str, port: int, timeout: float) -> Any:
        self._host = self.server_name
        return super()._get_socket(host, port, timeout)  # type: ignore[misc]


def _smtp_send(
    *,
    address: str,
    server_name: str,
    port: int,
    security: str,
    username: str,
    password: str,
    message: EmailMessage,
    timeout: float,
    context: ssl.SSLContext | None,
) -> None:
    client: smtplib.SMTP
    if security == "SSL":
        client = _PinnedSMTPSSL(timeout=timeout, context=context)
        client.server_name = server_name
    else:
        client = _PinnedSMTP(timeout=timeout)
        client.server_name = server_name
    with client:
        client.connect(address, port)
        client.ehlo()
        if security == "STARTTLS":
            client.starttls(context=context)
            client.ehlo()
        if username:
            client.login(username, password)
        client.send_message(message)


def _load_apprise() -> Any:
    # apprise's e-mail plugin imports the deprecated `imghdr` module on Python 3.11;
    # load every plugin with that warning silenced (a no-op once loaded).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        apprise.Apprise.instantiate("json://localhost")
    return apprise


def _apprise_plugin(url: str) -> Any:
    apprise = _load_apprise()
    return apprise.Apprise.instantiate(url)


def _user_chosen_host(plugin: Any) -> str | None:
    host = getattr(plugin, "smtp_host", None) or getattr(plugin, "host", None)
    tokens = getattr(plugin, "template_tokens", {}) or {}
    if host and ("host" in tokens or getattr(plugin, "smtp_host", None)):
        return str(host)
    return None


def _apprise_notify(
    apprise: Any, url: str, subject: str, body: str, log: list[str], timeout: float
) -> bool:
    # Runs in a worker thread: apprise is loaded beforehand, on the event loop's thread,
    # because silencing warnings is not thread-safe.
    client = apprise.Apprise()
    if not client.add(url):
        log.append("ERROR: apprise could not load the URL")
        return False

    def record(entry: Any, _service: Any) -> None:
        log.append(f"{entry.level}: {entry.message}")

    return bool(client.notify(body=body, title=subject, timeout=timeout, log_callback=record))


@contextmanager
def _transport_errors(request: Mapping[str, Any]) -> Iterator[None]:
    """A refused target fails at once; a transport failure is worth another attempt."""
    try:
        yield
    except UnsafeTargetError as exc:
        raise NotificationError(str(exc), f"refused: {exc}", request=request) from None
    except TransportError as exc:
        raise NotificationError(
            str(exc), f"not delivered: {exc}", transient=True, request=request
        ) from None
