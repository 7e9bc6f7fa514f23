"""Settings of the triggers service (env prefix `TRIGGERS_`, nested with `__`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from automations_common.settings import DEFAULT_TRIGGERS_PORT, GrpcSettings, ServiceSettings


class TriggersSettings(ServiceSettings):
    """What the triggers process needs; every field can be set as `TRIGGERS_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="TRIGGERS_", env_nested_delimiter="__", extra="ignore"
    )

    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=DEFAULT_TRIGGERS_PORT))
    # Events fetched from EVENTS per pull; one evaluation and one publish round per batch.
    batch_size: int = 256
    # How long one pull waits for the first event before looping again.
    fetch_wait_seconds: float = 1.0
    # Safety net for missed change notifications: reload automations when the table changed.
    reconcile_seconds: float = 5.0
    # How long JetStream waits for an ack before redelivering an event.
    ack_wait_seconds: float = 30.0
