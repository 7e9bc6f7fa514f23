"""Ingest benchmarks: emit throughput against the raw JetStream ceiling; QueryEvents p99.

A real nats-server is started here and the ingest service runs as its own process
(`python -m automations_ingest`), so every figure includes gRPC, validation, publishing
and JetStream's acknowledgements.

1. Raw ceiling: the same serialized events published from this process with nats-py's
   `publish_async` (header `Nats-Msg-Id` = event id), all acknowledgements awaited. For
   comparison, also with the batch publisher ingest itself uses (`JetStreamPublisher`,
   batches of 500, the same number in flight as the client), which goes further.
2. Ingest throughput: the Python client's `emit_events` in batches of 500, a few batches in
   flight; an event counts once its batch's reply (durably in the stream) has arrived.
3. QueryEvents p99 for a page of 50 from 1,000,000 stored events on PostgreSQL: a fresh
   database is migrated and bulk-loaded with COPY, then ~200 queries with a time range,
   an event-name prefix and a resource id go through the running service. Skipped with a
   clear line when PostgreSQL is not reachable.

Environment: BENCH_INGEST_EVENTS (default 60000 per run), BENCH_INGEST_RUNS (default 3),
BENCH_INGEST_INFLIGHT (default 4), BENCH_INGEST_STORE (default 1000000),
BENCH_INGEST_PERSISTER: `process` (the default, as `make run` deploys it: the events are
stored by a second ingest process, INGEST_ROLE=persister, at a lower CPU priority),
`inline` (one process does both, INGEST_ROLE=all) or `off` (an API-only replica); with a
persister every run starts once the store has caught up, and that wait is printed;
BENCH_INGEST_POSTGRES (default postgresql://127.0.0.1:5432/test).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
import nats
from google.protobuf.timestamp_pb2 import Timestamp

from automations import AutomationsClient, Event, _convert
from automations.v1 import event_filter_pb2, event_pb2, events_service_pb2
from automations.v1 import events_service_pb2_grpc as events_grpc
from automations_common.broker import JetStreamPublisher, OutgoingMessage, ensure_streams
from automations_common.database import create_engine, migrate
from automations_common.devstack import (
    ManagedProcess,
    NatsServer,
    free_port,
    service_process,
    wait_for_health,
)
from automations_common.streams import Streams
from automations_ingest.app import MIGRATIONS, VERSION_TABLE
from automations_ingest.persister import DURABLE_NAME as PERSISTER_DURABLE

BATCH = 500
# BENCH_INGEST_PERSISTER -> the INGEST_ROLE of the process the client talks to.
PERSISTER_MODES = {"process": "api", "inline": "all", "off": "api"}
PERSISTER_LABELS = {
    "process": "in its own process (INGEST_ROLE=persister, niced)",
    "inline": "in the same process (INGEST_ROLE=all)",
    "off": "off (an API-only replica)",
}
THROUGHPUT_TARGET = 25_000.0
RATIO_TARGET = 0.6
P99_TARGET_MS = 50.0
RESOURCES = 1000
EVENT_NAMES = [
    f"bench.{kind}.{state}"
    for kind in ("flow-run", "task-run", "deployment", "work-pool")
    for state in ("Scheduled", "Pending", "Running", "Completed", "Failed")
]
STORE_DAYS = 6
RESOURCE_COLUMNS = [
    "event_id",
    "position",
    "workspace",
    "occurred",
    "resource_id",
    "role",
    "labels",
]


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _events(count: int) -> list[Event]:
    now = datetime.now(UTC)
    return [
        Event.model_validate(
            {
                "occurred": now,
                "event": EVENT_NAMES[i % len(EVENT_NAMES)],
                "resource": {
                    "prefect.resource.id": f"bench.thing.{i % RESOURCES}",
                    "prefect.resource.name": f"thing {i % RESOURCES}",
                },
                "related": [
                    {
                        "prefect.resource.id": f"bench.flow.{i % 17}",
                        "prefect.resource.role": "flow",
                    }
                ],
                "payload": {"n": i, "note": "benchmark event"},
            }
        )
        for i in range(count)
    ]


def _protos(events: list[Event]) -> list[event_pb2.Event]:
    """What ingest publishes for these events: the client's protos with `received` set."""
    out = []
    for e in events:
        message = _convert.event_to_proto(e)
        message.received_time.FromDatetime(datetime.now(UTC))
        out.append(message)
    return out


