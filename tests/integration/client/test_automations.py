"""The seed SDK's automation lifecycle over a real gRPC connection."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from automations import (
    Automation,
    AutomationsClient,
    CancelFlowRun,
    EventTrigger,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from automations_common.devstack import free_port

from .fakes import FakeStack


def _woodchonk(name: str = "woodchonk") -> Automation:
    return Automation(
        name=name,
        trigger=EventTrigger(
            expect={"animal.walked"},
            match={"genus": "Marmota", "species": "monax"},
            posture="Reactive",
            threshold=3,
            within=timedelta(seconds=10),
        ),
        actions=[CancelFlowRun()],
    )


async def test_the_woodchonk_lifecycle(client: AutomationsClient, stack: FakeStack) -> None:
    created = await _woodchonk().acreate(client)
    assert created.id is not None
    assert created.created is not None
    assert stack.automations.seen_metadata[-1]["authorization"] == "Bearer test-key"

    by_id = await Automation.aread(id=created.id, client=client)
    by_name = await Automation.aread(name="woodchonk", client=client)
    assert by_id.id == by_name.id == created.id
    assert by_id.trigger.model_dump(mode="json", exclude={"id"}) == created.trigger.model_dump(
        mode="json", exclude={"id"}
    )
    assert by_id.actions == [CancelFlowRun()]

    by_id.name = "woodchonk 2"
    await by_id.aupdate(client)
    assert (await Automation.aread(id=created.id, client=client)).name == "woodchonk 2"

    assert await by_id.adisable(client) is True
    assert (await client.get_automation(created.id)).enabled is False
    assert await by_id.aenable(client) is True
    assert (await client.get_automation(created.id)).enabled is True

    assert await by_id.adelete(client) is True
    assert await by_id.adelete(client) is False
    assert await by_id.adisable(client) is False
    assert await by_id.aenable(client) is False


async def test_read_needs_exactly_one_of_id_and_name(client: AutomationsClient) -> None:
    with pytest.raises(ValueError, match="Only one"):
        await Automation.aread(id=uuid.uuid4(), name="x", client=client)
    with pytest.raises(ValueError, match="One of id or name"):
        await Automation.aread(client=client)


async def test_read_of_something_missing_names_it(client: AutomationsClient) -> None:
    missing = uuid.uuid4()
    with pytest.raises(ValueError, match=f"Automation with ID '{missing}' not found"):
        await Automation.aread(id=missing, client=client)
    with pytest.raises(ValueError, match="Automation with name 'nope' not found"):
        await Automation.aread(name="nope", client=client)


async def test_read_by_name_takes_the_most_recently_updated(client: AutomationsClient) -> None:
    first = await _woodchonk("twin").acreate(client)
    second = await _woodchonk("twin").acreate(client)
    assert (await Automation.aread(name="twin", client=client)).id == second.id
    first.description = "touched"
    await first.aupdate(client)
    assert (await Automation.aread(name="twin", client=client)).id == first.id


async def test_a_malformed_id_is_an_invalid_argument(client: AutomationsClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await client.get_automation("not-a-uuid")
    assert caught.value.reason == "MALFORMED_ID"
    assert caught.value.field_violations[0].field == "id"
    with pytest.raises(NotFoundError):
        await client.get_automation(uuid.uuid4())


async def test_server_validation_names_the_field(client: AutomationsClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await _woodchonk("").acreate(client)
    assert [v.field for v in caught.value.field_violations] == ["automation.name"]
    assert "automation.name" in str(caught.value)


async def test_update_keeps_the_owner(client: AutomationsClient, stack: FakeStack) -> None:
    owned = _woodchonk("owned")
    owned.owner_resource = "prefect.deployment.1"
    await owned.acreate(client)
    owned.owner_resource = None
    owned.tags = ["x"]
    await owned.aupdate(client)
    stored = await client.get_automation(owned.id)  # type: ignore[arg-type]
    assert stored.owner_resource == "prefect.deployment.1"
    assert stored.tags == ["x"]
    related = await client.list_related_automations("prefect.deployment.1")
    assert [a.id for a in related] == [owned.id]
    assert await client.delete_owned_automations("prefect.deployment.1") == 1


async def test_list_walks_every_page(client: AutomationsClient, stack: FakeStack) -> None:
    for n in range(205):
        enabled = n % 2 == 0
        automation = _woodchonk(f"a{n:03}")
        automation.enabled = enabled
        automation.tags = ["even"] if enabled else []
        await automation.acreate(client)
    everything = await Automation.alist(client=client)
    assert len(everything) == 205
    assert [a.name for a in everything[:2]] == ["a000", "a001"]
    assert len(await Automation.alist(tags=["even"], client=client)) == 103
    assert len(await client.list_automations(enabled=False)) == 102
    assert len(await client.list_automations(limit=3)) == 3
    assert await client.count_automations() == 205


async def test_template_validation(client: AutomationsClient) -> None:
    assert (await client.validate_template("{{ event.id }}")).valid
    check = await client.validate_template("{{ event.id")
    assert not check.valid
    assert check.line == 1


async def test_sync_methods_work_inside_a_running_loop(threaded_stack: FakeStack) -> None:
    address = threaded_stack.address
    with AutomationsClient(api_url=address, events_url=address, actions_url=address) as client:
        created = _woodchonk("sync").create(client)
        assert Automation.read(id=created.id, client=client).name == "sync"
        assert [a.name for a in Automation.list(client=client)] == ["sync"]
        assert created.disable(client) is True
        assert created.enable(client) is True
        assert created.delete(client) is True
        assert created.delete(client) is False


async def test_sync_methods_work_outside_any_loop(stack: FakeStack) -> None:
    def in_a_thread() -> bool:
        with AutomationsClient(
            api_url=stack.address, events_url=stack.address, actions_url=stack.address
        ) as sync_client:
            created = _woodchonk("threaded").create(sync_client)
            return created.delete(sync_client)

    assert await asyncio.to_thread(in_a_thread) is True


async def test_an_unreachable_service_is_unavailable() -> None:
    address = f"127.0.0.1:{free_port()}"
    async with AutomationsClient(
        api_url=address, events_url=address, actions_url=address, timeout=5
    ) as client:
        with pytest.raises(UnavailableError):
            await client.count_automations()
        with pytest.raises(UnavailableError):
            await Automation.aread(name="x", client=client)
