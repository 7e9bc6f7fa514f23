"""Infrastructure shared by the Automations services; no domain logic lives here."""
