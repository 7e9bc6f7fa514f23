"""Blocks as Prefect users know them: saved webhook and notification destinations."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self
from uuid import UUID

from pydantic import Field, PrivateAttr, SecretStr

from automations._models import Model

if TYPE_CHECKING:
    from automations._client import AutomationsClient

MASK = "********"


class Block(Model):
    """Base of the block classes. `save` stores it under a name; `load` reads it back.

    Secret fields (urls, passwords, header values) are write-only: a loaded block holds
    them masked, and saving a loaded block keeps the stored secrets.
    """

    kind: ClassVar[str] = ""

    _block_document_id: UUID | None = PrivateAttr(default=None)
    _block_document_name: str | None = PrivateAttr(default=None)

    @property
    def block_document_id(self) -> UUID | None:
        return self._block_document_id

    @property
    def block_document_name(self) -> str | None:
        return self._block_document_name

    def _bind(self, block_id: UUID, name: str) -> None:
        self._block_document_id = block_id
        self._block_document_name = name

    async def asave(
        self, name: str, overwrite: bool = False, client: AutomationsClient | None = None
    ) -> UUID:
        """Stores the block under `name` and returns its id; `overwrite` replaces a saved one."""
        from automations._client import resolve_client  # _client builds blocks: import late

        return await resolve_client(client).save_block(self, name, overwrite=overwrite)

    def save(
        self, name: str, overwrite: bool = False, client: AutomationsClient | None = None
    ) -> UUID:
        from automations._client import resolve_client

        resolved = resolve_client(client)
        return resolved.run_sync(resolved.save_block(self, name, overwrite=overwrite))

    @classmethod
    async def aload(cls, name: str, client: AutomationsClient | None = None) -> Self:
        """The block saved under `name` (secrets masked); ValueError when there is none."""
        from automations._client import resolve_client

        return await resolve_client(client).load_block(cls, name)

    @classmethod
    def load(cls, name: str, client: AutomationsClient | None = None) -> Self:
        from automations._client import resolve_client

        resolved = resolve_client(client)
        return resolved.run_sync(resolved.load_block(cls, name))

    async def adelete(self, client: AutomationsClient | None = None) -> bool:
        """Deletes the saved block: True, or False when it was already gone."""
        from automations._client import resolve_client

        if self._block_document_id is None:
            raise ValueError("This block has not been saved or loaded; it has no id")
        return await resolve_client(client).delete_block(str(self._block_document_id))

    def delete(self, client: AutomationsClient | None = None) -> bool:
        from automations._client import resolve_client

        resolved = resolve_client(client)
        return resolved.run_sync(self.adelete(resolved))


class Webhook(Block):
    """Prefect's `Webhook` block, the target of `CallWebhook`."""

    kind: ClassVar[str] = "webhook"

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: SecretStr
    headers: dict[str, str] = Field(default_factory=dict)
    allow_private_urls: bool = True
    verify: bool = True


class SlackWebhook(Block):
    """A Slack incoming webhook, for `SendNotification`."""

    kind: ClassVar[str] = "slack_webhook"

    url: SecretStr
    allow_private_urls: bool = True


class MicrosoftTeamsWebhook(Block):
    """A Microsoft Teams incoming webhook, for `SendNotification`."""

    kind: ClassVar[str] = "microsoft_teams_webhook"

    url: SecretStr
    allow_private_urls: bool = True


class SMTPType(StrEnum):
    """How the SMTP connection is secured."""

    SSL = "SSL"
    STARTTLS = "STARTTLS"
    INSECURE = "INSECURE"


class EmailServerCredentials(Block):
    """E-mail through an SMTP server (like prefect-email's block, plus the addresses)."""

    kind: ClassVar[str] = "email"

    smtp_server: str = "smtp.gmail.com"
    smtp_port: int | None = None
    smtp_type: SMTPType = SMTPType.SSL
    username: str | None = None
    password: SecretStr = SecretStr("")
    from_email: str = ""
    to_emails: list[str] = Field(default_factory=list)
    allow_private_urls: bool = True


class CustomWebhookNotificationBlock(Block):
    """A generic JSON webhook; `json_data` strings may use {{subject}}, {{body}}, {{name}}."""

    kind: ClassVar[str] = "custom_webhook"

    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    json_data: dict[str, Any] | None = None
    secrets: dict[str, str] = Field(default_factory=dict)
    allow_private_urls: bool = True


class AppriseNotification(Block):
    """Any destination URL the Apprise notification library understands."""

    kind: ClassVar[str] = "apprise"

    url: SecretStr
    allow_private_urls: bool = True


BLOCK_CLASSES: dict[str, type[Block]] = {
    cls.kind: cls
    for cls in (
        Webhook,
        SlackWebhook,
        MicrosoftTeamsWebhook,
        EmailServerCredentials,
        CustomWebhookNotificationBlock,
        AppriseNotification,
    )
}
