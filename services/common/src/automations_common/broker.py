"""NATS connection, stream bootstrap and pipelined JetStream publishing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import PubAck, StreamConfig
from nats.js.errors import NotFoundError

from automations_common.errors import Unavailable

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


async def connect(url: str, name: str, timeout_seconds: float = 10.0) -> NATS:
    """Connect, retrying until `timeout_seconds`, then fail with a message that says where."""
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    last_error: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            return await nats.connect(
                url,
                name=name,
                connect_timeout=2,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                allow_reconnect=True,
            )
        except Exception as exc:  # nats raises several unrelated types here
            last_error = exc
            await asyncio.sleep(0.25)
    raise Unavailable(
        f"cannot reach NATS at {url} ({last_error}); start it or set the NATS URL setting"
    )


async def ensure_streams(js: JetStreamContext, configs: Sequence[StreamConfig]) -> None:
    """Create the streams, or bring existing ones to the given configuration."""
    for config in configs:
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("created stream %s", config.name)
        else:
            await js.update_stream(config)


@dataclass(frozen=True)
class OutgoingMessage:
    subject: str
    data: bytes
    msg_id: str


async def publish_all(
    js: JetStreamContext, messages: Sequence[OutgoingMessage], timeout_seconds: float = 10.0
) -> list[PubAck]:
    """Publish with pipelined acknowledgements; return once every message is stored.

    Raises Unavailable if any publish fails or the acknowledgements do not arrive in time.
    The caller may retry the whole batch: `Nats-Msg-Id` makes the retry harmless.
    """
    try:
        futures = [
            await js.publish_async(m.subject, m.data, headers={MSG_ID_HEADER: m.msg_id})
            for m in messages
        ]
        return list(await asyncio.wait_for(asyncio.gather(*futures), timeout_seconds))
    except (TimeoutError, nats.errors.Error) as exc:
        raise Unavailable(f"publishing to JetStream failed: {exc!r}") from exc
