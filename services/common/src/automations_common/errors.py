"""Typed errors that domain code raises; the gRPC layer maps them to status codes.

ServiceError
├── InvalidArgument      bad input, with the offending fields  -> INVALID_ARGUMENT
├── NotFound             unknown id or name                     -> NOT_FOUND
├── AlreadyExists        a unique name or slug is taken         -> ALREADY_EXISTS
├── FailedPrecondition   valid input, wrong moment              -> FAILED_PRECONDITION
└── Unavailable          a dependency is down; retry later      -> UNAVAILABLE
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    """One problem with one field, for a person to fix."""

    field: str
    description: str


class ServiceError(Exception):
    """Base of the errors a service reports to its callers."""

    reason: str = "ERROR"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidArgument(ServiceError):
    reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        message: str,
        violations: list[FieldViolation] | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.violations = list(violations or [])

    @classmethod
    def for_field(
        cls, field_path: str, description: str, reason: str | None = None
    ) -> InvalidArgument:
        """The usual case: one field is wrong."""
        return cls(
            f"{field_path}: {description}", [FieldViolation(field_path, description)], reason=reason
        )


class NotFound(ServiceError):
    reason = "NOT_FOUND"

    def __init__(self, kind: str, key: str, *, reason: str | None = None) -> None:
        default_reason = f"{kind.upper().replace(' ', '_')}_NOT_FOUND"
        super().__init__(f"{kind} {key!r} not found", reason=reason or default_reason)
        self.kind = kind
        self.key = key


class AlreadyExists(ServiceError):
    reason = "ALREADY_EXISTS"


class FailedPrecondition(ServiceError):
    reason = "FAILED_PRECONDITION"


class Unavailable(ServiceError):
    reason = "UNAVAILABLE"


@dataclass
class ViolationCollector:
    """Gathers every problem with an input before failing, so a person sees them all at once."""

    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str) -> None:
        self.violations.append(FieldViolation(field_path, description))

    def raise_if_any(self, what: str = "invalid input") -> None:
        if not self.violations:
            return
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        raise InvalidArgument(f"{what}: {summary}", self.violations)
