"""Compound and sequence triggers: collecting child firings until the parent fires (§4.3).

The engine is single-threaded and evaluates a batch in order, so concurrent child firings
cannot race: the first child that completes the parent fires it once and consumes every
stored child firing. Firings from one batch share a wall-clock time; a sequence number
assigned on arrival breaks the tie, so declared order is judged by processing order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime

from automations_common.ids import derived_id
from automations_triggers.model import (
    CompositeTrigger,
    Firing,
    SequenceTrigger,
    TriggerState,
)
from automations_triggers.state import CHILD_FIRING, ChangeLog, StateRow

EmitComposite = Callable[[str, CompositeTrigger, Firing], None]
ParentId = tuple[str, str]  # (automation_id, parent trigger id)


class CompositeEvaluation:
    """Child firings per parent trigger (one per child, the newest), and the ready rules."""

    __slots__ = ("_dirty", "_emit", "_firings", "_seq")

    def __init__(self, emit: EmitComposite) -> None:
        self._emit = emit
        self._firings: dict[ParentId, dict[str, tuple[Firing, int]]] = {}
        self._dirty: dict[tuple[str, str, str], tuple[Firing, int] | None] = {}
        self._seq = 0

    def child_fired(
        self, automation_id: str, parent: CompositeTrigger, child: Firing, now: datetime
    ) -> None:
        """Record a child's Triggered firing and fire the parent if that completes it."""
        if parent.num_expected == 1:
            self._fire(automation_id, parent, [child], child, now)
            return
        ident = (automation_id, parent.id)
        stored = self._firings.setdefault(ident, {})
        if parent.within is not None:
            cutoff = child.triggered - parent.within
            for child_id in [c for c, (f, _) in stored.items() if f.triggered < cutoff]:
                self._forget(automation_id, parent.id, child_id)
        self._seq += 1
        stored = self._firings.setdefault(ident, {})
        stored[child.trigger_id] = (child, self._seq)
        self._dirty[(automation_id, parent.id, child.trigger_id)] = (child, self._seq)
        ordered = sorted(stored.items(), key=lambda item: (item[1][0].triggered, item[1][1]))
        if isinstance(parent, SequenceTrigger):
            ready = [c for c, _ in ordered] == [t.id for t in parent.triggers]
        else:
            ready = len(stored) >= parent.num_expected
        if not ready:
            return
        for child_id, _ in ordered:
            self._forget(automation_id, parent.id, child_id)
        self._fire(automation_id, parent, [f for _, (f, _) in ordered], child, now)

    def drop(self, automation_id: str, parent_ids: Iterable[str]) -> None:
        """Forget every child firing of these parents (the automation changed or went away)."""
        for parent_id in parent_ids:
            for child_id in list(self._firings.get((automation_id, parent_id), {})):
                self._forget(automation_id, parent_id, child_id)

    def stored(self, automation_id: str, parent_id: str) -> list[Firing]:
        return [f for f, _ in self._firings.get((automation_id, parent_id), {}).values()]

    def write_changes(self, log: ChangeLog) -> None:
        for (automation_id, parent_id, child_id), value in self._dirty.items():
            if value is None:
                log.delete(CHILD_FIRING, _row_key(automation_id, parent_id, child_id))
            else:
                log.upsert(_to_row(automation_id, parent_id, child_id, *value))
        self._dirty = {}

    def restore(self, rows: Iterable[StateRow]) -> None:
        for row in rows:
            d = row.data
            firing, seq = Firing.from_dict(d["firing"]), int(d["seq"])
            children = self._firings.setdefault((d["automation_id"], d["parent_id"]), {})
            children[d["child_id"]] = (firing, seq)
            self._seq = max(self._seq, seq)

    def rows(self) -> list[StateRow]:
        return [
            _to_row(automation_id, parent_id, child_id, firing, seq)
            for (automation_id, parent_id), children in self._firings.items()
            for child_id, (firing, seq) in children.items()
        ]

    def _forget(self, automation_id: str, parent_id: str, child_id: str) -> None:
        stored = self._firings.get((automation_id, parent_id))
        if stored is None or stored.pop(child_id, None) is None:
            return
        if not stored:
            del self._firings[(automation_id, parent_id)]
        self._dirty[(automation_id, parent_id, child_id)] = None

    def _fire(
        self,
        automation_id: str,
        parent: CompositeTrigger,
        children: list[Firing],
        completing: Firing,
        now: datetime,
    ) -> None:
        firing = Firing(
            id=derived_id("composite", automation_id, parent.id, *sorted(f.id for f in children)),
            trigger_id=parent.id,
            automation_id=automation_id,
            states=frozenset({TriggerState.TRIGGERED}),
            triggered=now,
            triggering_labels={},
            triggering_event=completing.triggering_event,
            triggering_firings=tuple(children),
        )
        self._emit(automation_id, parent, firing)


def _row_key(automation_id: str, parent_id: str, child_id: str) -> str:
    return json.dumps([automation_id, parent_id, child_id], separators=(",", ":"))


def _to_row(
    automation_id: str, parent_id: str, child_id: str, firing: Firing, seq: int
) -> StateRow:
    data = {
        "automation_id": automation_id,
        "parent_id": parent_id,
        "child_id": child_id,
        "seq": seq,
        "firing": firing.to_dict(),
    }
    return StateRow(CHILD_FIRING, _row_key(automation_id, parent_id, child_id), automation_id, data)