async def _raw_ceiling(nats_url: str, namespace: str, events: list[Event]) -> float:
    """Events/s that nats-py itself reaches with pipelined acks, same payloads."""
    client = await nats.connect(nats_url, pending_size=64 * 1024 * 1024)
    try:
        js = client.jetstream(publish_async_max_pending=4000)
        streams = Streams(namespace)
        await ensure_streams(js, streams.stream_configs())
        subject = streams.events_subject("default")
        payloads = [(p.id, p.SerializeToString()) for p in _protos(events)]
        # Fresh ids, so JetStream's dedupe window does not drop them.
        payloads = [(str(uuid.uuid4()), data) for _, data in payloads]
        started = time.perf_counter()
        futures = [
            await js.publish_async(subject, data, headers={"Nats-Msg-Id": msg_id})
            for msg_id, data in payloads
        ]
        await asyncio.gather(*futures)
        return len(payloads) / (time.perf_counter() - started)
    finally:
        await client.close()


async def _batch_ceiling(
    nats_url: str, namespace: str, events: list[Event], inflight: int
) -> float:
    """Events/s for the same payloads published the way ingest publishes (the batch
    publisher, batches of 500, `inflight` at a time) with no gRPC or validation: the
    ceiling of the publishing technique rather than of nats-py's `publish_async`."""
    client = await nats.connect(nats_url, pending_size=64 * 1024 * 1024)
    try:
        streams = Streams(namespace)
        await ensure_streams(client.jetstream(), streams.stream_configs())
        subject = streams.events_subject("default")
        messages = [
            OutgoingMessage(subject, p.SerializeToString(), str(uuid.uuid4()))
            for p in _protos(events)
        ]
        batches = iter([messages[i : i + BATCH] for i in range(0, len(messages), BATCH)])
        publisher = JetStreamPublisher(client)

        async def worker() -> None:
            for batch in batches:
                await publisher.publish(batch, 60.0)

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(inflight):
                group.create_task(worker())
        return len(messages) / (time.perf_counter() - started)
    finally:
        await client.close()


async def _ingest_throughput(address: str, events: list[Event], inflight: int) -> float:
    """Events/s accepted by the ingest process: batches of 500, `inflight` at a time."""
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    client = AutomationsClient(events_url=address)
    try:
        await client.emit_events(_events(10))  # connect and warm up
        queue = iter(batches)
        accepted = 0

        async def worker() -> None:
            nonlocal accepted
            for batch in queue:
                result = await client.emit_events(batch, batch_size=BATCH)
                if result.rejected:
                    raise RuntimeError(f"refused: {result.rejected[0]}")
                accepted += len(result.accepted_ids)

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(inflight):
                group.create_task(worker())
        elapsed = time.perf_counter() - started
    finally:
        await client.aclose()
    if accepted != len(events):
        raise RuntimeError(f"only {accepted} of {len(events)} accepted")
    return accepted / elapsed


class _StoreWait:
    """Waits until the persister's durable consumer has stored everything in the stream."""

    def __init__(self, nats_url: str, streams: Streams) -> None:
        self._nats_url = nats_url
        self._streams = streams

    async def caught_up(self, timeout: float = 300.0) -> float:
        client = await nats.connect(self._nats_url)
        try:
            js = client.jetstream()
            started = time.perf_counter()
            while time.perf_counter() - started < timeout:
                info = await js.consumer_info(self._streams.events_stream, PERSISTER_DURABLE)
                if not info.num_pending and not info.num_ack_pending:
                    return time.perf_counter() - started
                await asyncio.sleep(0.1)
            raise RuntimeError(f"the persister did not catch up within {timeout:.0f} s")
        finally:
            await client.close()


# ---------------------------------------------------------------- QueryEvents on PostgreSQL


# Generated inside PostgreSQL (generate_series), so a million rows load in well under a
# minute; resource ids and names are spread by hashing the row number. The secondary
# indexes are dropped for the load and rebuilt after it from their own definitions.
LOAD_EVENTS = """
INSERT INTO event (id, workspace, occurred, event, resource_id, resource, related, payload,
                   follows, received)
SELECT md5('bench' || g)::uuid::text, 'default', t, name, rid,
       json_build_object('prefect.resource.id', rid, 'prefect.resource.name', rid),
       json_build_array(json_build_object('prefect.resource.id', 'bench.flow.' || (g % 17),
                                          'prefect.resource.role', 'flow')),
       json_build_object('n', g), NULL, t
FROM (
    SELECT g,
           $1::timestamp + make_interval(secs => $2::float8 * g / $3::int) AS t,
           ($4::text[])[1 + abs(hashtext('n' || g) % $5::int)] AS name,
           'bench.thing.' || abs(hashtext('r' || g) % $6::int) AS rid
    FROM generate_series($7::int, $8::int - 1) AS g
) AS rows
"""
LOAD_RESOURCES = """
INSERT INTO event_resource (event_id, position, workspace, occurred, resource_id, role, labels)
SELECT id, 0, workspace, occurred, resource_id, '', resource FROM event
UNION ALL
SELECT id, 1, workspace, occurred, related->0->>'prefect.resource.id', 'flow', related->0
FROM event
"""


