"""Action runs: what the actions service did with each action of each firing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from automations._models import Model


class ActionAttempt(Model):
    """One try at carrying out an action."""

    number: int
    started: datetime | None = None
    duration_seconds: float = 0.0
    error: str = ""
    transient: bool = False


class ActionRun(Model):
    """The record of one action of one firing; `state` is pending, running, retrying,
    succeeded, failed or skipped."""

    id: str
    automation_id: str
    automation_name: str = ""
    action_index: int = 0
    action_type: str = ""
    state: str = "pending"
    firing_id: str = ""
    triggering_event_id: str = ""
    attempts: list[ActionAttempt] = Field(default_factory=list)
    created: datetime | None = None
    updated: datetime | None = None
    finished: datetime | None = None
    reason: str = ""
    result: dict[str, Any] = Field(default_factory=dict)
    rendered_request: dict[str, Any] = Field(default_factory=dict)
