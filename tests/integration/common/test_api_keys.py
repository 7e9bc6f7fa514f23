"""GrpcServer with API keys, over real gRPC on loopback: every kind of call is refused
without an accepted key, each accepted key opens it, health and reflection stay open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from automations_common.grpc_server import GrpcServer
from tests.support.grpc_typing import error_reason, health_stub, reflection_stub

pytestmark = pytest.mark.timeout(30)

KEYS = ("old-key", "new-key")
ECHO = "test.Echo"

Call = Callable[[grpc.aio.Channel, tuple[tuple[str, str], ...]], Awaitable[bytes]]


async def _unary(request: bytes, context: Any) -> bytes:
    return request


async def _client_stream(requests: AsyncIterator[bytes], context: Any) -> bytes:
    return b"".join([item async for item in requests])


async def _server_stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield request


async def _both_streams(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for item in requests:
        yield item


def _register_echo(server: grpc.aio.Server) -> None:
    # No (de)serializers: the messages are bytes as they travel.
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                ECHO,
                {
                    "Unary": grpc.unary_unary_rpc_method_handler(_unary),
                    "ClientStream": grpc.stream_unary_rpc_method_handler(_client_stream),
                    "ServerStream": grpc.unary_stream_rpc_method_handler(_server_stream),
                    "BothStreams": grpc.stream_stream_rpc_method_handler(_both_streams),
                },
            ),
        )
    )


async def _requests() -> AsyncIterator[bytes]:
    yield b"ping"


async def unary(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> bytes:
    method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{ECHO}/Unary")
    return await method(b"ping", metadata=metadata)


async def client_stream(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> bytes:
    method: grpc.aio.StreamUnaryMultiCallable[bytes, bytes] = channel.stream_unary(
        f"/{ECHO}/ClientStream"
    )
    return await method(_requests(), metadata=metadata)


async def server_stream(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> bytes:
    method: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
        f"/{ECHO}/ServerStream"
    )
    return b"".join([item async for item in method(b"ping", metadata=metadata)])


async def both_streams(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> bytes:
    method: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(
        f"/{ECHO}/BothStreams"
    )
    return b"".join([item async for item in method(_requests(), metadata=metadata)])


CALLS: list[Call] = [unary, client_stream, server_stream, both_streams]


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = GrpcServer("127.0.0.1", 0, [_register_echo], [ECHO], api_keys=KEYS)
    await server.start()
    await server.set_serving(True)
    try:
        async with grpc.aio.insecure_channel(server.address) as opened:
            yield opened
    finally:
        await server.stop(0)


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.__name__)
async def test_a_call_without_a_key_is_refused_with_what_to_send(
    channel: grpc.aio.Channel, call: Call
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(channel, ())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "authorization: Bearer <key>" in (caught.value.details() or "")
    assert error_reason(caught.value) == "API_KEY_MISSING"


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.__name__)
async def test_a_wrong_key_is_refused(channel: grpc.aio.Channel, call: Call) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(channel, bearer("guess"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "not one this service accepts" in (caught.value.details() or "")
    assert error_reason(caught.value) == "API_KEY_INVALID"


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.__name__)
async def test_each_accepted_key_opens_every_kind_of_call(
    channel: grpc.aio.Channel, call: Call
) -> None:
    for key in KEYS:
        assert await call(channel, bearer(key)) == b"ping"


async def test_a_token_of_another_scheme_is_refused(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await unary(channel, (("authorization", "Basic b2xkLWtleQ=="),))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(caught.value) == "API_KEY_MALFORMED"


async def test_health_and_reflection_need_no_key(channel: grpc.aio.Channel) -> None:
    health = health_stub(channel)
    for name in ["", ECHO]:
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    listed: set[str] = set()
    async for response in reflection_stub(channel).ServerReflectionInfo(iter([request])):
        listed |= {s.name for s in response.list_services_response.service}
    assert {ECHO, "grpc.health.v1.Health"} <= listed


async def test_without_keys_nothing_is_asked_for() -> None:
    server = GrpcServer("127.0.0.1", 0, [_register_echo], [ECHO])
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as opened:
            assert await unary(opened, ()) == b"ping"
    finally:
        await server.stop(0)


async def test_health_follows_the_service_and_its_dependencies() -> None:
    server = GrpcServer("127.0.0.1", 0, [_register_echo], [ECHO])
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as opened:
            health = health_stub(opened)

            async def status() -> int:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=ECHO))
                return int(reply.status)

            serving, not_serving = (
                health_pb2.HealthCheckResponse.SERVING,
                health_pb2.HealthCheckResponse.NOT_SERVING,
            )
            assert await status() == not_serving  # not started yet
            await server.set_serving(True)
            assert await status() == serving
            await server.set_dependency_ready("nats", False)
            assert await status() == not_serving
            await server.set_serving(True)  # the service's own state does not hide the loss
            assert await status() == not_serving
            await server.set_dependency_ready("nats", True)
            assert await status() == serving
            await server.set_serving(False)
            assert await status() == not_serving
    finally:
        await server.stop(0)
