"""Generated from proto/automations/v1 by `make gen`. Do not edit."""
