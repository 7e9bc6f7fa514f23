"""API keys on the gRPC API: a call must carry `authorization: Bearer <key>` with a key the
service accepts; health checking and reflection stay open, so probes and tools need none."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

AUTHORIZATION = "authorization"
BEARER = "bearer "
# Probes (orchestrators, load balancers) and tools (grpcurl) call these without a key.
OPEN_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)
_HOW_TO_SEND = (
    "send the metadata `authorization: Bearer <key>` "
    "(the Python client and the CLI send AUTOMATIONS_API_KEY or --api-key)"
)


@dataclass(frozen=True)
class Refusal:
    """Why a call was refused: an UPPER_SNAKE reason and a message for a person."""

    reason: str
    message: str


MISSING = Refusal("API_KEY_MISSING", f"this service requires an API key: {_HOW_TO_SEND}")
MALFORMED = Refusal(
    "API_KEY_MALFORMED", f"the authorization metadata is not a bearer token: {_HOW_TO_SEND}"
)
WRONG = Refusal(
    "API_KEY_INVALID",
    "the API key sent in `authorization: Bearer ...` is not one this service accepts "
    "(its <SERVICE>_API_KEYS setting)",
)


class ApiKeys:
    """The accepted keys, kept only as SHA-256 digests.

    Comparing digests with `hmac.compare_digest` takes the same time whatever the key
    sent, its length included, and every accepted key is compared, so the time a refusal
    takes tells nothing about how close a guess was or which key matched.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("ApiKeys needs at least one key; with none, install no check")
        self._digests = [_digest(key) for key in keys]

    def refusal(self, authorization: str | None) -> Refusal | None:
        """None when `authorization` (the metadata's value) carries an accepted key."""
        if authorization is None:
            return MISSING
        if authorization[: len(BEARER)].lower() != BEARER:
            return MALFORMED
        token = authorization[len(BEARER) :].strip()
        if not token:
            return MISSING
        sent = _digest(token)
        accepted = False
        for digest in self._digests:
            accepted |= hmac.compare_digest(sent, digest)
        return None if accepted else WRONG


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without an accepted key with UNAUTHENTICATED; lets OPEN_SERVICES by."""

    def __init__(self, keys: ApiKeys, error_domain: str) -> None:
        self._keys = keys
        self._error_domain = error_domain

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or _is_open(handler_call_details.method):
            return handler
        refusal = self._keys.refusal(_authorization(handler_call_details.invocation_metadata))
        if refusal is None:
            return handler
        return _refusing(handler, self._status(refusal))

    def _status(self, refusal: Refusal) -> grpc.Status:
        info = any_pb2.Any()
        info.Pack(error_details_pb2.ErrorInfo(reason=refusal.reason, domain=self._error_domain))
        return rpc_status.to_status(
            status_pb2.Status(
                code=code_pb2.UNAUTHENTICATED, message=refusal.message, details=[info]
            )
        )


def _is_open(method: str) -> bool:
    service = method.lstrip("/").split("/", 1)[0]
    return service in OPEN_SERVICES


def _authorization(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or ():
        if key.lower() == AUTHORIZATION:
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return None


def _refusing(
    handler: grpc.RpcMethodHandler[Any, Any], status: grpc.Status
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same kind as `handler` that only aborts with `status`."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(status.code, status.details, status.trailing_metadata)

    async def refuse_stream(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        await context.abort(status.code, status.details, status.trailing_metadata)
        yield  # never reached; makes this an async generator, as streaming handlers are

    serialization: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(refuse, **serialization)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(refuse, **serialization)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(refuse_stream, **serialization)
    return grpc.stream_stream_rpc_method_handler(refuse_stream, **serialization)
