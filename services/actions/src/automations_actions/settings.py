"""Settings of the actions service (env prefix `ACTIONS_`, nested with `__`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from automations_common.settings import DEFAULT_ACTIONS_PORT, GrpcSettings, ServiceSettings


class RetrySettings(BaseModel):
    """How transient failures (network, 5xx, 429) are retried."""

    # Attempts in all, the first one included; then the action run is FAILED.
    max_attempts: int = 5
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 60.0


class ConsumerSettings(BaseModel):
    """How the ACTIONS stream is consumed."""

    batch_size: int = 64
    # Batches fetched and carried out at once, so one slow batch does not hold up the rest.
    batches_in_flight: int = 4
    # Actions carried out at the same time, across batches.
    concurrency: int = 64
    # Time JetStream waits for an ack before redelivering; longer than any one call.
    ack_wait_seconds: float = 60.0
    # How long finished actions wait for others to share their ledger transaction and event
    # publish (about 0.7 ms of CPU each on SQLite). A crash within it repeats an action.
    commit_linger_seconds: float = 0.01


class ActionsSettings(ServiceSettings):
    """Everything `build()` needs; read once in `__main__`."""

    model_config = SettingsConfigDict(
        env_prefix="ACTIONS_", env_nested_delimiter="__", extra="ignore"
    )

    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=DEFAULT_ACTIONS_PORT))
    # The triggers service's AutomationService, for pause/resume-automation.
    automations_api_url: str = "127.0.0.1:7472"
    # The API key sent to it (when triggers has TRIGGERS_API_KEYS). Empty: the first of
    # ACTIONS_API_KEYS, which suits the usual set-up of one key list for every service.
    automations_api_key: SecretStr = SecretStr("")
    # A Prefect-compatible REST API (`http://host:4200/api`); empty means orchestration
    # actions fail with a reason that says so.
    prefect_api_url: str = ""
    # Credentials for that API: a Prefect Cloud API key (Bearer), or `user:password` for a
    # server started with PREFECT_SERVER_API_AUTH_STRING (Basic). Both optional.
    prefect_api_key: str = ""
    prefect_auth_string: str = ""
    # Base of the UI links the `ui_url` template filter builds; empty gives None.
    ui_url: str = ""
    # Fernet key(s) for block secrets, comma-separated (the first encrypts, all decrypt).
    # Empty: a key file generated under data_dir with mode 0600.
    secret_key: str = ""
    # CIDRs or host names that webhooks and notifications may reach although private.
    # From the environment: comma-separated (`10.0.0.0/8,hooks.internal`) or a JSON list.
    private_url_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Outbound calls: a timeout on every call and a cap on what is read back.
    http_timeout_seconds: float = 10.0
    max_response_bytes: int = 1_000_000
    retry: RetrySettings = Field(default_factory=RetrySettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)

    def key_for_automations_api(self) -> str:
        """The API key for the triggers service's AutomationService; empty sends none."""
        explicit = self.automations_api_key.get_secret_value().strip()
        return explicit or next(iter(self.accepted_api_keys()), "")

    @field_validator("private_url_allowlist", mode="before")
    @classmethod
    def _split_allowlist(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value
