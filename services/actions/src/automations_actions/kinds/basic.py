"""`do-nothing`: succeeds without doing anything (useful to test automations)."""

from __future__ import annotations

from automations_actions.kinds.base import ActionInvocation, ActionOutcome


async def do_nothing(invocation: ActionInvocation) -> ActionOutcome:
    return ActionOutcome()
