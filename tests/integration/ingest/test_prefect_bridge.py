"""The Prefect bridge against a real Prefect server, publishing onto a real JetStream stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from google.protobuf import json_format
from nats.aio.client import Client as NatsClient
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from automations.v1 import event_pb2
from automations_common.broker import JetStreamPublisher, ensure_streams
from automations_common.errors import Unavailable
from automations_common.streams import Streams
from automations_ingest.app import MIGRATIONS, VERSION_TABLE, build
from automations_ingest.bridge_position_store import BridgePositionStore
from automations_ingest.prefect_bridge import BridgeOptions, PrefectBridge
from automations_ingest.publisher import EmitOutcome, EventPublisher, utc_now
from automations_ingest.settings import EventLimits
from tests.integration.ingest.conftest import ingest_settings
from tests.support.databases import migrated
from tests.support.prefect_server import (
    IDLE_SERVICES,
    PrefectObjects,
    PrefectServer,
    ensure_prefect_venv,
)
from tests.support.waiting import eventually

# Long enough for a cold Prefect install on the first run; the tests themselves take seconds.
PREFECT_TIMEOUT_SECONDS = 600

# Prefect's persister writes events this often; the backfill after a reconnect reads them.
FLUSH_SECONDS = "0.5"
# Scheduled (on creation), Pending, Running, Completed.
EVENTS_PER_RUN = 4
# Longer than the flush interval, so the catch-up query sees what the backfill missed.
CATCH_UP_SECONDS = 1.5


@pytest.fixture(scope="module")
def bridge_prefect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Prefect's event persister stays on: `/events/out` backfills from the stored events,
    # and a bridge that reconnects needs that backfill.
    server = PrefectServer(
        ensure_prefect_venv(),
        tmp_path_factory.mktemp("prefect"),
        idle_services=tuple(name for name in IDLE_SERVICES if name != "EVENT_PERSISTER"),
        extra_env={"PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": FLUSH_SECONDS},
    )
    server.start()
    try:
        server.wait_ready()
        yield server.api_url
    finally:
        server.stop()


@pytest.fixture
async def prefect(bridge_prefect_url: str) -> AsyncIterator[PrefectObjects]:
    objects = PrefectObjects(bridge_prefect_url)
    try:
        yield objects
    finally:
        await objects.aclose()


@pytest.fixture
async def nats_client(nats_url: str, namespace: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url)
    await ensure_streams(client.jetstream(), Streams(namespace).stream_configs())
    try:
        yield client
    finally:
        await client.close()


class EventsStream:
    """The real ingest publisher onto a real EVENTS stream, and a way to read it back."""

    def __init__(self, client: NatsClient, namespace: str) -> None:
        self.streams = Streams(namespace)
        self.publisher = EventPublisher(
            JetStreamPublisher(client), self.streams, "default", EventLimits()
        )
        self._js = client.jetstream()

    async def events(self) -> list[event_pb2.Event]:
        stream = self.streams.events_stream
        info = await self._js.stream_info(stream)
        if not info.state.messages:
            return []
        messages = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            raw = await self._js.get_msg(stream, seq)
            messages.append(event_pb2.Event.FromString(raw.data or b""))
        return messages


class Handover:
    """One bridge's publish callable: the real publisher, recording every id handed over."""

    def __init__(self, stream: EventsStream) -> None:
        self._publisher = stream.publisher
        self.ids: list[str] = []

    async def __call__(self, events: list[event_pb2.Event]) -> EmitOutcome:
        self.ids.extend(e.id for e in events)
        return await self._publisher.emit(events)


@pytest.fixture
def stream(nats_client: NatsClient, namespace: str) -> EventsStream:
    return EventsStream(nats_client, namespace)


