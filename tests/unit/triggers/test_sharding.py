"""Sharding automations across evaluator replicas (DESIGN.md §7)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from automations_triggers.settings import TriggersSettings
from automations_triggers.sharding import Shard


def test_every_automation_has_exactly_one_shard():
    ids = [str(uuid.uuid4()) for _ in range(300)]
    shards = [Shard(i, 3) for i in range(3)]
    assert all(sum(s.owns(a) for s in shards) == 1 for a in ids)
    assert all(any(s.owns(a) for a in ids) for s in shards)
    assert all(Shard().owns(a) for a in ids)


def test_consumer_names_and_state_scopes():
    assert Shard().consumer_name == "triggers"
    assert Shard().state_scope("default") == "default"
    assert Shard(1, 3).consumer_name == "triggers-1-of-3"
    assert Shard(1, 3).state_scope("default") == "default#triggers-1-of-3"


def test_shard_index_must_be_below_count():
    with pytest.raises(ValueError, match="not in"):
        Shard(2, 2)
    with pytest.raises(ValidationError, match="TRIGGERS_SHARD_INDEX"):
        TriggersSettings(shard_index=2, shard_count=2)
    assert TriggersSettings(shard_index=1, shard_count=2).shard_count == 2
