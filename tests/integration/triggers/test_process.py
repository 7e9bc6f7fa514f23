"""`python -m automations_triggers` starts, reports SERVING, stops on SIGTERM, restarts."""

from __future__ import annotations

from pathlib import Path

from automations_common.devstack import free_port, service_process, wait_for_health


def test_the_process_serves_stops_cleanly_and_restarts_on_its_data(
    nats_url: str, namespace: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "TRIGGERS_NATS__URL": nats_url,
        "TRIGGERS_NATS__NAMESPACE": namespace,
        "TRIGGERS_GRPC__PORT": str(port),
        "TRIGGERS_DATA_DIR": str(tmp_path / "data"),
        "TRIGGERS_DATABASE_URL": "",
    }
    for attempt in range(2):  # the second start finds the migrated database and the consumer
        process = service_process("triggers", env, tmp_path / f"triggers-{attempt}.log")
        process.start()
        try:
            wait_for_health(f"127.0.0.1:{port}", timeout=30, process=process)
        finally:
            process.stop(timeout=15)
        assert process.process is not None
        assert process.process.returncode == 0, process.log_tail()
    assert (tmp_path / "data" / "triggers.db").exists()