@pytest.fixture
async def new_bridge(
    bridge_prefect_url: str, stream: EventsStream
) -> AsyncIterator[Callable[[], tuple[PrefectBridge, Handover]]]:
    """Makes bridges publishing to `stream`; all are stopped afterwards."""
    made: list[PrefectBridge] = []

    def make() -> tuple[PrefectBridge, Handover]:
        handover = Handover(stream)
        options = BridgeOptions(flush_seconds=0.05, catch_up_delay_seconds=CATCH_UP_SECONDS)
        bridge = PrefectBridge(bridge_prefect_url, handover, options)
        made.append(bridge)
        return bridge, handover

    try:
        yield make
    finally:
        for bridge in made:
            await bridge.stop()


async def _connected(bridge: PrefectBridge) -> None:
    await bridge.start()
    await eventually(lambda: bridge.connected, timeout=20, what="the bridge connected")


def _of_run(events: list[event_pb2.Event], run_id: str) -> list[event_pb2.Event]:
    return [
        e
        for e in events
        if e.resource.labels["prefect.resource.id"] == f"prefect.flow-run.{run_id}"
    ]


async def _deployment(prefect: PrefectObjects) -> tuple[dict[str, Any], dict[str, Any]]:
    pool = await prefect.create_work_pool()
    flow = await prefect.create_flow()
    deployment = await prefect.create_deployment(flow["id"], pool["name"])
    return flow, deployment


async def _stored_prefect_event_ids(prefect: PrefectObjects, run_ids: list[str]) -> set[str]:
    """What Prefect itself recorded for these runs, once it has all of them."""
    body = {
        "filter": {"resource": {"id": [f"prefect.flow-run.{r}" for r in run_ids]}},
        "limit": 50,
    }
    response = await prefect.client.post("events/filter", json=body)
    assert response.status_code == 200, response.text
    ids = {e["id"] for e in response.json()["events"]}
    assert len(ids) == EVENTS_PER_RUN * len(run_ids), f"{len(ids)} stored so far"
    return ids


@pytest.mark.prefect
@pytest.mark.timeout(PREFECT_TIMEOUT_SECONDS)
async def test_bridge_forwards_flow_run_state_changes_with_related_resources(
    prefect: PrefectObjects,
    stream: EventsStream,
    new_bridge: Callable[[], tuple[PrefectBridge, Handover]],
) -> None:
    bridge, _ = new_bridge()
    await _connected(bridge)
    flow, deployment = await _deployment(prefect)
    run = await prefect.create_flow_run(deployment["id"])
    for state in ("PENDING", "RUNNING", "COMPLETED"):
        await prefect.set_state(run["id"], state)

    async def delivered() -> dict[str, event_pb2.Event]:
        by_name = {e.event: e for e in _of_run(await stream.events(), run["id"])}
        wanted = {f"prefect.flow-run.{s}" for s in ("Pending", "Running", "Completed")}
        assert wanted <= set(by_name), sorted(by_name)
        return by_name

    by_name = await eventually(delivered, timeout=30, what="the state-change events arrived")
    completed = by_name["prefect.flow-run.Completed"]
    assert completed.resource.labels["prefect.state-type"] == "COMPLETED"
    assert completed.HasField("received_time")
    roles = {
        r.labels["prefect.resource.role"]: r.labels["prefect.resource.id"]
        for r in completed.related
    }
    assert roles["flow"] == f"prefect.flow.{flow['id']}"
    assert roles["deployment"] == f"prefect.deployment.{deployment['id']}"
    payload = json_format.MessageToDict(completed.payload)
    assert payload["validated_state"]["type"] == "COMPLETED"
    # Prefect's state-change events follow the previous state's event.
    assert completed.follows == by_name["prefect.flow-run.Running"].id


