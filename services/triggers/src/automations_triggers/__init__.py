"""The triggers service: AutomationService and the evaluation of triggers over EVENTS."""
