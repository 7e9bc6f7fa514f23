"""The client's errors, and the one function that turns a gRPC error into one of them.

AutomationsError                 base of everything the client raises on purpose
├── InvalidArgumentError         INVALID_ARGUMENT, OUT_OF_RANGE; `.field_violations`
│   └── EventRejectedError       an emitted event was refused; `.rejected`
├── NotFoundError                NOT_FOUND
├── AlreadyExistsError           ALREADY_EXISTS, ABORTED
├── FailedPreconditionError      FAILED_PRECONDITION
├── PermissionDeniedError        PERMISSION_DENIED, UNAUTHENTICATED
├── UnavailableError             UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED: retry
└── ServerError                  INTERNAL, UNKNOWN, anything else: a bug on the server
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import grpc
from google.rpc import (  # type: ignore[import-untyped,unused-ignore]
    error_details_pb2,
    status_pb2,
)
from grpc_status import rpc_status

if TYPE_CHECKING:
    from automations._events import RejectedEvent


@dataclass(frozen=True)
class FieldViolation:
    """One problem with one field of a request, as the server described it."""

    field: str
    description: str


class AutomationsError(Exception):
    """Base of the client's errors. `code` is the gRPC status code when there was a call."""

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        field_violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.field_violations = list(field_violations)


class InvalidArgumentError(AutomationsError):
    """The server refused the input; `field_violations` name the fields."""


class EventRejectedError(InvalidArgumentError):
    """The events service refused one or more emitted events."""

    def __init__(self, message: str, rejected: Sequence[RejectedEvent]) -> None:
        super().__init__(
            message,
            code=grpc.StatusCode.INVALID_ARGUMENT,
            reason="EVENT_REJECTED",
            field_violations=[FieldViolation(r.field, r.reason) for r in rejected],
        )
        self.rejected = list(rejected)


class NotFoundError(AutomationsError):
    """No such automation, block, action run or event."""


class AlreadyExistsError(AutomationsError):
    """The name is taken."""


class FailedPreconditionError(AutomationsError):
    """The request is valid but cannot be carried out in the current state."""


class PermissionDeniedError(AutomationsError):
    """A missing or wrong API key."""


class UnavailableError(AutomationsError):
    """The service could not be reached or timed out; trying again may work."""


class ServerError(AutomationsError):
    """The server failed unexpectedly."""


_BY_CODE: dict[grpc.StatusCode, type[AutomationsError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.ABORTED: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: PermissionDeniedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: UnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: UnavailableError,
}


def from_rpc_error(error: grpc.RpcError) -> AutomationsError:
    """The client error for a failed call (sync or aio), with the server's details."""
    code = _call_value(error, "code")
    message = _call_value(error, "details")
    status_code = code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
    text = message if isinstance(message, str) and message else status_code.name
    reason = ""
    violations: list[FieldViolation] = []
    status = _rich_status(error)
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                )
    kind = _BY_CODE.get(status_code, ServerError)
    return kind(text, code=status_code, reason=reason, field_violations=violations)


def _call_value(error: grpc.RpcError, name: str) -> object:
    method = getattr(error, name, None)
    return method() if callable(method) else None


def _rich_status(error: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status the server packed into the trailers, if any."""
    try:
        return rpc_status.from_call(cast(grpc.Call, error))
    except (ValueError, TypeError, AttributeError):
        # A status whose code or message disagrees with the call's is not to be trusted.
        return None
