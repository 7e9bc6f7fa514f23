"""The SQL ledger: claiming new runs, keeping held ones, overwriting on save."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from automations_actions.app import MIGRATIONS, VERSION_TABLE
from automations_actions.ledger import SqlLedger
from automations_actions.runs import ActionRun, Attempt, RunState
from tests.support.databases import migrated

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def running(run_id: str) -> ActionRun:
    return ActionRun(
        id=run_id,
        workspace="default",
        automation_id="auto",
        automation_name="name",
        action_index=0,
        action_type="call-webhook",
        state=RunState.RUNNING,
        firing_id="f1",
        triggering_event_id="e1",
        created=T0,
        updated=T0,
        attempts=[Attempt(number=1, started=T0)],
    )


async def test_claim_stores_new_runs_and_returns_the_held_ones_unchanged(
    database_url: str,
) -> None:
    async with migrated(database_url, MIGRATIONS, VERSION_TABLE) as transactions:
        ledger = SqlLedger(transactions)
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        assert await ledger.claim([running(first)]) == {}

        related = [
            {"prefect.resource.id": "prefect.block-document.b", "prefect.resource.role": "block"}
        ]
        done = replace(
            running(first),
            state=RunState.SUCCEEDED,
            finished=T0,
            result={"k": 1},
            resulting_related=related,
        )
        await ledger.save([done])
        held = await ledger.claim([running(first), running(second)])
        assert list(held) == [first]
        assert held[first].state == RunState.SUCCEEDED  # a claim never overwrites
        assert held[first].result == {"k": 1}
        # What its events are built from again when it is redelivered.
        assert held[first].resulting_related == related
        assert held[first].finished == T0

        stored = await ledger.get("default", second)
        assert stored is not None
        assert stored.state == RunState.RUNNING
        assert stored.attempts == [Attempt(number=1, started=T0)]
        assert await ledger.claim([]) == {}
