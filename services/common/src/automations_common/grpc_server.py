"""gRPC server bootstrap: health, reflection, API keys, and the one place errors become
statuses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from automations_common.api_keys import ApiKeyInterceptor, ApiKeys
from automations_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServiceError,
    Unavailable,
)

log = logging.getLogger(__name__)

ERROR_DOMAIN = "automations"

_CODES: list[tuple[type[ServiceError], grpc.StatusCode]] = [
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
]


def status_for(error: ServiceError) -> grpc.Status:
    """The gRPC status (with google.rpc details) that tells the caller what went wrong."""
    code = next((c for kind, c in _CODES if isinstance(error, kind)), grpc.StatusCode.UNKNOWN)
    details = [_pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))]
    if isinstance(error, InvalidArgument) and error.violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    status = status_pb2.Status(code=code.value[0], message=error.message, details=details)
    return rpc_status.to_status(status)


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> None:
    if isinstance(exc, ServiceError):
        status = status_for(exc)
    else:
        log.exception("unexpected error in %s", _method_name(context))
        status = rpc_status.to_status(
            status_pb2.Status(code=code_pb2.INTERNAL, message="internal error; see the service log")
        )
    await context.abort(status.code, status.details, status.trailing_metadata)


def _method_name(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    try:
        return str(context._rpc_event.call_details.method.decode())  # type: ignore[attr-defined]
    except Exception:
        return "a call"


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Turns ServiceError into its status code and anything else into a logged INTERNAL."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _wrap_unary(behavior: Any) -> Any:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc)

    return wrapped


def _wrap_stream(behavior: Any) -> Any:
    async def wrapped(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        try:
            async for item in behavior(request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc)

    return wrapped


Registrar = Callable[[grpc.aio.Server], None]


class GrpcServer:
    """An aio server with health checking, reflection, error mapping and, when `api_keys`
    are given, a refusal of calls that do not carry one (health and reflection excepted).

    Health starts NOT_SERVING. It reports SERVING while the service says it is ready
    (`set_serving(True)` once NATS and the database are, `set_serving(False)` first thing on
    shutdown) and no dependency is reported down (`set_dependency_ready`, e.g. from the
    NATS connection's callbacks), so an orchestrator routes no calls to a cut-off replica.
    """

    def __init__(
        self,
        host: str,
        port: int,
        registrars: Sequence[Registrar],
        service_names: Sequence[str],
        max_message_bytes: int = 64 * 1024 * 1024,
        api_keys: Sequence[str] = (),
    ) -> None:
        interceptors: list[grpc.aio.ServerInterceptor] = []
        if api_keys:
            # Outermost: a refused call never reaches the error mapping or the servicer.
            interceptors.append(ApiKeyInterceptor(ApiKeys(api_keys), ERROR_DOMAIN))
        interceptors.append(ErrorInterceptor())
        self._server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        for register in registrars:
            register(self._server)
        self._health = health.aio.HealthServicer()
        self._ready = False
        self._down: set[str] = set()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self._service_names = list(service_names)
        reflection.enable_server_reflection(
            [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )
        address = f"{host}:{port}"
        try:
            self.port = self._server.add_insecure_port(address)
        except RuntimeError as exc:
            raise Unavailable(f"cannot listen on {address}: port taken? ({exc})") from exc
        self.address = f"{host}:{self.port}"

    async def start(self) -> None:
        await self._server.start()
        await self.set_serving(False)

    async def set_serving(self, serving: bool) -> None:
        """Whether the service itself is ready (started and not shutting down)."""
        self._ready = serving
        await self._publish_health()

    async def set_dependency_ready(self, dependency: str, ready: bool) -> None:
        """Whether `dependency` (e.g. "nats") is reachable; health is NOT_SERVING while not."""
        if ready:
            self._down.discard(dependency)
        else:
            self._down.add(dependency)
        await self._publish_health()

    async def _publish_health(self) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if self._ready and not self._down
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self._service_names]:
            await self._health.set(name, status)

    async def stop(self, grace_seconds: float) -> None:
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace_seconds)
