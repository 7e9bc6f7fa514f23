"""Settings of the triggers service (env prefix `TRIGGERS_`, nested with `__`)."""

from __future__ import annotations

from pydantic import Field, model_validator
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
    # Sharding (DESIGN.md §7): this replica evaluates the automations whose
    # crc32(id) mod SHARD_COUNT is SHARD_INDEX, through its own durable consumer
    # `triggers-<index>-of-<count>` and its own state rows. Every replica serves the API.
    shard_index: int = Field(default=0, ge=0)
    shard_count: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _index_within_count(self) -> TriggersSettings:
        if self.shard_index >= self.shard_count:
            raise ValueError(
                f"TRIGGERS_SHARD_INDEX ({self.shard_index}) must be below "
                f"TRIGGERS_SHARD_COUNT ({self.shard_count})"
            )
        return self
