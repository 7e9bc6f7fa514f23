"""gRPC failures become the client's own errors, with the server's google.rpc details."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from automations import (
    AlreadyExistsError,
    AutomationsError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    UnavailableError,
)
from automations._errors import from_rpc_error


def _error(code: grpc.StatusCode, message: str, *details: object) -> grpc.aio.AioRpcError:
    trailing: list[tuple[str, str | bytes]] = []
    if details:
        packed = []
        for detail in details:
            item = any_pb2.Any()
            item.Pack(detail)  # type: ignore[arg-type]
            packed.append(item)
        status = status_pb2.Status(code=code.value[0], message=message, details=packed)
        trailing.append(("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details=message
    )


def test_invalid_argument_carries_reason_and_field_violations() -> None:
    error = from_rpc_error(
        _error(
            grpc.StatusCode.INVALID_ARGUMENT,
            "trigger.within: must be at least 10 s",
            error_details_pb2.ErrorInfo(reason="INVALID_ARGUMENT", domain="automations"),
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field="trigger.within", description="must be at least 10 s"
                    )
                ]
            ),
        )
    )
    assert isinstance(error, InvalidArgumentError)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "INVALID_ARGUMENT"
    assert error.field_violations == [FieldViolation("trigger.within", "must be at least 10 s")]
    assert str(error) == "trigger.within: must be at least 10 s"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.NOT_FOUND, NotFoundError),
        (grpc.StatusCode.ALREADY_EXISTS, AlreadyExistsError),
        (grpc.StatusCode.UNAVAILABLE, UnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, UnavailableError),
        (grpc.StatusCode.UNAUTHENTICATED, PermissionDeniedError),
        (grpc.StatusCode.INTERNAL, ServerError),
        (grpc.StatusCode.UNKNOWN, ServerError),
    ],
)
def test_each_status_code_has_its_error(code: grpc.StatusCode, kind: type) -> None:
    error = from_rpc_error(_error(code, "what happened"))
    assert type(error) is kind
    assert isinstance(error, AutomationsError)
    assert error.message == "what happened"
    assert error.reason == ""
    assert error.field_violations == []


def test_a_status_that_disagrees_with_the_call_is_ignored() -> None:
    error = _error(grpc.StatusCode.NOT_FOUND, "x", error_details_pb2.ErrorInfo(reason="R"))
    lying = grpc.aio.AioRpcError(
        grpc.StatusCode.NOT_FOUND,
        grpc.aio.Metadata(),
        error.trailing_metadata(),
        details="something else",
    )
    mapped = from_rpc_error(lying)
    assert isinstance(mapped, NotFoundError)
    assert mapped.reason == ""
    assert from_rpc_error(error).reason == "R"
