"""Composition root: wires storage, NATS, the API and the evaluation loop of triggers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription

from automations.v1 import automation_service_pb2_grpc as pb_grpc
from automations_common.broker import (
    JetStreamPublisher,
    OutgoingMessage,
    connect,
    ensure_streams,
)
from automations_common.database import Transactions, create_engine, migrate, session_factory
from automations_common.grpc_server import GrpcServer
from automations_common.streams import Streams
from automations_triggers.automations import Automations
from automations_triggers.changes import NatsChangeNotifier, subscribe_changes
from automations_triggers.consumer import EventConsumer
from automations_triggers.grpc_api import SERVICE_NAME, AutomationServicer
from automations_triggers.lifecycle_events import LifecycleOutbox
from automations_triggers.loaded import LoadedAutomations
from automations_triggers.reloader import Reloader
from automations_triggers.runner import EngineRunner
from automations_triggers.settings import TriggersSettings
from automations_triggers.sharding import Shard
from automations_triggers.state_store import EngineStateStore
from automations_triggers.store import AutomationStore

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_triggers"
SERVICE = "triggers"


class TriggersApp:
    """The running service. `start()` brings it to SERVING; `stop()` shuts down in order."""

    def __init__(self, settings: TriggersSettings) -> None:
        self._settings = settings
        self._streams = Streams(settings.nats.namespace, settings.nats.stream_replicas)
        self._engine = create_engine(settings.database_url_for(SERVICE))
        self._transactions = Transactions(self._engine)
        sessions = session_factory(self._engine)
        self._shard = Shard(settings.shard_index, settings.shard_count)
        # Lifecycle events share the engine's outbox; its runner (made below) publishes them.
        lifecycle = LifecycleOutbox(
            self._streams.events_subject(settings.workspace),
            self._shard.state_scope(settings.workspace),
            lambda messages: self._runner.publish_committed(messages),
        )
        self._store = AutomationStore(sessions, settings.workspace, lifecycle.row)
        self._notifier = NatsChangeNotifier(
            self._streams.automation_changes_subject(settings.workspace), settings.workspace
        )
        automations = Automations(self._store, self._notifier, lifecycle, settings.workspace)
        servicer = AutomationServicer(automations)
        self._server = GrpcServer(
            settings.grpc.host,
            settings.grpc.port,
            registrars=[lambda s: pb_grpc.add_AutomationServiceServicer_to_server(servicer, s)],
            service_names=[SERVICE_NAME],
            max_message_bytes=settings.grpc.max_message_bytes,
            api_keys=settings.accepted_api_keys(),
        )
        self._runner = EngineRunner(
            EngineStateStore(self._transactions, self._shard.state_scope(settings.workspace)),
            LoadedAutomations(self._shard.owns),
            self._publish,
            self._streams,
            settings.workspace,
        )
        self._reloader = Reloader(self._store, self._runner, settings.reconcile_seconds)
        self._nats: NatsClient | None = None
        self._jetstream: JetStreamPublisher | None = None
        self._consumer: EventConsumer | None = None
        self._changes: Subscription | None = None
        self._background: asyncio.Task[None] | None = None

    @property
    def grpc_address(self) -> str:
        return self._server.address

    def is_loaded(self, automation_id: str) -> bool:
        """Whether the evaluation loop currently evaluates this automation."""
        return self._runner.is_loaded(automation_id)

    async def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        if self._nats is None:
            raise RuntimeError("not connected to NATS")
        if self._jetstream is None:
            self._jetstream = JetStreamPublisher(self._nats)
        await self._jetstream.publish(messages)

    async def start(self) -> None:
        settings = self._settings
        await migrate(self._engine, MIGRATIONS, VERSION_TABLE)
        self._nats = await connect(
            settings.nats.url,
            "automations-triggers",
            settings.nats.connect_timeout_seconds,
            on_connection_change=self._nats_connection_changed,
        )
        self._notifier.attach(self._nats)
        js = self._nats.jetstream()
        await ensure_streams(js, self._streams.stream_configs())
        await self._server.start()
        await self._runner.restore()
        await self._reloader.load_all()
        await self._runner.flush()
        self._changes = await subscribe_changes(
            self._nats,
            self._streams.automation_changes_subject(settings.workspace),
            self._reloader.reload_one,
        )
        self._consumer = EventConsumer(
            self._nats,
            self._streams.events_stream,
            self._streams.events_subject(settings.workspace),
            self._runner,
            batch_size=settings.batch_size,
            fetch_wait_seconds=settings.fetch_wait_seconds,
            ack_wait_seconds=settings.ack_wait_seconds,
            name=self._shard.consumer_name,
        )
        await self._consumer.bind()
        self._background = asyncio.create_task(self._run_background(self._consumer))
        await self._server.set_serving(True)
        log.info("triggers serving on %s", self.grpc_address)

    async def _nats_connection_changed(self, connected: bool) -> None:
        await self._server.set_dependency_ready("nats", connected)

    async def _run_background(self, consumer: EventConsumer) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(consumer.run())
            tasks.create_task(self._reloader.reconcile_forever())
            tasks.create_task(self._runner.run_deadlines())

    async def stop(self) -> None:
        await self._server.set_serving(False)
        if self._consumer is not None:
            self._consumer.stop()
        self._reloader.stop()
        self._runner.stop()
        if self._background is not None:
            # The consumer finishes its batch (it is redelivered if cut short).
            await asyncio.wait({self._background}, timeout=self._settings.fetch_wait_seconds + 5)
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._background
        await self._server.stop(self._settings.grpc.shutdown_grace_seconds)
        # Stored messages leave the outbox now, not with a commit that will not come (after
        # the server: requests finishing in its grace period publish lifecycle events).
        with contextlib.suppress(Exception):
            await self._runner.clear_stored()
        if self._changes is not None:
            with contextlib.suppress(Exception):
                await self._changes.unsubscribe()
        if self._nats is not None:
            with contextlib.suppress(Exception):
                await self._nats.close()
        await self._transactions.close()
        await self._engine.dispose()


def build(settings: TriggersSettings) -> TriggersApp:
    """The service, not yet started. Call it inside the running event loop: the gRPC aio
    server binds to the loop it is created on."""
    return TriggersApp(settings)
