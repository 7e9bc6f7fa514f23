"""docker-compose.yml is for users (no engine runs here): check it names what the code expects."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PORTS = {"ingest": 7471, "triggers": 7472, "actions": 7473}


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose


def test_compose_has_the_services_and_their_dependencies() -> None:
    services = _compose()["services"]
    assert {"nats", "postgres", "ingest", "triggers", "actions"} <= set(services)
    for name in DEFAULT_PORTS:
        assert services[name]["command"] == [f"automations_{name}"]


def test_compose_settings_exist_in_the_services() -> None:
    services = _compose()["services"]
    for name, port in DEFAULT_PORTS.items():
        module = importlib.import_module(f"automations_{name}.settings")
        settings_class = getattr(module, f"{name.capitalize()}Settings")
        fields = settings_class.model_fields
        environment = services[name]["environment"]
        prefix = f"{name.upper()}_"
        for key in environment:
            assert key.startswith(prefix), f"{name}: {key} does not carry the {prefix} prefix"
            top = key[len(prefix) :].split("__")[0].lower()
            assert top in fields, f"{name}: {key} is not a setting of {settings_class.__name__}"
        assert environment[f"{prefix}GRPC__PORT"] == str(port)
        assert f"{port}:{port}" in services[name]["ports"]
        assert settings_class().grpc.port == port
