"""The trigger engine through real JetStream: windows, sequences, proactive and resolved."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import json_format
from nats.js import JetStreamContext

from automations.v1 import automation_pb2 as apb
from automations.v1 import automation_service_pb2 as pb
from automations.v1 import automation_service_pb2_grpc as pb_grpc
from automations.v1 import stream_pb2 as spb
from automations_common.streams import Streams
from automations_triggers.app import TriggersApp, build
from tests.support.waiting import eventually

from .conftest import triggers_settings
from .helpers import event_trigger, seconds, webhook, woodchonk
from .streams_io import actions_for, emit, ping, state_events

if TYPE_CHECKING:
    Stub = pb_grpc.AutomationServiceAsyncStub


async def create(stub: Stub, automation: apb.Automation) -> apb.Automation:
    response = await stub.CreateAutomation(pb.CreateAutomationRequest(automation=automation))
    return response.automation


async def wait_for_actions(
    js: JetStreamContext, streams: Streams, automation_id: str, count: int, timeout: float = 5
) -> list[spb.TriggeredAction]:
    found: list[spb.TriggeredAction] = []

    async def arrived() -> bool:
        found[:] = await actions_for(js, streams, automation_id)
        return len(found) >= count

    await eventually(arrived, timeout=timeout, what=f"{count} action(s)")
    return found


async def sentinel(stub: Stub, app: TriggersApp) -> tuple[apb.Automation, int]:
    """An automation that fires on `sentinel.ping`: once its action is out, every event
    published before that ping has been evaluated."""
    automation = await create(
        stub,
        apb.Automation(
            name=f"sentinel {uuid.uuid4()}",
            enabled=True,
            trigger=event_trigger(["sentinel.ping"], {"prefect.resource.id": "sentinel"}),
            actions=[webhook()],
        ),
    )
    await eventually(lambda: app.is_loaded(automation.id), timeout=2, what="sentinel loaded")
    return automation, 0


async def settle(
    js: JetStreamContext, streams: Streams, stub: Stub, app: TriggersApp, sentinel_id: str = ""
) -> None:
    """Publish a sentinel ping and wait for its action: the stream before it is evaluated."""
    if not sentinel_id:
        sentinel_id = (await sentinel(stub, app))[0].id
    before = len(await actions_for(js, streams, sentinel_id))
    await emit(js, streams, ping("sentinel.ping", "sentinel"))
    await wait_for_actions(js, streams, sentinel_id, before + 1)


async def test_threshold_3_within_10s_fires_once_for_3_events_and_not_for_2(
    triggers_app: TriggersApp, stub: Stub, js: JetStreamContext, namespace: str
) -> None:
    streams = Streams(namespace)
    automation = await create(stub, woodchonk())
    await eventually(lambda: triggers_app.is_loaded(automation.id), timeout=2, what="load")
    sentinel_id = (await sentinel(stub, triggers_app))[0].id
    walk = {"genus": "Marmota", "species": "monax"}

    await emit(js, streams, *(ping("animal.walked", "woodchuck.1", **walk) for _ in range(2)))
    await emit(js, streams, ping("animal.walked", "woodchuck.1", genus="Felis", species="catus"))
    await settle(js, streams, stub, triggers_app, sentinel_id)
    assert await actions_for(js, streams, automation.id) == []

    third = ping("animal.walked", "woodchuck.1", **walk)
    await emit(js, streams, third, ping("animal.walked", "woodchuck.1", **walk))
    actions = await wait_for_actions(js, streams, automation.id, 1)
    await settle(js, streams, stub, triggers_app, sentinel_id)
    actions = await actions_for(js, streams, automation.id)
    assert len(actions) == 1  # the 4th event is inside the same window: no second firing
    assert actions[0].triggering_event.id == third.id


async def test_a_sequence_fires_in_order_only(
    triggers_app: TriggersApp, stub: Stub, js: JetStreamContext, namespace: str
) -> None:
    streams = Streams(namespace)

    def sequence(prefix: str) -> apb.Automation:
        children = [
            event_trigger([f"{prefix}.a"], {"prefect.resource.id": "seq.*"}),
            event_trigger([f"{prefix}.b"], {"prefect.resource.id": "seq.*"}),
        ]
        return apb.Automation(
            name=prefix,
            enabled=True,
            trigger=apb.Trigger(
                sequence=apb.SequenceTrigger(triggers=children, within=seconds(60))
            ),
            actions=[webhook()],
        )

    in_order = await create(stub, sequence("ordered"))
    reversed_ = await create(stub, sequence("reversed"))
    for automation in (in_order, reversed_):
        await eventually(partial(triggers_app.is_loaded, automation.id), timeout=2)

    await emit(js, streams, ping("ordered.a", "seq.1"))
    await emit(js, streams, ping("ordered.b", "seq.1"))
    await emit(js, streams, ping("reversed.b", "seq.1"))
    await emit(js, streams, ping("reversed.a", "seq.1"))
    fired = await wait_for_actions(js, streams, in_order.id, 1)
    assert len(fired) == 1
    assert fired[0].triggering_event.event == "ordered.b"  # the child that completed it
    await settle(js, streams, stub, triggers_app)
    assert await actions_for(js, streams, reversed_.id) == []


@pytest.fixture
async def sqlite_app(
    nats_url: str, namespace: str, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[TriggersApp]:
    app = build(triggers_settings(nats_url, namespace, sqlite_url, tmp_path))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def test_a_stuck_flow_run_fires_proactively_and_resolves_when_it_completes(
    sqlite_app: TriggersApp, js: JetStreamContext, namespace: str
) -> None:
    streams = Streams(namespace)
    trigger = event_trigger(
        ["prefect.flow-run.Completed"],
        {"prefect.resource.id": "prefect.flow-run.*"},
        after=["prefect.flow-run.Running"],
        for_each=["prefect.resource.id"],
        posture=apb.POSTURE_PROACTIVE,
        threshold=1,
        within=seconds(10),
    )
    automation = apb.Automation(
        name="stuck runs",
        enabled=True,
        trigger=trigger,
        actions=[webhook()],
        actions_on_resolve=[apb.Action(do_nothing=apb.DoNothingAction())],
    )
    async with grpc.aio.insecure_channel(sqlite_app.grpc_address) as channel:
        stub = pb_grpc.AutomationServiceStub(channel)
        created = await create(stub, automation)
    await eventually(lambda: sqlite_app.is_loaded(created.id), timeout=2, what="load")
    stuck, finished = f"prefect.flow-run.{uuid.uuid4()}", f"prefect.flow-run.{uuid.uuid4()}"
    running = ping("prefect.flow-run.Running", stuck)
    await emit(js, streams, running, ping("prefect.flow-run.Running", finished))
    await emit(js, streams, ping("prefect.flow-run.Completed", finished))

    # The window is 10 s; the firing comes within a second of its end.
    actions = await wait_for_actions(js, streams, created.id, 1, timeout=14)
    assert len(actions) == 1
    assert dict(actions[0].firing.triggering_labels) == {"prefect.resource.id": stuck}
    assert list(actions[0].firing.trigger_states) == [spb.TRIGGER_STATE_TRIGGERED]
    late = (
        actions[0].firing.triggered_time.ToDatetime() - running.occurred_time.ToDatetime()
    ).total_seconds()
    assert 10.0 <= late <= 11.0  # fired when the window ended, not on a 5 s poll
    triggered = await state_events(js, streams, "prefect.automation.triggered")
    assert [e.resource.labels["prefect.posture"] for e in triggered] == ["Proactive"]

    await emit(js, streams, ping("prefect.flow-run.Completed", stuck))
    actions = await wait_for_actions(js, streams, created.id, 2)
    resolved = [a for a in actions if a.group == spb.ACTION_GROUP_ON_RESOLVE]
    assert len(resolved) == 1
    assert resolved[0].action.WhichOneof("kind") == "do_nothing"
    resolved_events = await state_events(js, streams, "prefect.automation.resolved")
    assert len(resolved_events) == 1
    payload = json_format.MessageToDict(resolved_events[0].payload)
    assert payload["triggering_labels"] == {"prefect.resource.id": stuck}
