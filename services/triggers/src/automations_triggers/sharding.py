"""Which evaluator replica owns an automation (DESIGN.md §7): hash(id) mod shard count."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

CONSUMER_NAME = "triggers"


@dataclass(frozen=True, slots=True)
class Shard:
    """This replica's shard; the default (0 of 1) owns every automation."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} is not in 0..{self.count - 1}")

    def owns(self, automation_id: str) -> bool:
        # crc32, not hash(): the same in every process and every run.
        return self.count == 1 or zlib.crc32(automation_id.encode()) % self.count == self.index

    @property
    def consumer_name(self) -> str:
        """The durable consumer on EVENTS: `triggers`, or `triggers-<i>-of-<n>` per shard."""
        if self.count == 1:
            return CONSUMER_NAME
        return f"{CONSUMER_NAME}-{self.index}-of-{self.count}"

    def state_scope(self, workspace: str) -> str:
        """The key a shard's engine state and outbox rows are stored under, so shards
        sharing a database never read or delete each other's rows."""
        return workspace if self.count == 1 else f"{workspace}#{self.consumer_name}"
