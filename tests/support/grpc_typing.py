"""Typed handles on gRPC over grpc.aio channels, where the published type stubs fall short.

The generated automations.v1 stubs need nothing from here: built over a grpc.aio channel, their
`__new__` overload gives the `*AsyncStub` class of the generated .pyi, so annotate with that
(for example `block_service_pb2_grpc.BlockServiceAsyncStub`; it exists for type checking only,
so use it in annotations, which `from __future__ import annotations` leaves unevaluated).

The grpc_health and grpc_reflection stubs of types-grpcio declare no methods (or take sync
channels only), and grpc_status's `from_call` is typed for a sync `grpc.Call`, which
`AioRpcError` is not in the stubs although it has the same methods. These helpers cast once, here.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status


class AsyncHealthStub(Protocol):
    Check: grpc.aio.UnaryUnaryMultiCallable[
        health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
    ]
    Watch: grpc.aio.UnaryStreamMultiCallable[
        health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
    ]


class AsyncReflectionStub(Protocol):
    ServerReflectionInfo: grpc.aio.StreamStreamMultiCallable[
        reflection_pb2.ServerReflectionRequest, reflection_pb2.ServerReflectionResponse
    ]


def health_stub(channel: grpc.aio.Channel) -> AsyncHealthStub:
    """grpc.health.v1.Health over an aio channel."""
    return cast(AsyncHealthStub, health_pb2_grpc.HealthStub(channel))


def reflection_stub(channel: grpc.aio.Channel) -> AsyncReflectionStub:
    """grpc.reflection.v1alpha.ServerReflection over an aio channel."""
    stub_class: Any = reflection_pb2_grpc.ServerReflectionStub  # typed for grpc.Channel only
    return cast(AsyncReflectionStub, stub_class(channel))


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The google.rpc.Status packed into the error's trailers, if any."""
    status: status_pb2.Status | None = rpc_status.from_call(cast(grpc.Call, error))
    return status


def error_reason(error: grpc.aio.AioRpcError) -> str | None:
    """The `google.rpc.ErrorInfo` reason among the error's details, if any."""
    status = rich_status(error)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return None
