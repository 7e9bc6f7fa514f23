"""Action runs (the ledger's rows) as plain data, and the retry schedule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class RunState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    # A transient failure; another attempt is scheduled.
    RETRYING = "RETRYING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


TERMINAL_STATES = frozenset({RunState.SUCCEEDED, RunState.FAILED})


@dataclass
class Attempt:
    number: int
    started: datetime
    duration_seconds: float | None = None
    # Empty when the attempt succeeded (or has not ended).
    error: str = ""
    transient: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started": self.started.isoformat(),
            "duration_seconds": self.duration_seconds,
            "error": self.error,
            "transient": self.transient,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attempt:
        return cls(
            number=int(data["number"]),
            started=datetime.fromisoformat(data["started"]),
            duration_seconds=data.get("duration_seconds"),
            error=str(data.get("error") or ""),
            transient=bool(data.get("transient")),
        )


@dataclass
class ActionRun:
    """The record of one action of one firing."""

    id: str
    workspace: str
    automation_id: str
    automation_name: str
    action_index: int
    action_type: str
    state: RunState
    firing_id: str
    triggering_event_id: str
    created: datetime
    updated: datetime
    attempts: list[Attempt] = field(default_factory=list)
    reason: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    rendered_request: dict[str, Any] | None = None
    # What the action acted on or created (role `target`, `flow-run`, `block`, ...): the
    # outcome event's related resources, kept so that the event can be published again.
    resulting_related: list[dict[str, str]] = field(default_factory=list)
    finished: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for transient failures, bounded in attempts and delay."""

    max_attempts: int = 5
    base_seconds: float = 1.0
    cap_seconds: float = 60.0

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1)))


@dataclass(frozen=True)
class RunQuery:
    """A filter over action runs, for ListActionRuns."""

    workspace: str = "default"
    automation_id: str = ""
    states: tuple[RunState, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
