"""Shared building blocks of the public models: base class, postures, label specs, durations."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)


class Model(BaseModel):
    """Base of every public model: Prefect's JSON in, Prefect's JSON out.

    Unknown keys are ignored (Prefect adds fields over time), and the fields named in
    `_omit_when_none` are left out of dumps while unset, so that a Prefect document that
    lacks them dumps back equal.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, validate_assignment=False)

    _omit_when_none: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_unset_optionals(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name in self._omit_when_none:
                if name in data and data[name] is None:
                    del data[name]
            if "type" in data:
                data = {"type": data.pop("type"), **data}
        return data


class Posture(StrEnum):
    """Whether a trigger reacts to events, to their absence, or to a metric."""

    Reactive = "Reactive"
    Proactive = "Proactive"
    Metric = "Metric"


def _seconds(value: timedelta) -> float:
    return value.total_seconds()


Seconds = Annotated[timedelta, PlainSerializer(_seconds, return_type=float, when_used="json")]
"""A duration: accepts seconds (int/float), a timedelta or ISO-8601; JSON gives float seconds."""


class ResourceSpecification(RootModel[dict[str, str | list[str]]]):
    """Label patterns: every label (AND) must match one of its patterns (OR).

    Patterns are globs; a leading `!` negates. A bare string is a one-pattern list.
    """

    root: dict[str, str | list[str]] = Field(default_factory=dict)

    def patterns(self) -> dict[str, list[str]]:
        """Every label with its patterns as a list."""
        return {k: [v] if isinstance(v, str) else list(v) for k, v in self.root.items()}

    def __getitem__(self, key: str) -> str | list[str]:
        return self.root[key]

    def __len__(self) -> int:
        return len(self.root)

    def items(self) -> Any:
        return self.root.items()
