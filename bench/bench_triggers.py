"""Triggers benchmarks: evaluator throughput, proactive firing lateness, memory per bucket.

Everything runs against a real nats-server started here and the real triggers service,
started as its own process (`python -m automations_triggers`) on an SQLite file, so the
figures include decoding, evaluation, the batch's transaction, publishing and acking.

1. Throughput: N events are published to EVENTS first and the durable consumer created;
   the service is then started with 10, 1,000 or 10,000 automations (exact names,
   trailing `*`, general globs, pinned resource ids, `for_each`, proactive) and timed from
   the first delivery until the consumer's ack floor reaches the last event (an event is
   acked after its state, outbox and position are committed). About 1% of the events
   match an automation. Events per CPU-second of the service process is printed too: it
   varies less than wall-clock rates on a shared machine.
2. Proactive lateness: 10,000 keys of proactive `for_each` triggers are armed over ~3 s;
   lateness = when the TriggeredAction reaches the ACTIONS subject minus the window's end.
   "spread" (the target): the windows end spread over BENCH_TRIGGERS_SPREAD seconds
   (default 30, about 300 firings/s); "burst" (a stress figure): all end within ~3 s
   (about 3,300 firings/s).
3. Memory per live bucket: tracemalloc over the engine, marginal cost of 10,000 more
   buckets (the seen-event set is full by then, so it does not count); the service's RSS
   growth per armed key in (2) is printed too.

Environment: BENCH_TRIGGERS_EVENTS (default 30000), BENCH_TRIGGERS_RUNS (default 3),
BENCH_TRIGGERS_SIZES, BENCH_TRIGGERS_ONLY, BENCH_TRIGGERS_SPREAD (see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import sqlalchemy as sa
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from automations.v1 import event_pb2 as epb
from automations.v1 import stream_pb2 as spb
from automations_common.broker import JetStreamPublisher, OutgoingMessage, ensure_streams
from automations_common.database import create_engine, migrate
from automations_common.devstack import (
    ManagedProcess,
    NatsServer,
    free_port,
    service_process,
    wait_for_health,
)
from automations_common.ids import new_id
from automations_common.streams import Streams
from automations_triggers.app import MIGRATIONS, VERSION_TABLE
from automations_triggers.automations import with_new_trigger_ids
from automations_triggers.documents import AutomationDocument
from automations_triggers.engine import Engine
from automations_triggers.loading import to_engine_automation
from automations_triggers.model import Event
from automations_triggers.tables import automation as automation_table
from automations_triggers.validation import validate_automation

EVENTS = int(os.environ.get("BENCH_TRIGGERS_EVENTS", "30000"))
RUNS = int(os.environ.get("BENCH_TRIGGERS_RUNS", "3"))
# For profiling one part: a comma-separated subset of throughput,lateness,memory
# (or spread / burst for one lateness case).
ONLY = set(os.environ.get("BENCH_TRIGGERS_ONLY", "throughput,lateness,memory").split(","))
SIZES = tuple(int(n) for n in os.environ.get("BENCH_TRIGGERS_SIZES", "10,1000,10000").split(","))
MATCHING = 0.01
LIVE_BUCKETS = 10_000
ARM_SECONDS = 3.0
PROACTIVE_WITHIN = 10.0
# Windows of the target case end spread over this many seconds (10,000 / 33 s ~ 300/s).
SPREAD_SECONDS = float(os.environ.get("BENCH_TRIGGERS_SPREAD", "30"))

TARGET_THROUGHPUT = 10_000.0
TARGET_RATIO = 0.7
TARGET_LATENESS_P99 = 1.0
TARGET_BYTES_PER_BUCKET = 1024.0


# -- workload ------------------------------------------------------------------------------


def _trigger(i: int) -> dict[str, Any]:
    """Automation i's trigger; the kinds rotate so every size has the same mix."""
    kind = i % 6
    if kind == 0:  # exact name
        return {"type": "event", "expect": [f"acme.order.{i}.placed"], "threshold": 1}
    if kind == 1:  # trailing wildcard
        return {"type": "event", "expect": [f"acme.job.{i}.*"], "threshold": 3, "within": 60}
    if kind == 2:  # general glob
        return {"type": "event", "expect": [f"acme.batch.{i}.*.failed"], "threshold": 1}
    if kind == 3:  # one shared name, a pinned resource id each
        return {
            "type": "event",
            "expect": ["acme.shared.ping"],
            "match": {"prefect.resource.id": f"acme.device.{i}"},
            "threshold": 2,
            "within": 30,
        }
    if kind == 4:  # for_each
        return {
            "type": "event",
            "expect": [f"acme.step.{i}.done"],
            "for_each": ["prefect.resource.id"],
            "threshold": 2,
            "within": 60,
        }
    return {  # proactive, one bucket per run that started
        "type": "event",
        "posture": "Proactive",
        "after": [f"acme.task.{i}.started"],
        "expect": [f"acme.task.{i}.finished"],
        "for_each": ["prefect.resource.id"],
        "threshold": 1,
        "within": 600,
    }


