"""`python -m automations_ingest` starts, reports SERVING, and stops cleanly on SIGTERM."""

from __future__ import annotations

from pathlib import Path

from automations_common.devstack import free_port, service_process, wait_for_health


def test_the_service_process_serves_and_stops_cleanly(
    nats_url: str, namespace: str, tmp_path: Path
) -> None:
    port = free_port()
    process = service_process(
        "ingest",
        {
            "INGEST_NATS__URL": nats_url,
            "INGEST_NATS__NAMESPACE": namespace,
            "INGEST_GRPC__PORT": str(port),
            "INGEST_HTTP_PORT": str(free_port()),
            "INGEST_DATA_DIR": str(tmp_path),
        },
        tmp_path / "ingest.log",
    )
    process.start()
    try:
        wait_for_health(f"127.0.0.1:{port}", timeout=30, process=process)
        assert (tmp_path / "ingest.db").exists()
    finally:
        process.stop(timeout=15)
    assert process.process is not None
    assert process.process.returncode == 0, process.log_tail()
