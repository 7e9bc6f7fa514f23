"""Settings blocks every service shares; each service adds its own and an env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Defaults match what `make run` starts. NATS is not on 4222 so that a system NATS
# (often there) does not collide with the embedded one.
DEFAULT_NATS_URL = "nats://127.0.0.1:7422"
DEFAULT_INGEST_PORT = 7471
DEFAULT_TRIGGERS_PORT = 7472
DEFAULT_ACTIONS_PORT = 7473


class NatsSettings(BaseModel):
    """Where JetStream is and how this stack's streams are named on it."""

    url: str = DEFAULT_NATS_URL
    # Prefix for stream and subject names, so several stacks can share one NATS.
    namespace: str = ""
    connect_timeout_seconds: float = 10.0
    # Replicas of the streams this service creates: 3 on a JetStream cluster in
    # production. An existing stream's replicas are never lowered.
    stream_replicas: int = Field(default=1, ge=1, le=5)


class GrpcSettings(BaseModel):
    """Where the public gRPC API listens."""

    host: str = "127.0.0.1"
    port: int = 0
    # Time in-flight calls get to finish on shutdown.
    shutdown_grace_seconds: float = 5.0
    max_message_bytes: int = 64 * 1024 * 1024


class ServiceSettings(BaseSettings):
    """What every service needs; subclasses set the env prefix (`INGEST_`, ...)."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    nats: NatsSettings = Field(default_factory=NatsSettings)
    grpc: GrpcSettings = Field(default_factory=GrpcSettings)
    # SQLAlchemy async URL; empty means an SQLite file `<service>.db` under data_dir.
    database_url: str = ""
    data_dir: Path = Path(".data")
    log_level: str = "INFO"
    workspace: str = "default"
    # `uvloop` (when installed) or `asyncio`: the event loop the service runs on.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # Keys a gRPC caller must send as `authorization: Bearer <key>`, comma-separated: add
    # the new key, move the callers over, then drop the old one. Empty: no key is asked
    # for. Health checking and reflection stay open; ingest's /hooks/{slug} has its own
    # per-webhook secrets.
    api_keys: SecretStr = SecretStr("")

    @field_validator("api_keys")
    @classmethod
    def _keys_fit_in_a_header(cls, value: SecretStr) -> SecretStr:
        # The message names no key: it ends up in logs.
        for key in _split_keys(value):
            if not key.isascii() or not key.isprintable() or " " in key:
                raise ValueError(
                    "an API key must be printable ASCII without spaces (it is sent in the "
                    "`authorization` header); separate several keys with commas"
                )
        return value

    def accepted_api_keys(self) -> tuple[str, ...]:
        """The API keys gRPC callers may send; empty when no key is asked for."""
        return _split_keys(self.api_keys)

    def database_url_for(self, service: str) -> str:
        """The configured database URL, or the embedded SQLite default for `service`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"


def _split_keys(value: SecretStr) -> tuple[str, ...]:
    return tuple(key.strip() for key in value.get_secret_value().split(",") if key.strip())


def describe_settings(settings_class: type[BaseSettings], env_prefix: str) -> str:
    """Every environment variable of a settings class with its default, for `--help`."""
    defaults = settings_class.model_construct()
    lines = ["Settings (environment variables, nested fields joined with __):"]
    for name, info in settings_class.model_fields.items():
        annotation = info.annotation
        value = getattr(defaults, name)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub in type(value).model_fields:
                variable = f"{env_prefix}{name.upper()}__{sub.upper()}"
                lines.append(f"  {variable:<44} default: {getattr(value, sub)!r}")
        else:
            lines.append(f"  {env_prefix + name.upper():<44} default: {value!r}")
    return "\n".join(lines)