def _document(name: str, trigger: dict[str, Any]) -> AutomationDocument:
    doc = AutomationDocument(name=name, trigger=trigger, actions=[{"type": "do-nothing"}])
    doc = validate_automation(doc)
    assert doc.trigger is not None
    doc.trigger = with_new_trigger_ids(doc.trigger, new_id)
    now = datetime.now(UTC)
    doc.id, doc.created, doc.updated = new_id(), now, now
    return doc


def _event(name: str, resource_id: str, rng: random.Random, now: datetime) -> epb.Event:
    """A Prefect-sized event: a few labels, two related resources, a small payload."""
    event = epb.Event(
        id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        event=name,
        resource=epb.Resource(
            labels={"prefect.resource.id": resource_id, "prefect.resource.name": "thing"}
        ),
        related=[
            epb.Resource(
                labels={
                    "prefect.resource.id": f"prefect.flow.{rng.randrange(100)}",
                    "prefect.resource.role": "flow",
                }
            ),
            epb.Resource(
                labels={"prefect.resource.id": "prefect.tag.bench", "prefect.resource.role": "tag"}
            ),
        ],
    )
    event.payload.update({"attempt": rng.randrange(5), "message": "a short message"})
    event.occurred_time.FromDatetime(now)
    event.received_time.FromDatetime(now)
    return event


def _matching(i: int, rng: random.Random, now: datetime) -> epb.Event:
    run = f"acme.run.{rng.randrange(50)}"
    kind = i % 6
    if kind == 0:
        return _event(f"acme.order.{i}.placed", run, rng, now)
    if kind == 1:
        return _event(f"acme.job.{i}.progress", run, rng, now)
    if kind == 2:
        return _event(f"acme.batch.{i}.step7.failed", run, rng, now)
    if kind == 3:
        return _event("acme.shared.ping", f"acme.device.{i}", rng, now)
    if kind == 4:
        return _event(f"acme.step.{i}.done", run, rng, now)
    state = "started" if rng.random() < 0.6 else "finished"
    return _event(f"acme.task.{i}.{state}", run, rng, now)


def _noise(rng: random.Random, now: datetime) -> epb.Event:
    """Names that reach the index's tables (and prefix/glob checks) but match nothing."""
    j = rng.randrange(1_000_000)
    kind = j % 5
    if kind == 0:
        return _event(f"acme.order.{j}.shipped", f"acme.run.{j}", rng, now)
    if kind == 1:
        return _event("acme.shared.ping", f"acme.other.{j}", rng, now)
    if kind == 2:
        return _event(f"acme.batch.{j}.step.ok", f"acme.run.{j}", rng, now)
    if kind == 3:
        return _event("prefect.flow-run.Running", f"prefect.flow-run.{j}", rng, now)
    return _event(f"acme.metrics.{j}", f"acme.run.{j}", rng, now)


def _events(size: int, count: int, seed: int) -> list[epb.Event]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    return [
        _matching(rng.randrange(size), rng, now) if rng.random() < MATCHING else _noise(rng, now)
        for _ in range(count)
    ]


# -- plumbing ------------------------------------------------------------------------------


