"""A real HTTP receiver on loopback that records what it is sent."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the default backlog of 5 resets connections under load


@dataclass
class HttpReceiver:
    """Answers each request with the next status in `statuses` (then the last one again)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    requests: list[ReceivedRequest] = field(default_factory=list)
    response_body: bytes = b'{"ok": true}'
    delay_seconds: float = 0.0

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real webhook receivers do

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    index = len(receiver.requests)
                    receiver.requests.append(
                        ReceivedRequest(self.command, self.path, dict(self.headers.items()), body)
                    )
                    status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                if receiver.delay_seconds:
                    threading.Event().wait(receiver.delay_seconds)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.response_body)))
                self.end_headers()
                self.wfile.write(receiver.response_body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.requests) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"expected {count} requests at the receiver, got {len(self.requests)}"
                )
            await asyncio.sleep(0.02)
        return list(self.requests)
