"""The public API is a frozen list, and every generated RPC has a client method."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

import automations
from automations import AutomationsClient
from automations.v1 import (
    action_service_pb2_grpc,
    automation_service_pb2_grpc,
    block_service_pb2_grpc,
    events_service_pb2_grpc,
    webhook_service_pb2_grpc,
)

PUBLIC_NAMES = [
    "Action",
    "ActionAttempt",
    "ActionRun",
    "ActionTypes",
    "AlreadyExistsError",
    "AppriseNotification",
    "Automation",
    "AutomationCore",
    "AutomationsClient",
    "AutomationsError",
    "Block",
    "BlockTestResult",
    "CallWebhook",
    "CancelFlowRun",
    "ChangeFlowRunState",
    "ClientConfig",
    "CompoundTrigger",
    "CustomWebhookNotificationBlock",
    "DeleteFlowRun",
    "DeploymentCompoundTrigger",
    "DeploymentEventTrigger",
    "DeploymentMetricTrigger",
    "DeploymentSequenceTrigger",
    "DeploymentTriggerTypes",
    "DoNothing",
    "EmailServerCredentials",
    "EmitResult",
    "Event",
    "EventCount",
    "EventEmitter",
    "EventFilter",
    "EventRejectedError",
    "EventTrigger",
    "FailedPreconditionError",
    "FieldViolation",
    "IncomingWebhook",
    "InvalidArgumentError",
    "MetricTrigger",
    "MetricTriggerOperator",
    "MetricTriggerQuery",
    "MicrosoftTeamsWebhook",
    "NotFoundError",
    "PauseAutomation",
    "PauseDeployment",
    "PauseWorkPool",
    "PauseWorkQueue",
    "PermissionDeniedError",
    "Posture",
    "PrefectMetric",
    "RejectedEvent",
    "RelatedResource",
    "Resource",
    "ResourceSpecification",
    "ResumeAutomation",
    "ResumeDeployment",
    "ResumeFlowRun",
    "ResumeWorkPool",
    "ResumeWorkQueue",
    "RunDeployment",
    "SMTPType",
    "SendNotification",
    "SequenceTrigger",
    "ServerError",
    "SlackWebhook",
    "StateType",
    "SuspendFlowRun",
    "TemplateCheck",
    "TriggerTypes",
    "UnavailableError",
    "Webhook",
    "aemit_event",
    "aemit_events",
    "emit_event",
    "emit_events",
    "parse_deployment_triggers",
]

# RPCs the client deliberately does not wrap (none at present), each with its reason.
NOT_WRAPPED: set[str] = set()

SERVICES: list[tuple[str, ModuleType]] = [
    ("AutomationService", automation_service_pb2_grpc),
    ("EventsService", events_service_pb2_grpc),
    ("BlockService", block_service_pb2_grpc),
    ("ActionService", action_service_pb2_grpc),
    ("WebhookService", webhook_service_pb2_grpc),
]


def test_public_names_are_frozen() -> None:
    assert sorted(automations.__all__) == sorted(PUBLIC_NAMES)
    for name in automations.__all__:
        assert hasattr(automations, name), name


def _rpcs() -> list[str]:
    found = []
    for service, module in SERVICES:
        servicer = getattr(module, f"{service}Servicer")
        for name in vars(servicer):
            if name[0].isupper():
                found.append(f"{service}.{name}")
    return found


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize("rpc", [r for r in _rpcs() if r not in NOT_WRAPPED])
def test_every_rpc_has_a_client_method(rpc: str) -> None:
    method = _snake(rpc.split(".")[1])
    assert callable(getattr(AutomationsClient, method, None)), f"{rpc} needs {method}()"


def test_the_not_wrapped_list_names_real_rpcs() -> None:
    assert set(_rpcs()) >= NOT_WRAPPED
