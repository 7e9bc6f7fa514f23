"""The messages a firing turns into, and trigger ids (pure, no servers)."""

from __future__ import annotations

from datetime import UTC, datetime

from automations.v1 import event_pb2 as epb
from automations.v1 import stream_pb2 as spb
from automations_common.streams import Streams
from automations_triggers.automations import with_new_trigger_ids
from automations_triggers.convert import document_to_automation
from automations_triggers.convert_events import event_from_model
from automations_triggers.documents import AutomationDocument
from automations_triggers.model import Event, Firing, TriggerState
from automations_triggers.publisher import LoadedAutomation, firing_messages

NOW = datetime(2026, 1, 1, tzinfo=UTC)
AUTOMATION_ID = "a4a4a4a4-0000-4000-8000-000000000001"
TRIGGER_ID = "b4b4b4b4-0000-4000-8000-000000000002"


def demo_document(**trigger_fields: object) -> AutomationDocument:
    trigger = {
        "type": "event",
        "id": TRIGGER_ID,
        "match": {"prefect.resource.id": ["demo.*"]},
        "match_related": [{"prefect.resource.role": ["tag"], "prefect.resource.id": ["!x.*"]}],
        "after": [],
        "expect": ["demo.*"],
        "for_each": [],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0.0,
        **trigger_fields,
    }
    return AutomationDocument(
        id=AUTOMATION_ID,
        name="demo",
        trigger=trigger,
        actions=[{"type": "do-nothing"}, {"type": "cancel-flow-run"}],
        actions_on_trigger=[{"type": "do-nothing"}],
        actions_on_resolve=[{"type": "do-nothing"}],
        created=NOW,
        updated=NOW,
    )


def event(name: str, resource: str, tag: str = "prefect.tag.a", event_id: str = "e1") -> Event:
    return Event(
        id=event_id,
        occurred=NOW,
        event=name,
        resource={"prefect.resource.id": resource},
        related=({"prefect.resource.id": tag, "prefect.resource.role": "tag"},),
    )


def test_a_firing_becomes_one_state_event_and_a_triggered_action_per_action() -> None:
    doc = demo_document()
    loaded = LoadedAutomation(doc, document_to_automation(doc))
    triggering = event("demo.ping", "demo.1")
    firing = Firing(
        id="f1",
        trigger_id=TRIGGER_ID,
        automation_id=AUTOMATION_ID,
        states=frozenset({TriggerState.TRIGGERED}),
        triggered=NOW,
        triggering_event=triggering,
    )
    streams = Streams("ns")
    messages = firing_messages(firing, loaded, event_from_model(triggering), streams, "default")
    assert [m.subject for m in messages] == ["ns.events.default"] + ["ns.actions.default"] * 3
    state_event = epb.Event.FromString(messages[0].data)
    assert state_event.event == "prefect.automation.triggered"
    assert messages[0].msg_id == state_event.id
    actions = [spb.TriggeredAction.FromString(m.data) for m in messages[1:]]
    # actions_on_resolve does not run on a Triggered firing; indexes count through all lists.
    assert [a.action_index for a in actions] == [0, 1, 2]
    assert [a.group for a in actions] == [
        spb.ACTION_GROUP_ACTIONS,
        spb.ACTION_GROUP_ACTIONS,
        spb.ACTION_GROUP_ON_TRIGGER,
    ]
    assert [m.msg_id for m in messages[1:]] == [a.id for a in actions]
    assert all(a.triggering_event.id == "e1" for a in actions)
    assert all(a.automation_triggered_event_id == state_event.id for a in actions)
    # The same firing always produces the same ids.
    replay = firing_messages(firing, loaded, event_from_model(triggering), streams, "default")
    assert [m.msg_id for m in replay] == [m.msg_id for m in messages]


def test_trigger_ids_are_replaced_in_the_whole_tree() -> None:
    counter = iter(range(100))
    tree = {
        "type": "compound",
        "id": "old",
        "triggers": [
            {"type": "event", "id": "old"},
            {"type": "sequence", "id": "old", "triggers": [{"type": "event", "id": "old"}]},
        ],
    }
    fresh = with_new_trigger_ids(tree, lambda: f"new-{next(counter)}")
    assert fresh["id"] == "new-0"
    assert [t["id"] for t in fresh["triggers"]] == ["new-1", "new-2"]
    assert fresh["triggers"][1]["triggers"][0]["id"] == "new-3"
    assert tree["id"] == "old"  # the input is left alone
