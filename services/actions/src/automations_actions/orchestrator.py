"""Client of a Prefect-compatible orchestration REST API: reads objects, carries out actions.

HTTP statuses become action outcomes here, in one place (reference §6.3):
- 404 -> ActionFailed naming the missing object;
- 422, or 409 with a detail -> ActionFailed "Validation error occurred for '<type>' - <detail>";
- 409 without a detail -> ActionFailed "Conflict (409) occurred for '<type>' - <text>";
- 429, 5xx, network errors, timeouts -> TransientFailure (retried with backoff by the consumer);
- any other status >= 300 -> ActionFailed "Unexpected status from '<type>' action: <code>".
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from automations_actions.kinds.base import ActionFailed, TransientFailure

_OBJECT_PATHS = {
    "flow-run": "flow_runs",
    "flow": "flows",
    "deployment": "deployments",
    "task-run": "task_runs",
    "work-queue": "work_queues",
}

_WORDS = {
    "flow-run": "Flow run",
    "flow": "Flow",
    "deployment": "Deployment",
    "task-run": "Task run",
    "work-queue": "Work queue",
    "work-pool": "Work pool",
    "variable": "Variable",
}


@dataclass(frozen=True)
class OrchestratorConfig:
    """Where the API is and how to call it. `api_url` ends in `/api` for a Prefect server."""

    api_url: str
    api_key: str = ""
    # `user:password` for a server with PREFECT_SERVER_API_AUTH_STRING set.
    auth_string: str = ""
    timeout_seconds: float = 10.0
    max_connections: int = 50


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, Mapping):
        detail = body.get("detail") or body.get("exception_detail")
        if detail:
            return detail if isinstance(detail, str) else _short(repr(detail))
    return ""


def _short(text: str, limit: int = 1000) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class Orchestrator:
    """Async Prefect REST client; also the ObjectLoader behind template objects.

    `for_action(...)` returns a view that shares the connection pool but sends the
    automation headers and names the action type in its failure reasons.
    """

    def __init__(
        self,
        config: OrchestratorConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        _client: httpx.AsyncClient | None = None,
        _headers: Mapping[str, str] | None = None,
        _action_type: str = "",
    ) -> None:
        self.config = config
        if _client is None:
            headers = {"Accept": "application/json"}
            if config.api_key:
                headers["Authorization"] = f"Bearer {config.api_key}"
            elif config.auth_string:
                token = base64.b64encode(config.auth_string.encode()).decode()
                headers["Authorization"] = f"Basic {token}"
            _client = httpx.AsyncClient(
                base_url=config.api_url.rstrip("/") + "/",
                headers=headers,
                timeout=httpx.Timeout(config.timeout_seconds),
                limits=httpx.Limits(max_connections=config.max_connections),
                transport=transport,
                follow_redirects=False,
            )
        self._client = _client
        self._headers = dict(_headers or {})
        self._action_type = _action_type

    async def aclose(self) -> None:
        await self._client.aclose()

    def for_action(
        self, action_type: str, automation_id: str, automation_name: str
    ) -> Orchestrator:
        """A view that acts on behalf of an automation (Prefect records it as the creator)."""
        headers = {
            "Prefect-Automation-ID": automation_id,
            "Prefect-Automation-Name": base64.b64encode(automation_name.encode()).decode(),
        }
        return Orchestrator(
            self.config, _client=self._client, _headers=headers, _action_type=action_type
        )

    # -- transport and status mapping ------------------------------------------------

    async def _request(
        self, method: str, path: str, *, json: Any = None, missing: str = ""
    ) -> httpx.Response:
        """Send one request; map failure statuses (see module docstring).

        `missing` names the object for a 404 (e.g. "Deployment 1234"); when empty a 404
        is mapped like any other unexpected status.
        """
        try:
            response = await self._client.request(method, path, json=json, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise TransientFailure(
                f"The orchestration API did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise TransientFailure(
                f"The orchestration API could not be reached: {type(exc).__name__}: {exc}"
            ) from exc
        self._raise_for_status(response, missing)
        return response

    def _raise_for_status(self, response: httpx.Response, missing: str) -> None:
        status = response.status_code
        if status < 300:
            return
        result: dict[str, Any] = {"status_code": status}
        label = self._action_type or "orchestration"
        if status == 404 and missing:
            raise ActionFailed(f"{missing} not found", result)
        detail = _detail(response)
        if status == 422 or (status == 409 and detail):
            result["validation_error"] = detail or _short(response.text)
            raise ActionFailed(
                f"Validation error occurred for '{label}' - {result['validation_error']}", result
            )
        if status == 409:
            raise ActionFailed(
                f"Conflict (409) occurred for '{label}' - {_short(response.text)}", result
            )
        result["response_body"] = _short(response.text)
        reason = f"Unexpected status from '{label}' action: {status}"
        if status == 429 or status >= 500:
            raise TransientFailure(reason, result)
        raise ActionFailed(reason, result)

    async def _json(self, method: str, path: str, *, json: Any = None, missing: str = "") -> Any:
        response = await self._request(method, path, json=json, missing=missing)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ActionFailed(
                f"The orchestration API answered {method} {path} with invalid JSON"
            ) from exc

    # -- ObjectLoader ------------------------------------------------------------------

    async def load(self, kind: str, object_id: str) -> dict[str, Any] | None:
        """Read an object for templates; None when it is absent or refused (status < 500).

        Unlike Prefect (any status >= 300 gives None), a 5xx or network error raises
        TransientFailure, so the action is retried instead of rendering empty fields.
        """
        try:
            if kind == "work-pool":
                return await self.read_work_pool_by_id(object_id)
            path = _OBJECT_PATHS.get(kind)
            if path is None:
                return None
            found = await self._json("GET", f"{path}/{object_id}")
            if not isinstance(found, dict):
                return None
            if kind == "work-queue":
                status = await self._json("GET", f"work_queues/{object_id}/status")
                if isinstance(status, dict):
                    found = {**found, **status}
            return found
        except TransientFailure:
            raise
        except ActionFailed:
            return None

    # -- reads ---------------------------------------------------------------------------

    async def read_deployment(self, deployment_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._json(
            "GET", f"deployments/{deployment_id}", missing=f"Deployment {deployment_id}"
        )
        return found

    async def read_flow_run(self, flow_run_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._json(
            "GET", f"flow_runs/{flow_run_id}", missing=f"Flow run {flow_run_id}"
        )
        return found

    async def read_work_queue(self, work_queue_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._json(
            "GET", f"work_queues/{work_queue_id}", missing=f"Work queue {work_queue_id}"
        )
        return found

    async def read_work_pool_by_id(self, work_pool_id: str) -> dict[str, Any] | None:
        """Prefect addresses pools by name; find one by id through the filter endpoint."""
        body = {"work_pools": {"id": {"any_": [work_pool_id]}}, "limit": 1}
        found = await self._json("POST", "work_pools/filter", json=body)
        if isinstance(found, list) and found and isinstance(found[0], dict):
            return found[0]
        return None

    async def read_variable(self, name: str) -> Any:
        found = await self._json(
            "GET", f"variables/name/{quote(name, safe='')}", missing=f"Variable {name!r}"
        )
        return found.get("value") if isinstance(found, dict) else None

    # -- actions --------------------------------------------------------------------------

    async def create_flow_run(
        self,
        deployment_id: str,
        *,
        parameters: Mapping[str, Any] | None,
        job_variables: Mapping[str, Any] | None,
        state: Mapping[str, Any],
        idempotency_key: str,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"state": dict(state), "idempotency_key": idempotency_key}
        if parameters is not None:
            body["parameters"] = dict(parameters)
        if job_variables is not None:
            body["job_variables"] = dict(job_variables)
        created: dict[str, Any] = await self._json(
            "POST",
            f"deployments/{deployment_id}/create_flow_run",
            json=body,
            missing=f"Deployment {deployment_id}",
        )
        return created

    async def pause_deployment(self, deployment_id: str) -> None:
        await self._request(
            "POST",
            f"deployments/{deployment_id}/pause_deployment",
            missing=f"Deployment {deployment_id}",
        )

    async def resume_deployment(self, deployment_id: str) -> None:
        await self._request(
            "POST",
            f"deployments/{deployment_id}/resume_deployment",
            missing=f"Deployment {deployment_id}",
        )

    async def set_flow_run_state(
        self, flow_run_id: str, state: Mapping[str, Any], *, force: bool = False
    ) -> dict[str, Any]:
        """Propose a state; raise ActionFailed unless the server accepts it."""
        result = await self._json(
            "POST",
            f"flow_runs/{flow_run_id}/set_state",
            json={"state": dict(state), "force": force},
            missing=f"Flow run {flow_run_id}",
        )
        return _accepted(result)

    async def resume_flow_run(self, flow_run_id: str) -> dict[str, Any]:
        result = await self._json(
            "POST",
            f"flow_runs/{flow_run_id}/resume",
            json={},
            missing=f"Flow run {flow_run_id}",
        )
        return _accepted(result)

    async def delete_flow_run(self, flow_run_id: str) -> None:
        await self._request("DELETE", f"flow_runs/{flow_run_id}", missing=f"Flow run {flow_run_id}")

    async def set_work_pool_paused(self, work_pool_id: str, paused: bool) -> dict[str, Any]:
        """Returns the pool as read before the change (the caller names it in the result)."""
        pool = await self.read_work_pool_by_id(work_pool_id)
        if pool is None:
            raise ActionFailed(f"Work pool {work_pool_id} not found", {"status_code": 404})
        await self._request(
            "PATCH",
            f"work_pools/{quote(str(pool['name']), safe='')}",
            json={"is_paused": paused},
            missing=f"Work pool {work_pool_id}",
        )
        return pool

    async def set_work_queue_paused(self, work_queue_id: str, paused: bool) -> None:
        await self._request(
            "PATCH",
            f"work_queues/{work_queue_id}",
            json={"is_paused": paused},
            missing=f"Work queue {work_queue_id}",
        )


def _accepted(result: Any) -> dict[str, Any]:
    """The orchestration result, or ActionFailed('Failed to set state: <reason>')."""
    if not isinstance(result, dict):
        raise ActionFailed("Failed to set state: the API returned no orchestration result")
    status = str(result.get("status") or "")
    if status != "ACCEPT":
        details = result.get("details") or {}
        reason = details.get("reason") if isinstance(details, dict) else None
        raise ActionFailed(
            f"Failed to set state: {reason or status or 'not accepted'}",
            {"orchestration_status": status},
        )
    return result
