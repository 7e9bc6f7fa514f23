"""Ingest settings: read once in `__main__` from `INGEST_*` variables, then passed down."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from automations_common.settings import DEFAULT_INGEST_PORT, GrpcSettings, ServiceSettings

DEFAULT_HTTP_PORT = 7480


class EventLimits(BaseModel):
    """Prefect's event limits (prefect-semantics.md §1.2) plus caps on one request."""

    max_event_bytes: int = 1_500_000
    max_labels_per_resource: int = 500
    max_related_resources: int = 100
    max_event_name_chars: int = 1024
    # A request with more events or bytes than this is refused whole (INVALID_ARGUMENT).
    max_batch_events: int = 10_000
    max_batch_bytes: int = 48 * 1024 * 1024


class RetentionSettings(BaseModel):
    """How long stored events are kept, by event-name prefix; trimmed in bounded batches."""

    default_days: float = 7.0
    # Longest matching prefix wins, e.g. {"prefect.flow-run.heartbeat": 1}.
    days_by_prefix: dict[str, float] = Field(default_factory=dict)
    interval_seconds: float = 3600.0
    batch_size: int = 1000


class PersisterSettings(BaseModel):
    """The `ingest-persister` durable consumer that writes EVENTS into the event store."""

    # Larger transactions are much cheaper per event on SQLite (random ids touch a page each
    # in the id indexes): 2,000 stores about 1.6 times as many events per second as 500.
    batch_size: int = 2000
    fetch_timeout_seconds: float = 1.0
    # After a batch that was not full, wait this long before the next one, so that a
    # steady trickle is stored in fewer, larger transactions (each has a fixed cost on top
    # of its rows). The delay before an event can be queried grows by as much.
    linger_seconds: float = Field(default=0.1, ge=0.0)
    # A batch fetched by a process that died comes back after this long.
    ack_wait_seconds: float = 15.0
    # A process in the `persister` role lowers its CPU priority by this much (os.nice):
    # storing events is background work that may lag and catch up, and on a busy machine
    # it should wait for the API and for the triggers and actions services, not delay them.
    niceness: int = Field(default=10, ge=0, le=19)


class SubscribeSettings(BaseModel):
    """SubscribeEvents: bounded backfill, then live events through a bounded queue."""

    max_backfill_seconds: float = 15 * 60.0
    backfill_page_size: int = 250
    # Live events are read from the stream starting this long before the backfill ends,
    # so an event the persister has not written yet is still seen (deduped by id).
    live_overlap_seconds: float = 60.0
    queue_size: int = 1000


class PrefectBridgeSettings(BaseModel):
    """Follow a Prefect server's event stream; empty url = off."""

    url: str = ""  # e.g. http://127.0.0.1:4200/api
    api_key: SecretStr | None = None
    auth_string: SecretStr | None = None
    exclude_event_prefixes: list[str] = Field(default_factory=list)
    batch_size: int = 100
    catch_up_delay_seconds: float = 10.0


IngestRole = Literal["all", "api", "persister"]


def _grpc_default() -> GrpcSettings:
    return GrpcSettings(port=DEFAULT_INGEST_PORT)


class IngestSettings(ServiceSettings):
    """Everything the ingest service reads from its environment (prefix `INGEST_`)."""

    model_config = SettingsConfigDict(
        env_prefix="INGEST_", env_nested_delimiter="__", extra="ignore"
    )

    # What this process does. `all`: everything below in one process. `api`:
    # EventsService, WebhookService, /hooks and the Prefect bridge. `persister`: the
    # persister and retention, with gRPC health only. `make run` runs one `api` and one
    # `persister` process, so the store's writes never hold up accepting events.
    role: IngestRole = "all"
    grpc: GrpcSettings = Field(default_factory=_grpc_default)
    # Incoming webhooks (`/hooks/{slug}`). `http_port` 0 picks a free port (tests);
    # set `http_enabled=false` to run without the HTTP endpoint.
    http_enabled: bool = True
    http_host: str = "127.0.0.1"
    http_port: int = DEFAULT_HTTP_PORT
    # Fernet key(s) for incoming webhooks' secrets, comma-separated (the first encrypts,
    # all decrypt). Empty: a key file generated under data_dir with mode 0600.
    secret_key: SecretStr = SecretStr("")
    limits: EventLimits = Field(default_factory=EventLimits)
    # How long EmitEvents waits for JetStream to confirm a batch before UNAVAILABLE.
    publish_timeout_seconds: float = 10.0
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    persister: PersisterSettings = Field(default_factory=PersisterSettings)
    subscribe: SubscribeSettings = Field(default_factory=SubscribeSettings)
    prefect_bridge: PrefectBridgeSettings = Field(default_factory=PrefectBridgeSettings)

    @property
    def serves_api(self) -> bool:
        return self.role != "persister"

    @property
    def stores_events(self) -> bool:
        return self.role != "api"