@dataclass
class Service:
    process: ManagedProcess
    database_url: str

    def rss_bytes(self) -> int:
        assert self.process.process is not None
        status = Path(f"/proc/{self.process.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def cpu_seconds(self) -> float:
        """User + system CPU time the service process has used so far."""
        assert self.process.process is not None
        stat = Path(f"/proc/{self.process.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _store_automations(database_url: str, docs: Sequence[AutomationDocument]) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine, MIGRATIONS, VERSION_TABLE)
        rows = [
            {
                "id": d.id,
                "workspace": "default",
                "name": d.name,
                "description": "",
                "enabled": True,
                "tags": [],
                "trigger": d.trigger,
                "actions": d.actions,
                "actions_on_trigger": [],
                "actions_on_resolve": [],
                "owner_resource": None,
                "created": d.created,
                "updated": d.updated,
            }
            for d in docs
        ]
        async with engine.begin() as connection:
            for start in range(0, len(rows), 2000):
                await connection.execute(sa.insert(automation_table), rows[start : start + 2000])
    finally:
        await engine.dispose()


async def _start_service(
    nats_url: str,
    namespace: str,
    work: Path,
    docs: Sequence[AutomationDocument],
    wait_serving: bool = True,
) -> Service:
    database_url = f"sqlite+aiosqlite:///{work / (namespace + '.db')}"
    await _store_automations(database_url, docs)
    port = free_port()
    env = {
        "TRIGGERS_NATS__URL": nats_url,
        "TRIGGERS_NATS__NAMESPACE": namespace,
        "TRIGGERS_GRPC__PORT": str(port),
        "TRIGGERS_DATA_DIR": str(work),
        "TRIGGERS_DATABASE_URL": database_url,
        "TRIGGERS_RECONCILE_SECONDS": "3600",
        "TRIGGERS_LOG_LEVEL": "WARNING",
    }
    if "TRIGGERS_BATCH_SIZE" in os.environ:  # to compare batch sizes
        env["TRIGGERS_BATCH_SIZE"] = os.environ["TRIGGERS_BATCH_SIZE"]
    process = service_process("triggers", env, work / f"{namespace}.log")
    process.start()
    if wait_serving:
        await asyncio.to_thread(wait_for_health, f"127.0.0.1:{port}", 120.0, process)
    return Service(process, database_url)


async def _publish(
    jetstream: JetStreamPublisher, streams: Streams, events: Sequence[epb.Event]
) -> int:
    """Publish with pipelined acks; the stream sequence of the last one."""
    subject = streams.events_subject()
    last = 0
    for start in range(0, len(events), 5000):
        receipt = await jetstream.publish(
            [
                OutgoingMessage(subject, e.SerializeToString(), e.id)
                for e in events[start : start + 5000]
            ],
            timeout_seconds=60.0,
        )
        last = max(last, receipt.last_sequence)
    return last


async def _drop_streams(js: JetStreamContext, streams: Streams) -> None:
    for name in (streams.events_stream, streams.actions_stream):
        try:
            await js.delete_stream(name)
        except Exception as exc:
            print(f"  (could not delete stream {name}: {exc})")


# -- 1. throughput --------------------------------------------------------------------------


async def _throughput_run(
    nc: NatsClient, nats_url: str, work: Path, size: int, run: int, docs: list[AutomationDocument]
) -> tuple[float, float]:
    """(events/s, events per CPU-second of the service process) for one run."""
    js = nc.jetstream()
    jetstream = JetStreamPublisher(nc)
    namespace = f"bt{size}r{run}x{uuid.uuid4().hex[:6]}"
    streams = Streams(namespace)
    await ensure_streams(js, streams.stream_configs())
    last = await _publish(jetstream, streams, _events(size, EVENTS, seed=run))
    # The durable consumer exists before the service starts (it binds to it), so the
    # clock starts when the first event is delivered, not when start-up is noticed.
    await js.add_consumer(
        streams.events_stream,
        ConsumerConfig(
            durable_name="triggers",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=30.0,
            max_ack_pending=2560,
            filter_subject=streams.events_subject(),
        ),
    )
    service = await _start_service(nats_url, namespace, work, docs, wait_serving=False)
    try:
        first_floor, first_time, first_cpu = -1, 0.0, 0.0
        deadline = time.perf_counter() + 300
        while True:
            info = await js.consumer_info(streams.events_stream, "triggers")
            now = time.perf_counter()
            floor = (info.ack_floor.stream_seq or 0) if info.ack_floor else 0
            delivered = (info.delivered.stream_seq or 0) if info.delivered else 0
            if first_floor < 0 and delivered > 0:
                first_floor, first_time, first_cpu = floor, now, service.cpu_seconds()
            if floor >= last:
                break
            if now > deadline or not service.process.running:
                tail = service.process.log_tail()
                raise RuntimeError(f"service stalled at {floor}/{last}\n{tail}")
            await asyncio.sleep(0.01)
        cpu = service.cpu_seconds() - first_cpu
        return (last - first_floor) / (now - first_time), (last - first_floor) / max(cpu, 1e-3)
    finally:
        service.process.stop()
        await _drop_streams(js, streams)


async def bench_throughput(
    nc: NatsClient, nats_url: str, work: Path
) -> dict[int, tuple[float, float]]:
    """Per size: median (events/s, events per service CPU-second)."""
    docs = {size: [_document(f"bench-{i}", _trigger(i)) for i in range(size)] for size in SIZES}
    rates: dict[int, list[tuple[float, float]]] = {size: [] for size in SIZES}
    for run in range(RUNS):
        for size in SIZES:  # interleaved, so machine noise spreads over every size
            rate, per_cpu = await _throughput_run(nc, nats_url, work, size, run, docs[size])
            rates[size].append((rate, per_cpu))
            print(
                f"  run {run + 1}: {size:>6} automations: {rate:>9,.0f} events/s "
                f"({per_cpu:,.0f} events per service CPU-second)",
                flush=True,
            )
    return {
        size: (statistics.median(r for r, _ in values), statistics.median(c for _, c in values))
        for size, values in rates.items()
    }


# -- 2. proactive lateness ------------------------------------------------------------------


@dataclass(frozen=True)
class LatenessCase:
    """10,000 keys armed over ARM_SECONDS across `automations` proactive triggers whose
    windows end `first_end` .. `first_end + spread` seconds after arming."""

    name: str
    automations: int
    first_end: float
    spread: float

    def within(self, j: int) -> float:
        return self.first_end + self.spread * j / max(1, self.automations - 1)

    @property
    def deadline_rate(self) -> float:
        """Firings per second the deadlines call for (arming adds ARM_SECONDS to the span)."""
        return LIVE_BUCKETS / (self.spread + ARM_SECONDS)


# The target: 10,000 live buckets whose windows end spread over SPREAD_SECONDS (60
# automations, windows of 10 s to 10 s + spread; 10 s is the shortest proactive window).
# The stress figure: all 10,000 windows end within ARM_SECONDS (one automation, 10 s).
SPREAD = LatenessCase("spread", 60, PROACTIVE_WITHIN, SPREAD_SECONDS)
BURST = LatenessCase("burst", 1, PROACTIVE_WITHIN, 0.0)


@dataclass
class Lateness:
    p50: float
    p99: float
    worst: float
    fired: int
    rss_per_bucket: float
    firings_per_second: float


def _lateness_docs(case: LatenessCase) -> dict[str, tuple[AutomationDocument, float]]:
    docs = {}
    for j in range(case.automations):
        within = case.within(j)
        doc = _document(
            f"lateness-{j}",
            {
                "type": "event",
                "posture": "Proactive",
                "after": [f"bench.armed.{j}"],
                "expect": ["bench.done"],
                "for_each": ["prefect.resource.id"],
                "threshold": 1,
                "within": within,
            },
        )
        docs[doc.id] = (doc, within)
    return docs


async def _lateness_run(
    nc: NatsClient, nats_url: str, work: Path, case: LatenessCase, run: int
) -> Lateness:
    js = nc.jetstream()
    jetstream = JetStreamPublisher(nc)
    namespace = f"bl{case.name}{run}x{uuid.uuid4().hex[:6]}"
    streams = Streams(namespace)
    await ensure_streams(js, streams.stream_configs())
    docs = _lateness_docs(case)
    within = {automation_id: w for automation_id, (_, w) in docs.items()}
    arrivals: list[tuple[float, spb.TriggeredAction]] = []

    async def on_action(msg: Msg) -> None:
        arrivals.append((time.time(), spb.TriggeredAction.FromString(msg.data)))

    subscription = await nc.subscribe(streams.actions_subject(), cb=on_action)
    service = await _start_service(nats_url, namespace, work, [d for d, _ in docs.values()])
    try:
        await asyncio.sleep(0.5)
        rss_before = service.rss_bytes()
        rng = random.Random(run)
        subject = streams.events_subject()
        steps = 20
        per_step = LIVE_BUCKETS // steps
        started = time.perf_counter()
        for step in range(steps):
            now = datetime.now(UTC)
            keys = range(step * per_step, (step + 1) * per_step)
            batch = [
                _event(f"bench.armed.{k % case.automations}", f"bench.key.{k}", rng, now)
                for k in keys
            ]
            await jetstream.publish(
                [OutgoingMessage(subject, e.SerializeToString(), e.id) for e in batch]
            )
            pause = started + ARM_SECONDS * (step + 1) / steps - time.perf_counter()
            await asyncio.sleep(max(0.0, pause))
        await asyncio.sleep(2.0)  # evaluated and committed, before the first deadline
        rss_after = service.rss_bytes()
        limit = time.perf_counter() + case.first_end + case.spread + 30
        first: dict[str, tuple[float, spb.TriggeredAction]] = {}
        while len(first) < LIVE_BUCKETS and time.perf_counter() < limit:
            await asyncio.sleep(0.2)
            # A retried publish shows up twice here (JetStream keeps one): count the first.
            for at, action in arrivals:
                first.setdefault(action.id, (at, action))
        late = sorted(
            at
            - (
                a.triggering_event.occurred_time.ToDatetime(UTC).timestamp()
                + within[a.automation.id]
            )
            for at, a in first.values()
        )
        times = sorted(at for at, _ in first.values())
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        if not late:
            raise RuntimeError(f"nothing fired\n{service.process.log_tail()}")
        return Lateness(
            p50=late[len(late) // 2],
            p99=late[min(len(late) - 1, int(len(late) * 0.99))],
            worst=late[-1],
            fired=len(late),
            rss_per_bucket=(rss_after - rss_before) / LIVE_BUCKETS,
            firings_per_second=len(times) / span if span else 0.0,
        )
    finally:
        await subscription.unsubscribe()
        service.process.stop()
        await _drop_streams(js, streams)


async def bench_lateness(nc: NatsClient, nats_url: str, work: Path, case: LatenessCase) -> Lateness:
    runs = []
    for run in range(RUNS):
        result = await _lateness_run(nc, nats_url, work, case, run)
        runs.append(result)
        print(
            f"  {case.name} run {run + 1}: p50 {result.p50:.3f} s, p99 {result.p99:.3f} s, "
            f"max {result.worst:.3f} s, fired {result.fired:,}/{LIVE_BUCKETS:,}, "
            f"{result.firings_per_second:,.0f} firings/s observed, "
            f"service RSS +{result.rss_per_bucket:,.0f} B per armed key",
            flush=True,
        )
    return Lateness(
        p50=statistics.median(r.p50 for r in runs),
        p99=statistics.median(r.p99 for r in runs),
        worst=statistics.median(r.worst for r in runs),
        fired=min(r.fired for r in runs),
        rss_per_bucket=statistics.median(r.rss_per_bucket for r in runs),
        firings_per_second=statistics.median(r.firings_per_second for r in runs),
    )


# -- 3. memory per bucket -------------------------------------------------------------------


def _arm(engine: Engine, first: int, count: int, now: datetime) -> None:
    for start in range(first, first + count, 256):
        batch = [
            Event(
                id=str(uuid.uuid4()),
                occurred=now,
                event="bench.armed",
                resource={"prefect.resource.id": f"bench.key.{k}", "prefect.resource.name": "x"},
                related=(
                    {"prefect.resource.id": "prefect.flow.1", "prefect.resource.role": "flow"},
                    {"prefect.resource.id": "prefect.tag.bench", "prefect.resource.role": "tag"},
                ),
                payload={"attempt": 1, "message": "a short message"},
                received=now,
            )
            for k in range(start, min(start + 256, first + count))
        ]
        engine.process(batch, now)


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def bench_memory() -> tuple[float, float]:
    """(marginal bytes per bucket from 10k to 20k buckets, average bytes at 20k)."""
    doc = _document(
        "memory",
        {
            "type": "event",
            "posture": "Proactive",
            "after": ["bench.armed"],
            "expect": ["bench.done"],
            "for_each": ["prefect.resource.id"],
            "threshold": 1,
            "within": 3600,
        },
    )
    automation = to_engine_automation(doc)
    assert automation is not None
    now = datetime.now(UTC)
    tracemalloc.start()
    try:
        base = _traced()
        engine = Engine()
        engine.load([automation])
        _arm(engine, 0, LIVE_BUCKETS, now)
        middle = _traced()
        _arm(engine, LIVE_BUCKETS, LIVE_BUCKETS, now + timedelta(seconds=1))
        end = _traced()
        assert len(engine.export_state()) >= 2 * LIVE_BUCKETS
    finally:
        tracemalloc.stop()
    return (end - middle) / LIVE_BUCKETS, (end - base) / (2 * LIVE_BUCKETS)


# -- report -----------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


async def _main() -> int:
    rates: dict[int, tuple[float, float]] = {}
    lateness: dict[str, tuple[LatenessCase, Lateness]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-triggers-") as tmp:
        work = Path(tmp)
        server = NatsServer(free_port(), work / "nats", work / "nats.log")
        server.start()
        try:
            server.wait_ready()
            nc = await nats.connect(server.url)
            try:
                if "throughput" in ONLY:
                    print(
                        f"throughput: {EVENTS:,} events (~{MATCHING:.0%} matching), "
                        f"median of {RUNS} runs",
                        flush=True,
                    )
                    rates = await bench_throughput(nc, server.url, work)
                for case in (SPREAD, BURST):
                    if "lateness" in ONLY or case.name in ONLY:
                        print(
                            f"proactive lateness, {case.name}: {LIVE_BUCKETS:,} live buckets, "
                            f"windows ending over {case.spread + ARM_SECONDS:.0f} s "
                            f"(~{case.deadline_rate:,.0f} firings/s), median of {RUNS} runs",
                            flush=True,
                        )
                        result = await bench_lateness(nc, server.url, work, case)
                        lateness[case.name] = (case, result)
            finally:
                await nc.close()
        finally:
            server.stop()

    print("\nresults (medians)")
    if rates:
        for size in SIZES:
            rate, per_cpu = rates[size]
            print(
                f"  throughput, {size:>6,} automations: {rate:>9,.0f} events/s "
                f"({per_cpu:,.0f} per service CPU-second)"
            )
        top = rates[SIZES[-1]][0]
        ratio = top / rates[SIZES[0]][0]
        print(
            f"  throughput with 10,000 automations: {top:,.0f} events/s "
            f"(target >= {TARGET_THROUGHPUT:,.0f}): {_verdict(top >= TARGET_THROUGHPUT)}"
        )
        print(
            f"  ratio 10,000 / 10: {ratio:.2f} (target >= {TARGET_RATIO}): "
            f"{_verdict(ratio >= TARGET_RATIO)}"
        )
    for case, result in lateness.values():
        met = result.p99 <= TARGET_LATENESS_P99 and result.fired == LIVE_BUCKETS
        label = "target" if case is SPREAD else "stress figure, no target"
        print(
            f"  proactive lateness p99, {case.name} ({case.deadline_rate:,.0f} firings/s due): "
            f"{result.p99:.3f} s (p50 {result.p50:.3f} s, max {result.worst:.3f} s, "
            f"fired {result.fired:,}/{LIVE_BUCKETS:,}, "
            f"{result.firings_per_second:,.0f} firings/s observed) "
            f"({label} <= {TARGET_LATENESS_P99} s): {_verdict(met)}"
        )
    if "memory" in ONLY:
        marginal, average = bench_memory()
        print(
            f"  memory per live bucket: {marginal:,.0f} B marginal, {average:,.0f} B average "
            f"(target <= {TARGET_BYTES_PER_BUCKET:,.0f} B): "
            f"{_verdict(marginal <= TARGET_BYTES_PER_BUCKET)}"
        )
        if "burst" in lateness:
            rss = lateness["burst"][1].rss_per_bucket
            print(f"  service RSS growth: {rss:,.0f} B per armed key")
    return 0


def main() -> int:
    return asyncio.run(_main())