@pytest.mark.prefect
@pytest.mark.timeout(PREFECT_TIMEOUT_SECONDS)
async def test_a_restarted_bridge_loses_nothing_and_publishes_nothing_twice(
    prefect: PrefectObjects,
    stream: EventsStream,
    new_bridge: Callable[[], tuple[PrefectBridge, Handover]],
) -> None:
    bridge, handover = new_bridge()
    await _connected(bridge)
    _, deployment = await _deployment(prefect)
    runs = [await prefect.create_flow_run(deployment["id"]) for _ in range(3)]
    run_ids = [r["id"] for r in runs]

    async def progress() -> None:
        for state in ("PENDING", "RUNNING", "COMPLETED"):
            for run_id in run_ids:
                await prefect.set_state(run_id, state)
                await asyncio.sleep(0.05)

    changes = asyncio.create_task(progress())
    await asyncio.sleep(0.3)
    # Restart while the state changes are still happening.
    await bridge.stop()
    await asyncio.sleep(0.5)
    await bridge.start()
    await changes

    expected = await eventually(
        lambda: _stored_prefect_event_ids(prefect, run_ids),
        timeout=20,
        what="Prefect stored the run events",
    )

    async def all_delivered() -> bool:
        ids = {e.id for e in await stream.events()}
        assert expected <= ids, f"missing {len(expected - ids)} of {len(expected)}"
        return True

    await eventually(all_delivered, timeout=30, what="every Prefect event reached the stream")
    # The restarted bridge never handed the same id over twice.
    assert len(handover.ids) == len(set(handover.ids))

    # A service restart: a fresh bridge replays the last 15 minutes; JetStream drops repeats.
    fresh, fresh_handover = new_bridge()
    await _connected(fresh)
    await eventually(
        lambda: expected <= set(fresh_handover.ids), timeout=30, what="the fresh bridge's replay"
    )
    counts = Counter(e.id for e in await stream.events())
    assert {i: n for i, n in counts.items() if n > 1} == {}
    assert expected <= set(counts)


@pytest.mark.prefect
@pytest.mark.timeout(PREFECT_TIMEOUT_SECONDS)
async def test_a_service_back_after_a_long_absence_catches_up_from_its_saved_point(
    prefect: PrefectObjects, stream: EventsStream, bridge_prefect_url: str, sqlite_url: str
) -> None:
    options = BridgeOptions(flush_seconds=0.05, catch_up_delay_seconds=CATCH_UP_SECONDS)
    async with migrated(sqlite_url, MIGRATIONS, VERSION_TABLE) as transactions:
        positions = BridgePositionStore(transactions.engine, "default", bridge_prefect_url, utc_now)
        before = PrefectBridge(
            bridge_prefect_url, Handover(stream), options, resume_points=positions
        )
        await _connected(before)
        _, deployment = await _deployment(prefect)
        seen = await prefect.create_flow_run(deployment["id"])

        async def forwarded() -> bool:
            return bool(_of_run(await stream.events(), seen["id"]))

        await eventually(forwarded, timeout=30, what="the first run's event forwarded")
        await before.stop()
        assert await positions.load() is not None

        # While the service is away, a run goes through its states.
        missed = await prefect.create_flow_run(deployment["id"])
        for state in ("PENDING", "RUNNING", "COMPLETED"):
            await prefect.set_state(missed["id"], state)
        expected = await eventually(
            lambda: _stored_prefect_event_ids(prefect, [missed["id"]]),
            timeout=20,
            what="Prefect stored the missed run's events",
        )

        # Back an hour later by its clock: the socket's backfill reaches 15 minutes back
        # and no further, so only the catch-up from the saved point can find those events.
        after = PrefectBridge(
            bridge_prefect_url,
            Handover(stream),
            options,
            clock=lambda: utc_now() + timedelta(hours=1),
            resume_points=positions,
        )
        try:
            await _connected(after)

            async def caught_up() -> bool:
                ids = {e.id for e in await stream.events()}
                assert expected <= ids, f"missing {len(expected - ids)} of {len(expected)}"
                return True

            await eventually(caught_up, timeout=30, what="the missed events reached EVENTS")
        finally:
            await after.stop()


# --- Protocol edge cases against a scripted websocket server on loopback ----------------


