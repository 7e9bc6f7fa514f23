"""Every server answers health checks and reflection, so grpcurl and other tools work."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from automations_common.devstack import Stack
from tests.support.grpc_typing import reflection_stub

EXPECTED = {
    "ingest": {"automations.v1.EventsService", "automations.v1.WebhookService"},
    "triggers": {"automations.v1.AutomationService"},
    "actions": {"automations.v1.ActionService", "automations.v1.BlockService"},
}


async def test_health_and_reflection_on_every_service(stack: Stack) -> None:
    for service, names in EXPECTED.items():
        async with grpc.aio.insecure_channel(stack.address(service)) as channel:
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            for name in ["", *names]:
                reply = await check(health_pb2.HealthCheckRequest(service=name))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING, (service, name)

            stub = reflection_stub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            listed: set[str] = set()
            async for response in stub.ServerReflectionInfo(iter([request])):
                listed |= {s.name for s in response.list_services_response.service}
            assert names <= listed, (service, listed)
            assert "grpc.health.v1.Health" in listed