async def _load_store(dsn: str, database_url: str, count: int, now: datetime) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine, MIGRATIONS, VERSION_TABLE)
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(dsn)
    try:
        span = STORE_DAYS * 86400.0
        start = now.replace(tzinfo=None) - timedelta(seconds=span)
        chunk = 250_000
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('event', 'event_resource') "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        for offset in range(0, count, chunk):
            await connection.execute(
                LOAD_EVENTS,
                start,
                span,
                count,
                EVENT_NAMES,
                len(EVENT_NAMES),
                RESOURCES,
                offset,
                min(count, offset + chunk),
            )
        await connection.execute(LOAD_RESOURCES)
        for index in indexes:
            await connection.execute(index["indexdef"])
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


async def _query_latencies(address: str, now: datetime, calls: int) -> list[float]:
    rng = random.Random(11)
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub = events_grpc.EventsServiceStub(channel)
        for i in range(calls + 10):
            until = now - timedelta(hours=rng.uniform(0, 24))
            since = until - timedelta(days=2)
            request = events_service_pb2.QueryEventsRequest(
                filter=event_filter_pb2.EventFilter(
                    occurred=event_filter_pb2.OccurredFilter(
                        since=_timestamp(since), until=_timestamp(until)
                    ),
                    event=event_filter_pb2.EventNameFilter(prefix=["bench.flow-run."]),
                    resource=event_filter_pb2.ResourceFilter(
                        id=[f"bench.thing.{rng.randrange(RESOURCES)}"]
                    ),
                ),
                page_size=50,
            )
            started = time.perf_counter()
            response = await stub.QueryEvents(request, timeout=30)
            elapsed = time.perf_counter() - started
            if not response.events:
                raise RuntimeError("a benchmark query found nothing")
            if i >= 10:  # the first few warm caches and connections
                latencies.append(elapsed * 1000)
    return latencies


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _query_bench(nats_url: str, workdir: Path, admin_dsn: str, store: int, runs: int) -> None:
    try:
        admin = await asyncio.wait_for(asyncpg.connect(admin_dsn), 5)
    except Exception as exc:
        print(f"SKIP QueryEvents p99: PostgreSQL not reachable at {admin_dsn} ({exc})")
        return
    name = f"automations_bench_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = admin_dsn.rsplit("/", 1)[0]
    dsn = f"{base}/{name}"
    database_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    process: ManagedProcess | None = None
    try:
        now = datetime.now(UTC)
        started = time.perf_counter()
        await _load_store(dsn, database_url, store, now)
        print(f"loaded {store:,} events into PostgreSQL in {time.perf_counter() - started:.0f} s")
        port = free_port()
        env = {
            "INGEST_NATS__URL": nats_url,
            "INGEST_NATS__NAMESPACE": "benchq",
            "INGEST_GRPC__PORT": str(port),
            "INGEST_HTTP_ENABLED": "false",
            "INGEST_DATABASE_URL": database_url,
            "INGEST_DATA_DIR": str(workdir),
            "INGEST_LOG_LEVEL": "WARNING",
        }
        process = service_process("ingest", env, workdir / "ingest-query.log")
        process.start()
        address = f"127.0.0.1:{port}"
        await asyncio.to_thread(wait_for_health, address, 60.0, process)
        p99s, p50s = [], []
        for _ in range(runs):
            latencies = await _query_latencies(address, now, 200)
            p99s.append(_p99(latencies))
            p50s.append(statistics.median(latencies))
        p99 = statistics.median(p99s)
        verdict = "met" if p99 <= P99_TARGET_MS else "NOT met"
        print(
            f"QueryEvents page of 50 from {store:,} events (PostgreSQL), 200 calls x {runs}: "
            f"p50 {statistics.median(p50s):.1f} ms, p99 {p99:.1f} ms "
            f"(runs: {', '.join(f'{v:.1f}' for v in p99s)}); target <= {P99_TARGET_MS:.0f} ms: "
            f"{verdict}"
        )
    finally:
        if process is not None:
            process.stop()
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _run(workdir: Path) -> None:
    count = _env_int("BENCH_INGEST_EVENTS", 60_000)
    runs = _env_int("BENCH_INGEST_RUNS", 3)
    inflight = _env_int("BENCH_INGEST_INFLIGHT", 4)
    server = NatsServer(free_port(), workdir / "nats", workdir / "nats.log")
    server.start()
    processes: list[ManagedProcess] = []
    try:
        server.wait_ready()
        port = free_port()
        persister = os.environ.get("BENCH_INGEST_PERSISTER") or "process"
        if persister not in PERSISTER_MODES:
            raise SystemExit(
                f"BENCH_INGEST_PERSISTER={persister!r}: choose one of {', '.join(PERSISTER_MODES)}"
            )
        env = {
            "INGEST_NATS__URL": server.url,
            "INGEST_NATS__NAMESPACE": "bench",
            "INGEST_GRPC__PORT": str(port),
            "INGEST_HTTP_ENABLED": "false",
            "INGEST_DATA_DIR": str(workdir),
            "INGEST_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'ingest.db'}",
            "INGEST_LOG_LEVEL": "WARNING",
            "INGEST_ROLE": PERSISTER_MODES[persister],
        }
        process = service_process("ingest", env, workdir / "ingest.log")
        process.start()
        processes.append(process)
        address = f"127.0.0.1:{port}"
        await asyncio.to_thread(wait_for_health, address, 60.0, process)
        if persister == "process":
            persister_port = free_port()
            store_process = service_process(
                "ingest",
                {**env, "INGEST_ROLE": "persister", "INGEST_GRPC__PORT": str(persister_port)},
                workdir / "ingest-persister.log",
                name="ingest-persister",
            )
            store_process.start()
            processes.append(store_process)
            await asyncio.to_thread(
                wait_for_health, f"127.0.0.1:{persister_port}", 60.0, store_process
            )
        store_wait = _StoreWait(server.url, Streams("bench")) if persister != "off" else None
        ceilings, batch_ceilings, rates, catch_ups = [], [], [], []
        for run in range(runs):
            events = _events(count)
            ceilings.append(await _raw_ceiling(server.url, "raw", events))
            batch_ceilings.append(await _batch_ceiling(server.url, "rawbatch", events, inflight))
            rates.append(await _ingest_throughput(address, events, inflight))
            line = (
                f"  run {run + 1}: raw {ceilings[-1]:,.0f} ev/s, batch publisher "
                f"{batch_ceilings[-1]:,.0f} ev/s, ingest {rates[-1]:,.0f} ev/s"
            )
            if store_wait is not None:
                # Every measurement starts with the store caught up, so no run pays for
                # the one before it; the wait itself is the persister's catch-up.
                catch_ups.append(await store_wait.caught_up())
                line += f", all stored {catch_ups[-1]:.1f} s after the last was accepted"
            print(line, flush=True)
        ceiling, rate = statistics.median(ceilings), statistics.median(rates)
        ratio = rate / ceiling
        print(
            f"raw nats-py publish_async ceiling: {ceiling:,.0f} events/s (median of {runs})\n"
            f"ingest EmitEvents, batches of {BATCH}, {inflight} in flight, persister "
            f"{PERSISTER_LABELS[persister]}: {rate:,.0f} events/s "
            f"= {ratio:.2f} of raw; targets >= {THROUGHPUT_TARGET:,.0f}/s: "
            f"{'met' if rate >= THROUGHPUT_TARGET else 'NOT met'}, >= {RATIO_TARGET}: "
            f"{'met' if ratio >= RATIO_TARGET else 'NOT met'}",
            flush=True,
        )
        batch_ceiling = statistics.median(batch_ceilings)
        print(
            f"for comparison, the batch publisher ingest uses, from this process with no gRPC "
            f"or validation: {batch_ceiling:,.0f} events/s; ingest = "
            f"{rate / batch_ceiling:.2f} of it",
            flush=True,
        )
        if catch_ups:
            print(
                f"persister: {count:,} events stored in SQLite "
                f"{statistics.median(catch_ups):.1f} s (median) after the last was accepted",
                flush=True,
            )
        _stop(processes)
        await _query_bench(
            server.url,
            workdir,
            os.environ.get("BENCH_INGEST_POSTGRES") or "postgresql://127.0.0.1:5432/test",
            _env_int("BENCH_INGEST_STORE", 1_000_000),
            runs,
        )
    finally:
        _stop(processes)
        server.stop()


def _stop(processes: list[ManagedProcess]) -> None:
    while processes:
        processes.pop().stop()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        try:
            asyncio.run(_run(Path(tmp)))
        except Exception as exc:
            print(f"ingest benchmark failed: {type(exc).__name__}: {exc}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
