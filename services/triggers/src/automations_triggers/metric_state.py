"""Flow-run state timelines and what each run contributes to a metric (reference §5.2).

Every metric is a mean over the runs that contribute within the look-back range: a run
contributes at most one `(time, value)` pair, and `time` decides whether it is in range.
- `successes`: once the run's latest state is terminal, 1.0 unless that state is FAILED or
  CRASHED, at that state's time. Retry-aware: only the latest state counts, so a run that
  failed and was retried to Completed is a success; a run being retried (latest state not
  terminal) has no verdict yet and does not count. Cancelled counts as a success (Prefect's
  "not Failed or Crashed").
- `duration`: seconds spent in RUNNING-type states (all attempts summed, as Prefect's
  `total_run_time`) before the latest terminal state, at that state's time; a run never seen
  Running does not count.
- `lateness`: seconds from a `Late` state to the first RUNNING or CRASHED state after it, at
  that state's time; only runs marked Late count, and a run still Late does not count yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from automations_triggers.model import Event, parse_time

MetricName = Literal["lateness", "duration", "successes"]

FLOW_RUN_PREFIX = "prefect.flow-run."
TERMINAL_TYPES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
FAILED_TYPES = frozenset({"FAILED", "CRASHED"})
RUNNING = "RUNNING"
CRASHED = "CRASHED"
LATE = "Late"
# A run's timeline keeps at most this many states (the latest); real runs have a handful.
MAX_STATES_PER_RUN = 64


class StateEntry(NamedTuple):
    """One state a flow run entered, from its `prefect.flow-run.<StateName>` event."""

    occurred: datetime
    type: str
    name: str
    run_count: int

    def to_data(self) -> list[Any]:
        return [self.occurred.isoformat(), self.type, self.name, self.run_count]

    @classmethod
    def from_data(cls, data: list[Any]) -> StateEntry:
        return cls(parse_time(data[0]), str(data[1]), str(data[2]), int(data[3]))


# Contributions are integers (successes: 1 or 0; durations: microseconds), so that the sums
# kept while runs enter and leave the range are exact and a restore computes the same value.
SCALE: dict[str, int] = {"successes": 1, "duration": 1_000_000, "lateness": 1_000_000}


class Contribution(NamedTuple):
    time: datetime
    amount: int  # in 1/SCALE[metric] units


def micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def flow_run_state(event: Event) -> tuple[str, StateEntry] | None:
    """The flow run id and state of a flow-run state event; None for any other event
    (heartbeats and other flow-run events carry no `prefect.state-type`)."""
    if not event.event.startswith(FLOW_RUN_PREFIX):
        return None
    run_id = event.resource.get("prefect.resource.id", "")
    state_type = event.resource.get("prefect.state-type")
    if not run_id.startswith(FLOW_RUN_PREFIX) or not state_type:
        return None
    name = event.resource.get("prefect.state-name") or event.event[len(FLOW_RUN_PREFIX) :]
    try:
        run_count = int(event.resource.get("prefect.run-count") or 0)
    except ValueError:
        run_count = 0
    return run_id, StateEntry(event.occurred, state_type.upper(), name, run_count)


@dataclass(slots=True)
class RunTimeline:
    """The states of one flow run in the order they happened (occurred, then run count)."""

    run_id: str
    states: list[StateEntry] = field(default_factory=list)

    def add(self, entry: StateEntry) -> bool:
        """Insert a state in order; False when it is already known (a replayed event)."""
        if entry in self.states:
            return False
        index = len(self.states)
        key = (entry.occurred, entry.run_count)
        # Arrival order breaks exact ties: scan back from the end (events mostly come in order).
        while (
            index > 0 and (self.states[index - 1].occurred, self.states[index - 1].run_count) > key
        ):
            index -= 1
        self.states.insert(index, entry)
        if len(self.states) > MAX_STATES_PER_RUN:
            del self.states[0]
        return True

    @property
    def latest(self) -> StateEntry:
        return self.states[-1]

    @property
    def finished(self) -> bool:
        return bool(self.states) and self.latest.type in TERMINAL_TYPES

    def contribution(self, metric: MetricName) -> Contribution | None:
        if not self.states:
            return None
        if metric == "successes":
            return self._success()
        if metric == "duration":
            return self._duration()
        return self._lateness()

    def _success(self) -> Contribution | None:
        last = self.latest
        if last.type not in TERMINAL_TYPES:
            return None
        return Contribution(last.occurred, 0 if last.type in FAILED_TYPES else 1)

    def _duration(self) -> Contribution | None:
        last = self.latest
        if last.type not in TERMINAL_TYPES:
            return None
        running = 0
        seen_running = False
        for state, following in zip(self.states, self.states[1:], strict=False):
            if state.type == RUNNING:
                seen_running = True
                running += micros(following.occurred - state.occurred)
        if not seen_running:
            return None
        return Contribution(last.occurred, running)

    def _lateness(self) -> Contribution | None:
        result: Contribution | None = None
        late_since: datetime | None = None
        for state in self.states:
            if state.name == LATE and state.type not in (RUNNING, CRASHED):
                if late_since is None:
                    late_since = state.occurred
            elif state.type in (RUNNING, CRASHED):
                if late_since is not None:
                    result = Contribution(state.occurred, micros(state.occurred - late_since))
                late_since = None
            elif state.type in TERMINAL_TYPES:
                # Cancelled (or Completed without running) while Late: never started.
                late_since = None
        return result

    def to_data(self) -> list[list[Any]]:
        return [s.to_data() for s in self.states]

    @classmethod
    def from_data(cls, run_id: str, data: list[list[Any]]) -> RunTimeline:
        return cls(run_id, [StateEntry.from_data(s) for s in data])