def frame(event_id: str, occurred: datetime, name: str = "demo.thing.happened") -> str:
    event = {
        "id": event_id,
        "occurred": occurred.isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": "demo.thing.1"},
        "related": [],
        "payload": {"n": 1},
    }
    return json.dumps({"type": "event", "event": event})


class ScriptedPrefect:
    """Speaks the `/events/out` handshake; connection N sends `scripts[N]`, then maybe closes."""

    def __init__(self, scripts: list[tuple[list[str], bool]], token: str | None = None) -> None:
        self.scripts = scripts
        self.token = token
        self.filters: list[dict[str, Any]] = []
        self.attempts = 0
        self._server: Server | None = None

    @property
    def api_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/api"

    async def __aenter__(self) -> ScriptedPrefect:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, subprotocols=[Subprotocol("prefect")]
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        assert connection.request.path == "/api/events/out"
        self.attempts += 1
        auth = json.loads(await connection.recv())
        if auth != {"type": "auth", "token": self.token}:
            await connection.close(1008, "Token is invalid")
            return
        await connection.send(json.dumps({"type": "auth_success"}))
        self.filters.append(json.loads(await connection.recv()))
        index = len(self.filters) - 1
        frames, close = self.scripts[min(index, len(self.scripts) - 1)]
        for text in frames:
            await connection.send(text)
        if close:
            await connection.close(1011, "scripted failure")
            return
        await connection.wait_closed()


