"""Two evaluator shards (DESIGN.md §7) on one stream and one database: every automation is
evaluated by exactly one of them, so each fires exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from nats.js import JetStreamContext

from automations.v1 import automation_pb2 as apb
from automations.v1 import automation_service_pb2 as pb
from automations.v1 import automation_service_pb2_grpc as pb_grpc
from automations.v1 import stream_pb2 as spb
from automations_common.streams import Streams
from automations_triggers.app import build
from tests.support.waiting import eventually

from .conftest import triggers_settings
from .helpers import event_trigger
from .streams_io import drain, emit, ping

AUTOMATIONS = 16


async def test_two_shards_fire_each_automation_exactly_once(
    nats_url: str, namespace: str, sqlite_url: str, tmp_path: Path, js: JetStreamContext
) -> None:
    apps = []
    for index in range(2):
        settings = triggers_settings(nats_url, namespace, sqlite_url, tmp_path).model_copy(
            update={"shard_index": index, "shard_count": 2}
        )
        app = build(settings)
        await app.start()
        apps.append(app)
    try:
        async with grpc.aio.insecure_channel(apps[0].grpc_address) as channel:
            stub = pb_grpc.AutomationServiceStub(channel)
            created = [
                (
                    await stub.CreateAutomation(
                        pb.CreateAutomationRequest(
                            automation=apb.Automation(
                                name=f"sharded {i}",
                                enabled=True,
                                trigger=event_trigger(["shard.ping"], {"prefect.resource.id": "s"}),
                                actions=[apb.Action(do_nothing=apb.DoNothingAction())],
                            )
                        )
                    )
                ).automation.id
                for i in range(AUTOMATIONS)
            ]

        def loaded_once() -> bool:
            return all(sum(app.is_loaded(a) for app in apps) == 1 for a in created)

        await eventually(loaded_once, timeout=5, what="each automation loaded by one shard")
        assert all(any(app.is_loaded(a) for a in created) for app in apps)

        streams = Streams(namespace)
        await emit(js, streams, ping("shard.ping", "s"))

        async def fired() -> list[str]:
            messages = await drain(js, streams.actions_stream, streams.actions_subject(), 0.3)
            return [spb.TriggeredAction.FromString(m).automation.id for m in messages]

        async def all_fired() -> bool:
            return len(await fired()) >= AUTOMATIONS

        await eventually(all_fired, timeout=10, what="every automation fired")
        await asyncio.sleep(0.5)  # a duplicate would show up by now
        assert sorted(await fired()) == sorted(created)
        for index in range(2):
            info = await js.consumer_info(streams.events_stream, f"triggers-{index}-of-2")
            assert info.ack_floor is not None
            assert (info.ack_floor.stream_seq or 0) >= 1
    finally:
        for app in apps:
            await app.stop()
