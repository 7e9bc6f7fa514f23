"""Engine state and outbox commit together and read back (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from automations_common.broker import OutgoingMessage
from automations_common.database import migrate
from automations_triggers.app import MIGRATIONS, VERSION_TABLE
from automations_triggers.state import StateChanges, StateRow
from automations_triggers.state_store import EngineStateStore
from tests.support.databases import migrated


async def test_state_rows_and_outbox_round_trip(database_url: str, tmp_path: Path) -> None:
    async with migrated(database_url, MIGRATIONS, VERSION_TABLE) as transactions:
        await migrate(transactions.engine, MIGRATIONS, VERSION_TABLE)  # idempotent
        store = EngineStateStore(transactions, "default")
        assert await store.load_rows() == []

        rows = [StateRow("bucket", f'["a","t",["{i}"]]', "a", {"count": i}) for i in range(450)]
        messages = [OutgoingMessage("s", bytes([i]), f"m{i}") for i in range(3)]
        await store.commit(StateChanges(upserts=rows), messages)
        assert len(await store.load_rows()) == 450
        assert [m.msg_id for m in await store.load_outbox()] == ["m0", "m1", "m2"]

        changed = StateRow("bucket", rows[0].key, "a", {"count": 99})
        await store.commit(
            StateChanges(upserts=[changed], deletes=[(r.kind, r.key) for r in rows[1:]])
        )
        assert await store.load_rows() == [changed]

        await store.clear_outbox(["m0", "m2"])
        assert [m.data for m in await store.load_outbox()] == [bytes([1])]

        # Stored messages leave the outbox with the next commit, new ones join it.
        await store.commit(StateChanges(), [OutgoingMessage("s", b"n", "m3")], published=["m1"])
        assert [m.msg_id for m in await store.load_outbox()] == ["m3"]
        await store.commit(StateChanges(), published=["m3"])  # nothing else to write
        assert await store.load_outbox() == []
        other = EngineStateStore(transactions, "elsewhere")
        assert await other.load_rows() == []  # workspaces are apart