class Collector:
    """A publish callable that keeps what it is given; it can fail its first calls."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[event_pb2.Event] = []
        self.calls = 0
        self._failures = failures

    async def __call__(self, events: list[event_pb2.Event]) -> None:
        self.calls += 1
        if self.calls <= self._failures:
            raise Unavailable("JetStream did not confirm the batch")
        self.events.extend(events)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.events]


FAST = BridgeOptions(
    flush_seconds=0.02, backoff_initial_seconds=0.01, catch_up_delay_seconds=3600.0
)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
IDS = [str(uuid.UUID(int=i)) for i in range(1, 5)]


@pytest.mark.timeout(30)
async def test_bad_frames_are_skipped_and_a_reconnect_resumes_without_repeats() -> None:
    first = [
        frame(IDS[0], T0),
        "{not json",
        json.dumps({"type": "event", "event": {"id": "not-a-uuid"}}),
        json.dumps({"type": "something-new"}),
        frame(IDS[1], T0 + timedelta(seconds=5)),
        frame(IDS[0], T0),
    ]
    # The server's backfill after the reconnect repeats what was already forwarded.
    second = [frame(IDS[1], T0 + timedelta(seconds=5)), frame(IDS[2], T0 + timedelta(seconds=9))]
    collector = Collector()
    now = T0 + timedelta(minutes=2)
    async with ScriptedPrefect([(first, True), (second, False)]) as server:
        bridge = PrefectBridge(server.api_url, collector, FAST, clock=lambda: now)
        await bridge.start()
        try:
            await eventually(lambda: len(collector.events) >= 3, what="three events forwarded")
            await asyncio.sleep(0.1)
        finally:
            await bridge.stop()
    assert collector.ids == IDS[:3]
    assert bridge.connections == 2
    occurred = [f["filter"]["occurred"] for f in server.filters]
    assert occurred[0]["since"] == (now - timedelta(minutes=15)).isoformat()
    assert occurred[1]["since"] == (T0 + timedelta(seconds=5) - timedelta(minutes=1)).isoformat()
    assert occurred[1]["until"] == (now + timedelta(days=365)).isoformat()
    assert all(f["filter"]["order"] == "ASC" and f["backfill"] for f in server.filters)


@pytest.mark.timeout(30)
async def test_a_restarted_service_resumes_from_the_saved_point(database_url: str) -> None:
    now = T0 + timedelta(minutes=10)
    frames = [frame(IDS[0], T0), frame(IDS[1], T0 + timedelta(seconds=5))]
    async with (
        migrated(database_url, MIGRATIONS, VERSION_TABLE) as transactions,
        ScriptedPrefect([(frames, False)]) as server,
    ):
        positions = BridgePositionStore(transactions.engine, "default", server.api_url, lambda: now)
        assert await positions.load() is None

        async def run_service() -> None:
            collector = Collector()
            bridge = PrefectBridge(
                server.api_url, collector, FAST, clock=lambda: now, resume_points=positions
            )
            await bridge.start()
            try:
                await eventually(lambda: len(collector.events) >= 2, what="events forwarded")
            finally:
                await bridge.stop()

        await run_service()
        await run_service()  # restarted
        assert await positions.load() == T0 + timedelta(seconds=5)
        # The saved point never moves back.
        await positions.save(T0)
        assert await positions.load() == T0 + timedelta(seconds=5)
    since = [f["filter"]["occurred"]["since"] for f in server.filters]
    assert since == [
        (now - timedelta(minutes=15)).isoformat(),
        (T0 + timedelta(seconds=5) - timedelta(minutes=1)).isoformat(),
    ]


@pytest.mark.timeout(30)
async def test_a_failed_publish_is_retried_from_the_resume_point() -> None:
    frames = [frame(IDS[0], T0), frame(IDS[1], T0 + timedelta(seconds=1))]
    collector = Collector(failures=2)
    async with ScriptedPrefect([(frames, False)]) as server:
        bridge = PrefectBridge(server.api_url, collector, FAST)
        await bridge.start()
        try:
            await eventually(lambda: len(collector.events) >= 2, what="the batch got through")
        finally:
            await bridge.stop()
    assert collector.ids == IDS[:2]
    assert bridge.connections == 3


@pytest.mark.timeout(30)
async def test_a_refused_token_is_retried_and_does_not_end_the_bridge() -> None:
    collector = Collector()
    async with ScriptedPrefect([([frame(IDS[0], T0)], False)], token="right") as server:
        wrong = PrefectBridge(server.api_url, collector, replace(FAST, api_key="wrong"))
        await wrong.start()
        try:
            await eventually(lambda: server.attempts >= 3, what="repeated attempts")
            assert not wrong.connected
        finally:
            await wrong.stop()
        right = PrefectBridge(server.api_url, collector, replace(FAST, auth_string="right"))
        await right.start()
        try:
            await eventually(lambda: collector.ids == IDS[:1], what="the event with the token")
        finally:
            await right.stop()


@pytest.mark.prefect
@pytest.mark.timeout(PREFECT_TIMEOUT_SECONDS)
async def test_the_service_configured_with_a_bridge_url_ingests_flow_run_events(
    prefect: PrefectObjects,
    stream: EventsStream,
    bridge_prefect_url: str,
    nats_url: str,
    namespace: str,
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INGEST_PREFECT_BRIDGE__URL", bridge_prefect_url)
    monkeypatch.setenv("INGEST_PREFECT_BRIDGE__CATCH_UP_DELAY_SECONDS", str(CATCH_UP_SECONDS))
    settings = ingest_settings(nats_url, namespace, sqlite_url, tmp_path, http_enabled=False)
    assert settings.prefect_bridge.url == bridge_prefect_url
    app = build(settings)
    await app.start()
    try:
        bridge = app.prefect_bridge
        assert bridge is not None
        await eventually(lambda: bridge.connected, timeout=20, what="the bridge connected")
        _, deployment = await _deployment(prefect)
        run = await prefect.create_flow_run(deployment["id"])
        for state in ("PENDING", "RUNNING", "COMPLETED"):
            await prefect.set_state(run["id"], state)

        async def delivered() -> bool:
            names = {e.event for e in _of_run(await stream.events(), run["id"])}
            wanted = {f"prefect.flow-run.{s}" for s in ("Pending", "Running", "Completed")}
            assert wanted <= names, sorted(names)
            return True

        await eventually(delivered, timeout=30, what="the state-change events reached EVENTS")
    finally:
        await app.stop()
