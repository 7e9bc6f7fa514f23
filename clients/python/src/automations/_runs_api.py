"""ActionService calls: the record of what the actions did."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from automations import _convert
from automations._runs import ActionRun
from automations._transport import Transport
from automations.v1 import action_service_pb2


class ActionRunsApi(Transport):
    """ActionService calls: the record of what the actions did."""

    async def list_action_runs(
        self,
        automation_id: str | UUID | None = None,
        states: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 50,
    ) -> list[ActionRun]:
        """Action runs, newest first; `states` among pending, running, retrying, ..."""
        found: list[ActionRun] = []
        token = ""
        while True:
            request = action_service_pb2.ListActionRunsRequest(
                page_size=min(limit or 500, 500),
                page_token=token,
                automation_id=str(automation_id) if automation_id else "",
                states=[_convert.action_run_state_to_proto(s) for s in states],
            )
            if since is not None:
                request.since.CopyFrom(_convert.timestamp_to_proto(since))
            if until is not None:
                request.until.CopyFrom(_convert.timestamp_to_proto(until))
            response = await self._call(self._stubs().actions.ListActionRuns, request)
            found.extend(_convert.action_run_from_proto(r) for r in response.action_runs)
            token = response.next_page_token
            if not token or (limit is not None and len(found) >= limit):
                return found[:limit] if limit is not None else found

    async def get_action_run(self, id: str) -> ActionRun:
        response = await self._call(
            self._stubs().actions.GetActionRun, action_service_pb2.GetActionRunRequest(id=id)
        )
        return _convert.action_run_from_proto(response.action_run)
