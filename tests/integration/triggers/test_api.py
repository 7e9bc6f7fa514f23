"""AutomationService through a real gRPC channel, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2

from automations.v1 import automation_pb2 as apb
from automations.v1 import automation_service_pb2 as pb
from automations.v1 import automation_service_pb2_grpc as pb_grpc
from automations_triggers.app import TriggersApp
from tests.support.grpc_typing import health_stub

from .helpers import event_trigger, field_violations, seconds, webhook, woodchonk

if TYPE_CHECKING:
    # The async stub type exists only in the generated .pyi files.
    Stub = pb_grpc.AutomationServiceAsyncStub


async def create(stub: Stub, automation: apb.Automation, **kwargs: bool) -> apb.Automation:
    response = await stub.CreateAutomation(
        pb.CreateAutomationRequest(automation=automation, **kwargs)
    )
    return response.automation


async def test_health_is_serving(triggers_app: TriggersApp) -> None:
    async with grpc.aio.insecure_channel(triggers_app.grpc_address) as channel:
        health = health_stub(channel)
        for service in ("", "automations.v1.AutomationService"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_woodchonk_lifecycle(stub: Stub) -> None:
    created = await create(stub, woodchonk())
    assert uuid.UUID(created.id)
    assert uuid.UUID(created.trigger.event.id)  # trigger ids are assigned by the server
    assert created.create_time.seconds > 0
    assert created.trigger.event.threshold == 3
    assert created.trigger.event.within.seconds == 10
    assert created.actions[0].WhichOneof("kind") == "cancel_flow_run"

    read = (await stub.GetAutomation(pb.GetAutomationRequest(id=created.id))).automation
    assert read == created
    by_name = await stub.ListAutomations(pb.ListAutomationsRequest(names=["woodchonk"]))
    assert [a.id for a in by_name.automations] == [created.id]

    renamed = apb.Automation()
    renamed.CopyFrom(read)
    renamed.name = "woodchonk 2"
    updated = (
        await stub.UpdateAutomation(pb.UpdateAutomationRequest(automation=renamed))
    ).automation
    assert updated.name == "woodchonk 2"
    assert updated.trigger.event.id != created.trigger.event.id  # reset on every update
    assert updated.update_time.ToDatetime() > created.update_time.ToDatetime()

    paused = (await stub.PauseAutomation(pb.PauseAutomationRequest(id=created.id))).automation
    assert not paused.enabled
    count = await stub.CountAutomations(pb.CountAutomationsRequest(enabled=True))
    assert count.count == 0
    resumed = (await stub.ResumeAutomation(pb.ResumeAutomationRequest(id=created.id))).automation
    assert resumed.enabled
    assert (await stub.CountAutomations(pb.CountAutomationsRequest())).count == 1

    await stub.DeleteAutomation(pb.DeleteAutomationRequest(id=created.id))
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.DeleteAutomation(pb.DeleteAutomationRequest(id=created.id))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


async def test_update_mask_changes_only_the_named_fields(stub: Stub) -> None:
    created = await create(stub, woodchonk(tags=["a"]))
    patch = apb.Automation(id=created.id, description="walks a lot", name="ignored")
    updated = (
        await stub.UpdateAutomation(
            pb.UpdateAutomationRequest(
                automation=patch, update_mask=field_mask_pb2.FieldMask(paths=["description"])
            )
        )
    ).automation
    assert updated.description == "walks a lot"
    assert updated.name == "woodchonk"
    assert list(updated.tags) == ["a"]
    assert updated.trigger.event.id == created.trigger.event.id  # trigger untouched

    with pytest.raises(grpc.aio.AioRpcError) as bad_mask:
        await stub.UpdateAutomation(
            pb.UpdateAutomationRequest(
                automation=patch, update_mask=field_mask_pb2.FieldMask(paths=["create_time"])
            )
        )
    assert bad_mask.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "update_mask" in field_violations(bad_mask.value)


async def test_list_filters_and_page_tokens(stub: Stub) -> None:
    ids = {}
    for index in range(5):
        tags = ["even"] if index % 2 == 0 else ["odd"]
        ids[f"auto-{index}"] = (await create(stub, woodchonk(f"auto-{index}", [*tags, "all"]))).id
    await stub.PauseAutomation(pb.PauseAutomationRequest(id=ids["auto-4"]))

    names: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListAutomations(pb.ListAutomationsRequest(page_size=2, page_token=token))
        names.extend(a.name for a in page.automations)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert names == [f"auto-{i}" for i in range(5)]
    assert pages == 3

    descending = await stub.ListAutomations(
        pb.ListAutomationsRequest(order=pb.AUTOMATION_ORDER_NAME_DESC, page_size=10)
    )
    assert [a.name for a in descending.automations] == [f"auto-{i}" for i in (4, 3, 2, 1, 0)]
    newest = await stub.ListAutomations(
        pb.ListAutomationsRequest(order=pb.AUTOMATION_ORDER_CREATED_DESC, page_size=3)
    )
    rest = await stub.ListAutomations(
        pb.ListAutomationsRequest(
            order=pb.AUTOMATION_ORDER_CREATED_DESC, page_size=3, page_token=newest.next_page_token
        )
    )
    assert [a.name for a in [*newest.automations, *rest.automations]] == [
        f"auto-{i}" for i in (4, 3, 2, 1, 0)
    ]

    tagged = await stub.ListAutomations(pb.ListAutomationsRequest(tags=["even", "all"]))
    assert [a.name for a in tagged.automations] == ["auto-0", "auto-2", "auto-4"]
    enabled_even = await stub.ListAutomations(
        pb.ListAutomationsRequest(tags=["even"], enabled=True)
    )
    assert [a.name for a in enabled_even.automations] == ["auto-0", "auto-2"]
    disabled = await stub.ListAutomations(pb.ListAutomationsRequest(enabled=False))
    assert [a.name for a in disabled.automations] == ["auto-4"]
    named = await stub.ListAutomations(pb.ListAutomationsRequest(names=["auto-1", "auto-3"]))
    assert [a.name for a in named.automations] == ["auto-1", "auto-3"]

    first = await stub.ListAutomations(pb.ListAutomationsRequest(page_size=2))
    with pytest.raises(grpc.aio.AioRpcError) as mismatch:
        await stub.ListAutomations(
            pb.ListAutomationsRequest(page_size=2, tags=["odd"], page_token=first.next_page_token)
        )
    assert mismatch.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in field_violations(mismatch.value)


async def test_related_and_owned_automations(stub: Stub) -> None:
    deployment = str(uuid.uuid4())
    runner = woodchonk("runs the deployment")
    del runner.actions[:]
    runner.actions.append(
        apb.Action(
            run_deployment=apb.RunDeploymentAction(
                source=apb.TARGET_SOURCE_SELECTED, deployment_id=deployment
            )
        )
    )
    owned = woodchonk("owned")
    owned.owner_resource = f"prefect.deployment.{deployment}"
    runner_id = (await create(stub, runner)).id
    owned_id = (await create(stub, owned)).id
    await create(stub, woodchonk("unrelated"))

    related = await stub.ListRelatedAutomations(
        pb.ListRelatedAutomationsRequest(resource_id=f"prefect.deployment.{deployment}")
    )
    assert {a.id for a in related.automations} == {runner_id, owned_id}
    deleted = await stub.DeleteOwnedAutomations(
        pb.DeleteOwnedAutomationsRequest(resource_id=f"prefect.deployment.{deployment}")
    )
    assert deleted.deleted_count == 1
    left = await stub.ListAutomations(pb.ListAutomationsRequest())
    assert {a.name for a in left.automations} == {"runs the deployment", "unrelated"}


async def test_bad_input_gets_a_clear_status_and_the_service_keeps_serving(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.GetAutomation(pb.GetAutomationRequest(id=str(uuid.uuid4())))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await stub.GetAutomation(pb.GetAutomationRequest(id="not-a-uuid"))
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "id" in field_violations(malformed.value)

    for rpc in (
        stub.PauseAutomation(pb.PauseAutomationRequest(id="12")),
        stub.ResumeAutomation(pb.ResumeAutomationRequest(id="12")),
        stub.DeleteAutomation(pb.DeleteAutomationRequest(id="12")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await rpc
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    proactive = woodchonk("too quick")
    proactive.trigger.event.posture = apb.POSTURE_PROACTIVE
    proactive.trigger.event.within.CopyFrom(seconds(5))
    with pytest.raises(grpc.aio.AioRpcError) as too_quick:
        await create(stub, proactive)
    assert too_quick.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "trigger.event.within" in field_violations(too_quick.value)
    assert "trigger.event.within" in (too_quick.value.details() or "")

    broken = woodchonk("broken template")
    del broken.actions[:]
    broken.actions.append(webhook("{{ event.id "))
    with pytest.raises(grpc.aio.AioRpcError) as template:
        await create(stub, broken)
    assert template.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "actions[0].payload" in field_violations(template.value)

    match_all = apb.Automation(name="everything", enabled=True, trigger=event_trigger([]))
    with pytest.raises(grpc.aio.AioRpcError) as everything:
        await create(stub, match_all)
    assert "trigger.event.expect" in field_violations(everything.value)
    allowed = await create(stub, match_all, allow_match_all=True)
    assert allowed.id
    renamed = await stub.UpdateAutomation(
        pb.UpdateAutomationRequest(
            automation=apb.Automation(id=allowed.id, name="still everything"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        )
    )
    assert renamed.automation.name == "still everything"  # the trigger was judged already

    # Still serving after all of that.
    assert (await stub.CountAutomations(pb.CountAutomationsRequest())).count == 1


async def test_validate_template(stub: Stub) -> None:
    ok = await stub.ValidateTemplate(pb.ValidateTemplateRequest(template="{{ event.event }}"))
    assert ok.valid
    bad = await stub.ValidateTemplate(pb.ValidateTemplateRequest(template="a\n{% if %}"))
    assert not bad.valid
    assert bad.line == 2
    assert bad.message


async def test_validate_only_stores_nothing(stub: Stub) -> None:
    checked = await create(stub, woodchonk(), validate_only=True)
    assert checked.id
    assert (await stub.CountAutomations(pb.CountAutomationsRequest())).count == 0
