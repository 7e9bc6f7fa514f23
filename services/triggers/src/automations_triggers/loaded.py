"""The enabled automations the evaluation loop works with: document, proto, engine view."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from automations_triggers.convert import document_to_automation
from automations_triggers.documents import AutomationDocument
from automations_triggers.loading import to_engine_automation
from automations_triggers.model import Automation
from automations_triggers.publisher import LoadedAutomation


class LoadedAutomations:
    """Enabled automations by id; firings are turned into messages with what is kept here."""

    def __init__(self, owns: Callable[[str], bool] = lambda _: True) -> None:
        # Automations of other shards are treated like disabled ones: not evaluated here.
        self._owns = owns
        self._loaded: dict[str, LoadedAutomation] = {}
        self._engine: dict[str, Automation] = {}

    def __contains__(self, automation_id: str) -> bool:
        return automation_id in self._loaded

    def get(self, automation_id: str) -> LoadedAutomation | None:
        return self._loaded.get(automation_id)

    def put(self, doc: AutomationDocument) -> Automation | None:
        """Keep `doc` if it is enabled (and return the engine's view), else forget it."""
        wanted = doc.enabled and self._owns(doc.id)
        engine_automation = to_engine_automation(doc) if wanted else None
        if engine_automation is None:
            self.remove(doc.id)
            return None
        self._loaded[doc.id] = LoadedAutomation(doc, document_to_automation(doc))
        self._engine[doc.id] = engine_automation
        return engine_automation

    def remove(self, automation_id: str) -> None:
        self._loaded.pop(automation_id, None)
        self._engine.pop(automation_id, None)

    def replace_all(self, docs: Iterable[AutomationDocument]) -> list[Automation]:
        """Exactly these (enabled) automations; the engine's view of all of them.

        Only new or changed documents are converted again, so a reconcile stays cheap.
        """
        docs = list(docs)
        wanted = {doc.id for doc in docs if doc.enabled and self._owns(doc.id)}
        for automation_id in [a for a in self._loaded if a not in wanted]:
            self.remove(automation_id)
        for doc in docs:
            if doc.id not in wanted:
                continue
            current = self._loaded.get(doc.id)
            if current is None or current.document.updated != doc.updated:
                self.put(doc)
        return list(self._engine.values())

    def engine_automations(self) -> list[Automation]:
        return list(self._engine.values())
