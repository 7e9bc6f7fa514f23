"""Composition root: builds the actions service from its settings; start() and stop() it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from nats.aio.client import Client as NatsClient

from automations.v1 import action_service_pb2_grpc, block_service_pb2_grpc
from automations_actions.block_store import SqlBlockStore
from automations_actions.blocks import Blocks, BlockTester
from automations_actions.consumer import ActionsConsumer
from automations_actions.dispatch import Dispatcher
from automations_actions.grpc_api import ActionRunApi, BlockApi
from automations_actions.kinds.automation import AutomationControl, automation_executors
from automations_actions.kinds.base import Executor
from automations_actions.kinds.basic import do_nothing
from automations_actions.kinds.notification import notification_executors, notification_testers
from automations_actions.kinds.orchestration import orchestration_executors
from automations_actions.kinds.webhook import CallWebhook, webhook_block_tester
from automations_actions.ledger import SqlLedger
from automations_actions.notify import Notifier
from automations_actions.orchestrator import Orchestrator, OrchestratorConfig
from automations_actions.publisher import EventPublisher
from automations_actions.rendering import ContextRenderer
from automations_actions.runs import RetryPolicy
from automations_actions.settings import ActionsSettings
from automations_actions.webhook_transport import Allowlist, WebhookTransport
from automations_common import broker
from automations_common.database import Transactions, create_engine, migrate, session_factory
from automations_common.grpc_server import GrpcServer
from automations_common.secret_box import SecretBox, load_or_create_key_file
from automations_common.streams import Streams

log = logging.getLogger(__name__)

SERVICE = "actions"
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_actions"
# Under data_dir, when ACTIONS_SECRET_KEY is not set.
KEY_FILE_NAME = "actions-secret.key"
SERVICE_NAMES = ["automations.v1.BlockService", "automations.v1.ActionService"]


def executor_registry(
    blocks: Blocks,
    transport: WebhookTransport,
    notifier: Notifier,
    renderer: ContextRenderer,
    orchestrator: Orchestrator | None,
    control: AutomationControl,
) -> dict[str, Executor]:
    """Executors by action `type`. An action type missing here fails with a clear reason."""
    executors: dict[str, Executor] = {
        "do-nothing": do_nothing,
        "call-webhook": CallWebhook(blocks.load, transport, renderer),
    }
    # Without an orchestration API these fail with a reason that says so.
    executors |= orchestration_executors(orchestrator, renderer)
    executors |= automation_executors(control)
    executors |= notification_executors(blocks, notifier, renderer)
    return executors


def block_testers(transport: WebhookTransport, notifier: Notifier) -> dict[str, BlockTester]:
    """TestBlock senders by block kind."""
    return {"webhook": webhook_block_tester(transport), **notification_testers(notifier)}


def object_loader(settings: ActionsSettings) -> Orchestrator | None:
    """The Prefect REST client, which also reads flow runs, deployments, ... for templates.

    None when no Prefect API is configured.
    """
    if not settings.prefect_api_url:
        return None
    return Orchestrator(
        OrchestratorConfig(
            api_url=settings.prefect_api_url,
            api_key=settings.prefect_api_key,
            auth_string=settings.prefect_auth_string,
            timeout_seconds=settings.http_timeout_seconds,
        )
    )


class ActionsApp:
    """The running service: gRPC API, ACTIONS consumer, ledger, blocks."""

    def __init__(self, settings: ActionsSettings) -> None:
        self.settings = settings
        self.streams = Streams(settings.nats.namespace, settings.nats.stream_replicas)
        self.engine = create_engine(settings.database_url_for(SERVICE))
        sessions = session_factory(self.engine)
        self.transactions = Transactions(self.engine)
        self.ledger = SqlLedger(self.transactions)
        self.block_store = SqlBlockStore(sessions)
        self.transport = WebhookTransport(
            Allowlist.parse(settings.private_url_allowlist),
            timeout_seconds=settings.http_timeout_seconds,
            max_response_bytes=settings.max_response_bytes,
        )
        self.notifier = Notifier(self.transport, timeout_seconds=settings.http_timeout_seconds)
        self.blocks = Blocks(
            self.block_store, settings.workspace, block_testers(self.transport, self.notifier)
        )
        self.orchestrator = object_loader(settings)
        self.control = AutomationControl(
            settings.automations_api_url,
            timeout_seconds=settings.http_timeout_seconds,
            api_key=settings.key_for_automations_api(),
        )
        # One renderer (one compiled-template cache) for every executor.
        self.renderer = ContextRenderer(self.orchestrator, settings.ui_url)
        self.executors = executor_registry(
            self.blocks,
            self.transport,
            self.notifier,
            self.renderer,
            self.orchestrator,
            self.control,
        )
        self.grpc = GrpcServer(
            settings.grpc.host,
            settings.grpc.port,
            registrars=[
                lambda s: block_service_pb2_grpc.add_BlockServiceServicer_to_server(
                    BlockApi(self.blocks), s
                ),
                lambda s: action_service_pb2_grpc.add_ActionServiceServicer_to_server(
                    ActionRunApi(self.ledger, settings.workspace), s
                ),
            ],
            service_names=SERVICE_NAMES,
            max_message_bytes=settings.grpc.max_message_bytes,
            api_keys=settings.accepted_api_keys(),
        )
        self._nats: NatsClient | None = None
        self._consumer: ActionsConsumer | None = None

    @property
    def grpc_address(self) -> str:
        return self.grpc.address

    async def start(self) -> None:
        await self.grpc.start()
        key = self.settings.secret_key or await asyncio.to_thread(
            load_or_create_key_file, self.settings.data_dir, KEY_FILE_NAME
        )
        self.block_store.use(SecretBox.from_setting(key, "ACTIONS_SECRET_KEY"))
        await migrate(self.engine, MIGRATIONS, VERSION_TABLE)
        self._nats = await broker.connect(
            self.settings.nats.url,
            f"automations-{SERVICE}",
            self.settings.nats.connect_timeout_seconds,
            on_connection_change=self._nats_connection_changed,
        )
        js = self._nats.jetstream()
        await broker.ensure_streams(js, self.streams.stream_configs())
        retry = self.settings.retry
        dispatcher = Dispatcher(
            ledger=self.ledger,
            executors=self.executors,
            events=EventPublisher(broker.JetStreamPublisher(self._nats), self.streams),
            retry=RetryPolicy(
                retry.max_attempts, retry.backoff_base_seconds, retry.backoff_cap_seconds
            ),
            concurrency=self.settings.consumer.concurrency,
            lease_seconds=self.settings.consumer.ack_wait_seconds,
            linger_seconds=self.settings.consumer.commit_linger_seconds,
        )
        self._consumer = ActionsConsumer(js, self.streams, dispatcher, self.settings.consumer)
        await self._consumer.start()
        await self.grpc.set_serving(True)
        log.info("actions service serving on %s", self.grpc_address)

    async def _nats_connection_changed(self, connected: bool) -> None:
        await self.grpc.set_dependency_ready("nats", connected)

    async def stop(self) -> None:
        await self.grpc.set_serving(False)
        if self._consumer is not None:
            await self._consumer.stop()
        await self.grpc.stop(self.settings.grpc.shutdown_grace_seconds)
        await self.transport.aclose()
        if self.orchestrator is not None:
            await self.orchestrator.aclose()
        await self.control.aclose()
        if self._nats is not None:
            await self._nats.drain()
        await self.transactions.close()
        await self.engine.dispose()


def build(settings: ActionsSettings) -> ActionsApp:
    return ActionsApp(settings)
