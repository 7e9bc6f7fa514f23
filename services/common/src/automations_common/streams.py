"""Names and shapes of the JetStream streams and subjects the services talk through.

Event names and resource ids contain dots, so they never go into a subject: subjects
carry only the workspace, and everything else is in the Protobuf payload.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class Streams:
    """Stream and subject names under a namespace (empty in production)."""

    namespace: str = ""
    replicas: int = 1

    def _stream(self, name: str) -> str:
        return f"{self.namespace.upper()}_{name}" if self.namespace else name

    def _subject(self, name: str) -> str:
        return f"{self.namespace.lower()}.{name}" if self.namespace else name

    @property
    def events_stream(self) -> str:
        return self._stream("EVENTS")

    @property
    def actions_stream(self) -> str:
        return self._stream("ACTIONS")

    def events_subject(self, workspace: str = "default") -> str:
        return self._subject(f"events.{workspace}")

    def events_subject_all(self) -> str:
        """Every workspace's events, for consumers that serve them all."""
        return self._subject("events.>")

    def actions_subject(self, workspace: str = "default") -> str:
        return self._subject(f"actions.{workspace}")

    def automation_changes_subject(self, workspace: str = "default") -> str:
        """Core NATS (not a stream): a hint to reload; the periodic reconcile is the backstop."""
        return self._subject(f"automations.changes.{workspace}")

    def stream_configs(self) -> list[StreamConfig]:
        return [
            StreamConfig(
                name=self.events_stream,
                subjects=[self.events_subject_all()],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                max_age=7 * DAY_SECONDS,
                duplicate_window=20 * 60.0,
                num_replicas=self.replicas,
                description="Every accepted event (automations.v1.Event)",
            ),
            StreamConfig(
                name=self.actions_stream,
                subjects=[self._subject("actions.>")],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                max_age=7 * DAY_SECONDS,
                duplicate_window=20 * 60.0,
                num_replicas=self.replicas,
                description="Actions to carry out (automations.v1.TriggeredAction)",
            ),
        ]
