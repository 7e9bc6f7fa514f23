"""A real Prefect server for integration tests, in its own virtualenv, plus REST helpers.

The `prefect` package is never installed into the project's .venv (it pins many packages
of its own). It goes into a cached virtualenv keyed by the pinned versions, built on first
use and reused afterwards; `AUTOMATIONS_TEST_PREFECT_VENV` points at another location.
The pair `prefect==3.8.8` + `fastapi==0.154.0` is pinned because newer fastapi breaks that
server at start-up (DESIGN §10).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from automations_common.devstack import free_port

PREFECT_VERSION = "3.8.8"
FASTAPI_VERSION = "0.154.0"
REQUIREMENTS = [f"prefect=={PREFECT_VERSION}", f"fastapi=={FASTAPI_VERSION}"]
STARTUP_TIMEOUT_SECONDS = 90.0
# Background loops the tests do not need: each one writes to the SQLite file and makes
# the API answer 503 (database locked) now and then on a busy 2-core machine. The
# triggers service is Prefect's own automations engine, which must not act on our objects.
IDLE_SERVICES = (
    "CANCELLATION_CLEANUP",
    "CLEANUP_RECONCILER",
    "EVENT_PERSISTER",
    "FOREMAN",
    "LATE_RUNS",
    "PAUSE_EXPIRATIONS",
    "REPOSSESSOR",
    "SCHEDULER",
    "TASK_RUN_RECORDER",
    "TRIGGERS",
)
INSTALL_TIMEOUT_SECONDS = 900.0


class PrefectUnavailableError(RuntimeError):
    """The Prefect server could not be installed or started; the message says where to look."""


def default_venv_dir() -> Path:
    override = os.environ.get("AUTOMATIONS_TEST_PREFECT_VENV")
    if override:
        return Path(override)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "automations-tests" / f"prefect-venv-{PREFECT_VERSION}-fastapi-{FASTAPI_VERSION}"


def _venv_ready(venv: Path) -> bool:
    return (venv / ".installed").exists() and (venv / "bin" / "prefect").exists()


def ensure_prefect_venv(venv: Path | None = None) -> Path:
    """Return a virtualenv holding the pinned Prefect, creating it if missing.

    The `.installed` marker is written last, so an interrupted install is detected and
    redone on the next run. A file lock keeps parallel runs from installing twice.
    """
    venv = venv or default_venv_dir()
    if _venv_ready(venv):
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    lock_path = venv.parent / f"{venv.name}.lock"
    log_path = venv.parent / f"{venv.name}.install.log"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _venv_ready(venv):
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        with log_path.open("w") as log:
            try:
                subprocess.run(
                    [_base_python(), "-m", "venv", str(venv)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=120,
                )
                subprocess.run(
                    [str(venv / "bin" / "python"), "-m", "pip", "install", *REQUIREMENTS],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=INSTALL_TIMEOUT_SECONDS,
                    env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
                shutil.rmtree(venv, ignore_errors=True)
                raise PrefectUnavailableError(
                    f"installing {' '.join(REQUIREMENTS)} into {venv} failed ({exc}); "
                    f"see {log_path}"
                ) from exc
        (venv / ".installed").write_text(" ".join(REQUIREMENTS) + "\n")
    return venv


def _base_python() -> str:
    # The base interpreter, not the project's venv one, so nothing of .venv leaks in.
    return getattr(sys, "_base_executable", None) or sys.executable


@dataclass
class PrefectServer:
    """`prefect server start` on loopback with its own home and SQLite file."""

    venv: Path
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # Background loops to switch off, and further PREFECT_* settings for this server.
    idle_services: tuple[str, ...] = IDLE_SERVICES
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prefect-server.log"

    def start(self) -> None:
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        database = self.workdir / "prefect.db"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("PREFECT_") and key not in {"VIRTUAL_ENV", "PYTHONPATH"}
        }
        env.update(
            PREFECT_HOME=str(home),
            PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{database}",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_SERVER_UI_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
            PREFECT_SERVER_DATABASE_TIMEOUT="30",
            **{f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in self.idle_services},
            PATH=f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        )
        env.update(self.extra_env)
        command = [
            str(self.venv / "bin" / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-ui",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise PrefectUnavailableError(
                        f"prefect server exited with {self.process.returncode}; "
                        f"see {self.log_path}:\n{self._log_tail()}"
                    )
                try:
                    response = client.get(f"{self.api_url}/health")
                    if response.status_code == 200:
                        return
                    last = f"status {response.status_code}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                time.sleep(0.25)
        raise PrefectUnavailableError(
            f"prefect server not healthy after {timeout:.0f} s ({last}); "
            f"see {self.log_path}:\n{self._log_tail()}"
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # The CLI starts uvicorn in a child: signal the whole session we created.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        except ProcessLookupError:
            pass

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def running_prefect_server(workdir: Path, venv: Path | None = None) -> Iterator[PrefectServer]:
    server = PrefectServer(ensure_prefect_venv(venv), workdir)
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


class PrefectObjects:
    """Creates flows, deployments, work pools, queues and runs through the REST API."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.client = httpx.AsyncClient(base_url=self.api_url + "/", timeout=15.0)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        # SQLite under load makes the server answer 503 for a moment; set-up is retried.
        for _ in range(20):
            response = await self.client.request(method, path, **kwargs)
            if response.status_code != 503:
                break
            await asyncio.sleep(0.1)
        if response.status_code >= 300:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def create_work_pool(self, name: str | None = None) -> dict[str, Any]:
        body = {"name": name or f"pool-{uuid.uuid4().hex[:8]}", "type": "process"}
        result: dict[str, Any] = await self._json("POST", "work_pools/", json=body)
        return result

    async def create_work_queue(self, pool_name: str, name: str | None = None) -> dict[str, Any]:
        body = {"name": name or f"queue-{uuid.uuid4().hex[:8]}"}
        result: dict[str, Any] = await self._json(
            "POST", f"work_pools/{pool_name}/queues", json=body
        )
        return result

    async def create_flow(self, name: str | None = None) -> dict[str, Any]:
        body = {"name": name or f"flow-{uuid.uuid4().hex[:8]}"}
        result: dict[str, Any] = await self._json("POST", "flows/", json=body)
        return result

    async def create_deployment(
        self,
        flow_id: str,
        pool_name: str,
        queue_name: str | None = None,
        name: str | None = None,
        parameters: dict[str, Any] | None = None,
        parameter_schema: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A deployment; with `parameter_schema`, Prefect enforces it on new runs."""
        body: dict[str, Any] = {
            "name": name or f"deployment-{uuid.uuid4().hex[:8]}",
            "flow_id": flow_id,
            "work_pool_name": pool_name,
            "parameters": parameters or {},
            "entrypoint": "flows.py:main",
            "enforce_parameter_schema": parameter_schema is not None,
        }
        if parameter_schema is not None:
            body["parameter_openapi_schema"] = parameter_schema
        if queue_name:
            body["work_queue_name"] = queue_name
        result: dict[str, Any] = await self._json("POST", "deployments/", json=body)
        return result

    async def create_flow_run(
        self, deployment_id: str, parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if parameters is not None:
            body["parameters"] = parameters
        result: dict[str, Any] = await self._json(
            "POST", f"deployments/{deployment_id}/create_flow_run", json=body
        )
        return result

    async def set_state(self, flow_run_id: str, state_type: str, name: str | None = None) -> Any:
        state: dict[str, Any] = {"type": state_type}
        if name:
            state["name"] = name
        return await self._json(
            "POST", f"flow_runs/{flow_run_id}/set_state", json={"state": state, "force": True}
        )

    async def running_flow_run(self, deployment_id: str) -> dict[str, Any]:
        run = await self.create_flow_run(deployment_id)
        await self.set_state(run["id"], "RUNNING")
        return await self.flow_run(run["id"])

    async def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", f"flow_runs/{flow_run_id}")
        return result

    async def flow_run_status(self, flow_run_id: str) -> int:
        return (await self.client.get(f"flow_runs/{flow_run_id}")).status_code

    async def flow_runs_of(self, deployment_id: str) -> list[dict[str, Any]]:
        body = {"deployments": {"id": {"any_": [deployment_id]}}}
        result: list[dict[str, Any]] = await self._json("POST", "flow_runs/filter", json=body)
        return result

    async def deployment(self, deployment_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", f"deployments/{deployment_id}")
        return result

    async def work_pool(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", f"work_pools/{name}")
        return result

    async def work_queue(self, work_queue_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", f"work_queues/{work_queue_id}")
        return result
