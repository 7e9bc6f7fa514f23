"""Actions benchmarks: webhook actions/s of one actions process; emit-to-webhook latency.

Everything is real and on loopback: a nats-server started here, the services as their own
processes (`python -m automations_<service>`) on SQLite files, and a small aiohttp server
in this process standing in for the webhook receiver (it only counts and timestamps).

1. Throughput: one actions process; N `call-webhook` TriggeredActions are published to
   ACTIONS (pipelined) and timed from the first publish until the receiver has seen every
   action id (by its Idempotency-Key). Each run uses new firings, so nothing is skipped.
   The actions process's CPU time per action is printed too: on a shared machine it is
   the steadier figure.
2. The actions hop alone: TriggeredActions published to ACTIONS at 500/s (in a batch every
   20 ms); latency = webhook receipt - the send time carried in the event's payload.
3. End to end: ingest + triggers + actions; one automation (`bench.ping` -> call-webhook
   whose body renders the event's send time, `event.received` and `firing.triggered`);
   events are emitted through the Python client at 500/s, in a batch every 20 ms. The
   stamps split the latency into emit->ingest, ingest->fired, fired->webhook. It runs
   with default settings and with the triggers service's fetch wait shortened.

Environment: BENCH_ACTIONS_COUNT (default 5000), BENCH_ACTIONS_RUNS (default 3),
BENCH_ACTIONS_SECONDS (emit duration per latency run, default 6), BENCH_ACTIONS_RATE
(default 500), BENCH_ACTIONS_ONLY (a comma-separated subset of throughput,latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from aiohttp import web
from google.protobuf import timestamp_pb2
from nats.aio.msg import Msg

from automations import (
    Automation,
    AutomationsClient,
    CallWebhook,
    EventTrigger,
    Webhook,
)
from automations.v1 import automation_pb2, event_pb2, stream_pb2
from automations_common.broker import JetStreamPublisher, OutgoingMessage
from automations_common.devstack import (
    PROCESSES,
    NatsServer,
    Stack,
    free_port,
    service_process,
    wait_for_health,
)
from automations_common.ids import derived_id
from automations_common.streams import Streams

COUNT = int(os.environ.get("BENCH_ACTIONS_COUNT", "5000"))
RUNS = int(os.environ.get("BENCH_ACTIONS_RUNS", "3"))
EMIT_SECONDS = float(os.environ.get("BENCH_ACTIONS_SECONDS", "6"))
ONLY = set(os.environ.get("BENCH_ACTIONS_ONLY", "throughput,latency").split(","))
RATE = float(os.environ.get("BENCH_ACTIONS_RATE", "500"))
TICK_SECONDS = 0.02
WARMUP_SECONDS = 1.0

# The whole stack as configured by default, and with the triggers service fetching without
# waiting for a full batch (its fetch otherwise lingers up to TRIGGERS_FETCH_WAIT_SECONDS).
LATENCY_SETUPS: dict[str, dict[str, str]] = {
    "default settings": {},
    "TRIGGERS_FETCH_WAIT_SECONDS=0.005": {"TRIGGERS_FETCH_WAIT_SECONDS": "0.005"},
}

TARGET_THROUGHPUT = 1_000.0
TARGET_P50_MS = 20.0
TARGET_P99_MS = 100.0


# -- the receiver -------------------------------------------------------------------------------


@dataclass
class Receiver:
    """Counts webhook calls by Idempotency-Key and records send->receipt latencies."""

    keys: set[str] = field(default_factory=set)
    duplicates: int = 0
    latencies: list[float] = field(default_factory=list)
    # (emit -> ingest, ingest -> firing, firing -> webhook) in seconds, when stamped.
    hops: list[tuple[float, float, float]] = field(default_factory=list)
    # Action id -> when its TriggeredAction appeared on ACTIONS / its webhook arrived.
    published: dict[str, float] = field(default_factory=dict)
    arrived: dict[str, float] = field(default_factory=dict)
    expected: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    last: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        key = request.headers.get("Idempotency-Key", "")
        if key in self.keys:
            self.duplicates += 1
        else:
            self.keys.add(key)
            self.arrived[key] = now
        if body.startswith(b'{"sent": 1'):
            stamps = json.loads(body)
            sent = float(stamps["sent"])
            self.latencies.append(now - sent)
            with contextlib.suppress(ValueError, TypeError, KeyError):
                received = datetime.fromisoformat(stamps["received"]).timestamp()
                triggered = datetime.fromisoformat(stamps["triggered"]).timestamp()
                self.hops.append((received - sent, triggered - received, now - triggered))
        self.last = time.perf_counter()
        if self.expected and len(self.keys) >= self.expected:
            self.done.set()
        return web.Response(text="ok")

    def expect(self, count: int) -> None:
        self.expected = count
        if len(self.keys) >= count:
            self.done.set()

    async def on_actions(self, msg: Msg) -> None:
        """Core-NATS tap on ACTIONS: when each TriggeredAction was published."""
        if msg.headers:
            self.published[msg.headers.get("Nats-Msg-Id", "")] = time.time()

    def reset(self, expected: int = 0) -> None:
        self.published.clear()
        self.arrived.clear()
        self.keys.clear()
        self.latencies.clear()
        self.hops.clear()
        self.duplicates = 0
        self.expected = expected
        self.done = asyncio.Event()


async def start_receiver(receiver: Receiver) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    return runner, f"http://127.0.0.1:{port}/hook"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Latency:
    p50_ms: float
    p99_ms: float
    worst_ms: float
    received: int
    sent: int


# -- 1. throughput --------------------------------------------------------------------------------


def _stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


THROUGHPUT_PAYLOAD = "{{ event.event }} {{ event.resource.id }}"
# The ingest and triggers services' own stamps split the end-to-end latency into hops.
LATENCY_PAYLOAD = (
    '{"sent": {{ event.payload.sent }}, "received": "{{ event.received }}", '
    '"triggered": "{{ firing.triggered }}"}'
)


def triggered_actions(
    block_id: str, count: int, payload: str = THROUGHPUT_PAYLOAD, stamped: bool = False
) -> list[stream_pb2.TriggeredAction]:
    """`count` call-webhook actions of one automation, each from its own firing and event.

    `stamped`: the events carry `{"sent": <now>}` for LATENCY_PAYLOAD to render.
    """
    action = automation_pb2.Action(
        call_webhook=automation_pb2.CallWebhookAction(block_document_id=block_id, payload=payload)
    )
    automation = automation_pb2.Automation(
        id=str(uuid.uuid4()),
        name="bench webhook",
        enabled=True,
        trigger=automation_pb2.Trigger(
            event=automation_pb2.EventTrigger(
                id=str(uuid.uuid4()),
                expect=["bench.ping"],
                posture=automation_pb2.POSTURE_REACTIVE,
                threshold=1,
            )
        ),
        actions=[action],
        workspace="default",
    )
    now = _stamp(datetime.now(UTC))
    messages = []
    for i in range(count):
        event = event_pb2.Event(
            id=str(uuid.uuid4()),
            occurred_time=now,
            event="bench.ping",
            resource=event_pb2.Resource(labels={"prefect.resource.id": f"bench.thing.{i}"}),
        )
        if stamped:
            event.payload.update({"sent": time.time()})
        firing = stream_pb2.Firing(
            id=str(uuid.uuid4()),
            trigger_id=automation.trigger.event.id,
            trigger_states=[stream_pb2.TRIGGER_STATE_TRIGGERED],
            triggered_time=now,
            triggering_labels={"prefect.resource.id": f"bench.thing.{i}"},
            triggering_event=event,
        )
        messages.append(
            stream_pb2.TriggeredAction(
                id=derived_id(firing.id, 0),
                automation=automation,
                firing=firing,
                triggering_event=event,
                action_index=0,
                action=action,
                group=stream_pb2.ACTION_GROUP_ACTIONS,
                triggered_time=now,
                automation_triggered_event_id=str(uuid.uuid4()),
            )
        )
    return messages


async def bench_throughput(
    nats_url: str, work: Path, receiver: Receiver, url: str
) -> tuple[list[float], list[Latency]]:
    namespace = f"b{uuid.uuid4().hex[:8]}"
    port = free_port()
    process = service_process(
        "actions",
        {
            "ACTIONS_NATS__URL": nats_url,
            "ACTIONS_NATS__NAMESPACE": namespace,
            "ACTIONS_GRPC__PORT": str(port),
            "ACTIONS_DATA_DIR": str(work / "throughput"),
            "ACTIONS_LOG_LEVEL": "WARNING",
        },
        work / "logs" / "actions-throughput.log",
    )
    process.start()
    rates: list[float] = []
    try:
        await asyncio.to_thread(wait_for_health, f"127.0.0.1:{port}", 60.0, process)
        assert process.process is not None
        pid = process.process.pid
        print(f"  (actions process pid {pid})", flush=True)
        async with AutomationsClient(actions_url=f"127.0.0.1:{port}") as client:
            block = await client.create_block(Webhook(url=url, allow_private_urls=True), "bench")
        block_id = str(block.block_document_id)
        streams = Streams(namespace)
        nc = await nats.connect(nats_url)
        try:
            jetstream = JetStreamPublisher(nc)
            # A small warm-up round: connections, compiled templates, the block cache.
            for run, count in enumerate([200] + [COUNT] * RUNS):
                messages = [
                    OutgoingMessage(streams.actions_subject("default"), m.SerializeToString(), m.id)
                    for m in triggered_actions(block_id, count)
                ]
                receiver.reset(count)
                cpu = cpu_seconds(pid)
                started = time.perf_counter()
                await jetstream.publish(messages)
                published = time.perf_counter() - started
                try:
                    await asyncio.wait_for(receiver.done.wait(), 120)
                except TimeoutError:
                    print(f"  run {run}: only {len(receiver.keys)}/{count} received in 120 s")
                    print(process.log_tail(20))
                    return rates, []
                elapsed = receiver.last - started
                cpu = cpu_seconds(pid) - cpu
                if run == 0:
                    continue
                rate = count / elapsed
                rates.append(rate)
                print(
                    f"  run {run}: {count:,} webhooks in {elapsed:.2f} s = {rate:,.0f}/s "
                    f"(publishing {published:.2f} s; actions process CPU "
                    f"{cpu / elapsed:.0%}, {cpu * 1e6 / count:,.0f} us/action; "
                    f"duplicates {receiver.duplicates})",
                    flush=True,
                )

            async def publish(first: int, count: int) -> None:
                batch = triggered_actions(block_id, count, LATENCY_PAYLOAD, stamped=True)
                subject = streams.actions_subject("default")
                await jetstream.publish(
                    [OutgoingMessage(subject, m.SerializeToString(), m.id) for m in batch]
                )

            print(f"actions hop alone: TriggeredAction published -> webhook, {RATE:.0f}/s")
            hops = await latency_runs(
                receiver, publish, lambda: process.log_tail(20), {"actions": pid}
            )
        finally:
            await nc.close()
    finally:
        process.stop()
    return rates, hops


# -- 2. latency ---------------------------------------------------------------------------------


Send = Callable[[int, int], Coroutine[Any, Any, None]]


async def send_at_rate(send: Send, seconds: float) -> int:
    """Call send(first, count) every tick so that RATE items/s go out; returns how many."""
    per_tick = RATE * TICK_SECONDS
    started = time.perf_counter()
    sent = 0
    pending: set[asyncio.Task[Any]] = set()
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int((int(elapsed / TICK_SECONDS) + 1) * per_tick)
        if due > sent:
            task: asyncio.Task[Any] = asyncio.create_task(send(sent, due - sent))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent = due
        next_tick = started + (int(elapsed / TICK_SECONDS) + 1) * TICK_SECONDS
        await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
    if pending:
        await asyncio.gather(*pending)
    return sent


async def latency_runs(
    receiver: Receiver,
    send: Send,
    logs: Callable[[], str],
    pids: dict[str, int] | None = None,
) -> list[Latency]:
    """A warm-up second, then RUNS runs of EMIT_SECONDS at RATE/s; latencies per run.

    `pids`: processes whose CPU use (share of one core) is printed per run.
    """
    results: list[Latency] = []
    pids = pids or {}
    receiver.reset()
    await send_at_rate(send, WARMUP_SECONDS)
    await asyncio.sleep(1.0)
    for run in range(1, RUNS + 1):
        receiver.reset()
        cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.perf_counter()
        sent = await send_at_rate(send, EMIT_SECONDS)
        receiver.expect(sent)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.done.wait(), 10)
        elapsed = time.perf_counter() - started
        usage = ", ".join(
            f"{name} {(cpu_seconds(pid) - cpu[name]) / elapsed:.0%}" for name, pid in pids.items()
        )
        lat = [x * 1000 for x in receiver.latencies]
        if not lat:
            print(f"  run {run}: nothing received\n{logs()}")
            return results
        result = Latency(_percentile(lat, 0.5), _percentile(lat, 0.99), max(lat), len(lat), sent)
        results.append(result)
        print(
            f"  run {run}: {result.received:,}/{sent:,} received; p50 "
            f"{result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, max {result.worst_ms:.1f} ms",
            flush=True,
        )
        if receiver.hops:
            parts = [
                f"{name} p50 {_percentile([h[i] * 1000 for h in receiver.hops], 0.5):.1f} ms"
                for i, name in enumerate(("emit->ingest", "ingest->fired", "fired->webhook"))
            ]
            print(f"    hops: {', '.join(parts)}", flush=True)
        actions_hop = [
            (receiver.arrived[key] - at) * 1000
            for key, at in receiver.published.items()
            if key in receiver.arrived
        ]
        if actions_hop:
            print(
                f"    published on ACTIONS -> webhook p50 {_percentile(actions_hop, 0.5):.1f} ms, "
                f"p99 {_percentile(actions_hop, 0.99):.1f} ms",
                flush=True,
            )
        if usage:
            print(f"    CPU (of one core): {usage}", flush=True)
        await asyncio.sleep(0.5)
    return results


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def bench_latency(
    nats_url: str,
    work: Path,
    receiver: Receiver,
    url: str,
    extra_env: dict[str, str] | None = None,
    other_pids: dict[str, int] | None = None,
) -> list[Latency]:
    """`other_pids`: more processes whose CPU use is printed (nats-server, this one)."""
    stack = Stack(
        nats_url,
        work / f"stack-{uuid.uuid4().hex[:6]}",
        namespace=f"l{uuid.uuid4().hex[:8]}",
        extra_env={
            "INGEST_LOG_LEVEL": "WARNING",
            "TRIGGERS_LOG_LEVEL": "WARNING",
            "ACTIONS_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        },
    )
    try:
        for process in PROCESSES:
            await asyncio.to_thread(stack.start, process)
        async with AutomationsClient(
            api_url=stack.address("triggers"),
            events_url=stack.address("ingest"),
            actions_url=stack.address("actions"),
        ) as client:
            block = await client.create_block(Webhook(url=url, allow_private_urls=True), "bench")
            await client.create_automation(
                Automation(
                    name="bench latency",
                    trigger=EventTrigger(expect={"bench.ping"}, match={"prefect.resource.id": "*"}),
                    actions=[
                        CallWebhook(
                            block_document_id=block.block_document_id, payload=LATENCY_PAYLOAD
                        )
                    ],
                )
            )

            async def emit(first: int, count: int) -> None:
                await client.emit_events(
                    {
                        "event": "bench.ping",
                        "resource": {"prefect.resource.id": f"bench.thing.{first + i}"},
                        "payload": {"sent": time.time()},
                    }
                    for i in range(count)
                )

            tap = await nats.connect(nats_url)
            await tap.subscribe(
                Streams(stack.namespace).actions_subject("*"), cb=receiver.on_actions
            )
            # Until the triggers service has loaded the automation, events do not fire it.
            receiver.reset(1)
            deadline = time.monotonic() + 30
            while not receiver.done.is_set() and time.monotonic() < deadline:
                await emit(0, 1)
                await asyncio.sleep(0.2)
            pids = {
                name: managed.process.pid
                for name, managed in stack.processes.items()
                if managed.process is not None
            } | (other_pids or {})
            try:
                return await latency_runs(receiver, emit, lambda: stack.logs(20), pids)
            finally:
                await tap.close()
                if os.environ.get("BENCH_ACTIONS_SHOW_LOGS"):
                    print(stack.logs(15))
    finally:
        await asyncio.to_thread(stack.stop_all)


# -- report -----------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def _latency_line(label: str, results: list[Latency]) -> str:
    if not results:
        return f"  {label}: no figures"
    p50 = statistics.median(r.p50_ms for r in results)
    p99 = statistics.median(r.p99_ms for r in results)
    complete = all(r.received >= r.sent for r in results)
    return (
        f"  {label}: p50 {p50:.1f} ms (target <= {TARGET_P50_MS:.0f} ms): "
        f"{_verdict(p50 <= TARGET_P50_MS)}; p99 {p99:.1f} ms (target <= {TARGET_P99_MS:.0f} ms):"
        f" {_verdict(p99 <= TARGET_P99_MS and complete)}"
    )


async def _main() -> int:
    receiver = Receiver()
    runner, url = await start_receiver(receiver)
    rates: list[float] = []
    hops: list[Latency] = []
    stacks: dict[str, list[Latency]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-actions-") as tmp:
            work = Path(tmp)
            server = NatsServer(free_port(), work / "nats", work / "nats.log")
            server.start()
            try:
                await asyncio.to_thread(server.wait_ready)
                if "throughput" in ONLY:
                    print(f"throughput: {COUNT:,} call-webhook actions x {RUNS} runs", flush=True)
                    rates, hops = await bench_throughput(server.url, work, receiver, url)
                if "latency" in ONLY:
                    for label, env in LATENCY_SETUPS.items():
                        print(
                            f"end to end ({label}): {RATE:.0f} events/s for {EMIT_SECONDS:g} s "
                            f"x {RUNS} runs, emit -> ingest -> triggers -> actions -> webhook",
                            flush=True,
                        )
                        others = {"benchmark": os.getpid()}
                        if server.process is not None:
                            others["nats-server"] = server.process.pid
                        stacks[label] = await bench_latency(
                            server.url, work, receiver, url, env, others
                        )
            finally:
                server.stop()
    finally:
        await runner.cleanup()

    print("\nresults (medians)")
    if rates:
        rate = statistics.median(rates)
        print(
            f"  webhook actions/s, one actions process: {rate:,.0f} "
            f"(target >= {TARGET_THROUGHPUT:,.0f}): {_verdict(rate >= TARGET_THROUGHPUT)}"
        )
    if hops:
        print(_latency_line(f"actions hop alone (ACTIONS -> webhook) at {RATE:.0f}/s", hops))
    for label, results in stacks.items():
        print(_latency_line(f"emit -> webhook at {RATE:.0f} events/s, {label}", results))
    return 0


def main() -> int:
    return asyncio.run(_main())
