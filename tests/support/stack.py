"""The whole suite as separate processes on loopback, the way `make run` starts it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from automations_common.devstack import ManagedProcess, free_port, service_process, wait_for_health

SERVICES = ("ingest", "triggers", "actions")


@dataclass
class Stack:
    """Three service processes sharing one NATS (under their own namespace) and a data dir."""

    nats_url: str
    namespace: str
    data_dir: Path
    database_urls: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    http_port: int = 0
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ports = {svc: free_port() for svc in SERVICES}
        self.http_port = free_port()

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    @property
    def client_env(self) -> dict[str, str]:
        """What the Python client needs to find this stack."""
        return {
            "AUTOMATIONS_EVENTS_URL": self.address("ingest"),
            "AUTOMATIONS_API_URL": self.address("triggers"),
            "AUTOMATIONS_ACTIONS_URL": self.address("actions"),
        }

    def env_for(self, service: str) -> dict[str, str]:
        prefix = service.upper()
        env = {
            f"{prefix}_NATS__URL": self.nats_url,
            f"{prefix}_NATS__NAMESPACE": self.namespace,
            f"{prefix}_GRPC__PORT": str(self.ports[service]),
            f"{prefix}_DATA_DIR": str(self.data_dir),
            f"{prefix}_LOG_LEVEL": "INFO",
            "ACTIONS_AUTOMATIONS_API_URL": self.address("triggers"),
            "INGEST_HTTP_PORT": str(self.http_port),
        }
        if service in self.database_urls:
            env[f"{prefix}_DATABASE_URL"] = self.database_urls[service]
        return {**env, **self.extra_env}

    def start(self, service: str) -> None:
        process = service_process(
            service, self.env_for(service), self.data_dir / "logs" / f"{service}.log"
        )
        process.start()
        self.processes[service] = process
        wait_for_health(self.address(service), timeout=60, process=process)

    def start_all(self) -> None:
        for service in SERVICES:
            self.start(service)

    def kill(self, service: str) -> None:
        self.processes[service].kill()

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    def logs(self) -> str:
        return "\n\n".join(
            f"--- {name} ---\n{process.log_tail(60)}" for name, process in self.processes.items()
        )
