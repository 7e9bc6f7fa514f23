"""Composition root: builds the ingest service from its settings; start/stop in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from nats.aio.client import Client as NatsClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from automations.v1 import events_service_pb2_grpc, webhook_service_pb2_grpc
from automations_common.broker import JetStreamPublisher, connect, ensure_streams
from automations_common.database import Transactions, create_engine, migrate
from automations_common.grpc_server import GrpcServer, Registrar
from automations_common.secret_box import SecretBox, load_or_create_key_file
from automations_common.streams import Streams
from automations_ingest.bridge_position_store import BridgePositionStore
from automations_ingest.event_queries import EventQueries
from automations_ingest.grpc_api import EventsApi
from automations_ingest.persister import Persister
from automations_ingest.prefect_bridge import BridgeOptions, PrefectBridge
from automations_ingest.publisher import EventPublisher, utc_now
from automations_ingest.reading import EventReader
from automations_ingest.retention import run_retention
from automations_ingest.settings import IngestSettings
from automations_ingest.store import EventStore
from automations_ingest.tail import EventTail
from automations_ingest.webhook_api import WebhookApi
from automations_ingest.webhook_http import WebhookHttpServer
from automations_ingest.webhook_store import WebhookStore

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_ingest"
# Under data_dir, when INGEST_SECRET_KEY is not set.
KEY_FILE_NAME = "ingest-secret.key"
BACKGROUND_STOP_SECONDS = 10.0
EVENTS_SERVICE = "automations.v1.EventsService"
WEBHOOK_SERVICE = "automations.v1.WebhookService"


class IngestApp:
    """The running service: NATS, database, gRPC, the webhook endpoint, background loops."""

    def __init__(self, settings: IngestSettings, clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.streams = Streams(settings.nats.namespace, settings.nats.stream_replicas)
        self._clock = clock
        self._nats: NatsClient | None = None
        self._engine: AsyncEngine | None = None
        self._transactions: Transactions | None = None
        self._grpc: GrpcServer | None = None
        self._http: WebhookHttpServer | None = None
        self._bridge: PrefectBridge | None = None
        self._background: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.store: EventStore | None = None

    @property
    def grpc_address(self) -> str:
        if self._grpc is None:
            raise RuntimeError("start the service first")
        return self._grpc.address

    @property
    def http_url(self) -> str:
        if self._http is None:
            raise RuntimeError("the webhook endpoint is not running")
        return self._http.url

    @property
    def prefect_bridge(self) -> PrefectBridge | None:
        """The Prefect bridge, when `prefect_bridge.url` is set and the service started."""
        return self._bridge

    async def start(self) -> None:
        settings = self.settings
        self._nats = await connect(
            settings.nats.url,
            "automations-ingest",
            settings.nats.connect_timeout_seconds,
            on_connection_change=self._nats_connection_changed,
        )
        await ensure_streams(self._nats.jetstream(), self.streams.stream_configs())
        self._engine = create_engine(settings.database_url_for("ingest"))
        await migrate(self._engine, MIGRATIONS, VERSION_TABLE)
        self._transactions = Transactions(self._engine)
        self.store = EventStore(self._transactions)

        registrars = await self._build_api(self._engine) if settings.serves_api else []
        self._grpc = GrpcServer(
            settings.grpc.host,
            settings.grpc.port,
            registrars=registrars,
            service_names=[EVENTS_SERVICE, WEBHOOK_SERVICE] if registrars else [],
            max_message_bytes=settings.grpc.max_message_bytes,
            api_keys=settings.accepted_api_keys(),
        )
        await self._grpc.start()
        if self._http is not None:
            await self._http.start()
        if settings.stores_events:
            self._background = asyncio.create_task(self._run_background(self.store))
        if self._bridge is not None:
            await self._bridge.start()
        # The server did not exist yet when a loss during start-up was reported.
        await self._grpc.set_dependency_ready("nats", self._nats.is_connected)
        await self._grpc.set_serving(True)
        log.info(
            "ingest (role %s) serving gRPC on %s%s%s",
            settings.role,
            self._grpc.address,
            f", webhooks on {self._http.url}/hooks/<slug>" if self._http else "",
            "" if settings.stores_events else "; events are stored by a persister process",
        )

    async def _nats_connection_changed(self, connected: bool) -> None:
        if self._grpc is not None:
            await self._grpc.set_dependency_ready("nats", connected)

    async def _build_api(self, engine: AsyncEngine) -> list[Registrar]:
        """EventsService and WebhookService; the webhook endpoint and the Prefect bridge are
        built here too and started with the rest."""
        assert self._nats is not None
        settings = self.settings
        publisher = EventPublisher(
            JetStreamPublisher(self._nats),
            self.streams,
            settings.workspace,
            settings.limits,
            self._clock,
            settings.publish_timeout_seconds,
        )
        key = settings.secret_key.get_secret_value() or await asyncio.to_thread(
            load_or_create_key_file, settings.data_dir, KEY_FILE_NAME
        )
        webhooks = WebhookStore(
            engine, settings.workspace, SecretBox.from_setting(key, "INGEST_SECRET_KEY")
        )
        registrars = self._api_registrars(engine, publisher, webhooks)
        if settings.http_enabled:
            self._http = WebhookHttpServer(
                webhooks,
                publisher,
                settings.limits,
                self._clock,
                settings.http_host,
                settings.http_port,
            )
        if settings.prefect_bridge.url:
            self._bridge = self._prefect_bridge(publisher, engine)
        return registrars

    def _api_registrars(
        self, engine: AsyncEngine, publisher: EventPublisher, webhooks: WebhookStore
    ) -> list[Registrar]:
        assert self._nats is not None
        settings = self.settings
        queries = EventQueries(engine)
        events_api = EventsApi(
            publisher,
            EventReader(queries, settings.workspace, self._clock),
            EventTail(
                self._nats.jetstream(), self.streams, queries, settings.subscribe, self._clock
            ),
            settings.workspace,
        )
        webhook_api = WebhookApi(webhooks, self._clock)
        return [
            lambda s: events_service_pb2_grpc.add_EventsServiceServicer_to_server(events_api, s),
            lambda s: webhook_service_pb2_grpc.add_WebhookServiceServicer_to_server(webhook_api, s),
        ]

    def _prefect_bridge(self, publisher: EventPublisher, engine: AsyncEngine) -> PrefectBridge:
        bridge = self.settings.prefect_bridge
        return PrefectBridge(
            bridge.url,
            publisher.emit,
            BridgeOptions(
                api_key=_secret(bridge.api_key),
                auth_string=_secret(bridge.auth_string),
                workspace=self.settings.workspace,
                batch_size=bridge.batch_size,
                exclude_event_prefixes=tuple(bridge.exclude_event_prefixes),
                catch_up_delay_seconds=bridge.catch_up_delay_seconds,
            ),
            self._clock,
            BridgePositionStore(engine, self.settings.workspace, bridge.url, self._clock),
        )

    async def _run_background(self, store: EventStore) -> None:
        assert self._nats is not None
        persister = Persister(self._nats, self.streams, store, self.settings.persister)
        async with asyncio.TaskGroup() as group:
            group.create_task(persister.run(self._stopping))
            group.create_task(
                run_retention(store, self.settings.retention, self._clock, self._stopping)
            )

    async def stop(self) -> None:
        if self._grpc is not None:
            await self._grpc.set_serving(False)
        if self._http is not None:
            await self._http.stop()
        if self._bridge is not None:
            await self._bridge.stop()
        if self._background is not None:
            # Let the loops finish the batch in hand; cancel only if they do not.
            self._stopping.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._background), BACKGROUND_STOP_SECONDS)
            except TimeoutError:
                self._background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._background
        if self._grpc is not None:
            await self._grpc.stop(self.settings.grpc.shutdown_grace_seconds)
        if self._nats is not None:
            with contextlib.suppress(Exception):
                await self._nats.drain()
        if self._transactions is not None:
            await self._transactions.close()
        if self._engine is not None:
            await self._engine.dispose()


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def build(settings: IngestSettings, clock: Callable[[], datetime] = utc_now) -> IngestApp:
    """The service, not yet started (no I/O happens here)."""
    return IngestApp(settings, clock)
