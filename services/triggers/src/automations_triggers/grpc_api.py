"""AutomationService over gRPC: convert protos, delegate to Automations, convert back."""

# RPC method names are fixed by the generated servicer.
# ruff: noqa: N802

from __future__ import annotations

from typing import Any

import grpc

from automations.v1 import automation_service_pb2 as pb
from automations.v1 import automation_service_pb2_grpc as pb_grpc
from automations_triggers.automations import Automations
from automations_triggers.convert import automation_to_document, document_to_automation
from automations_triggers.documents import ListFilter
from automations_triggers.validation import check_template

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["AutomationService"].full_name

_ORDERS = {
    pb.AUTOMATION_ORDER_UNSPECIFIED: "name_asc",
    pb.AUTOMATION_ORDER_NAME_ASC: "name_asc",
    pb.AUTOMATION_ORDER_NAME_DESC: "name_desc",
    pb.AUTOMATION_ORDER_CREATED_DESC: "created_desc",
    pb.AUTOMATION_ORDER_UPDATED_DESC: "updated_desc",
}

Context = grpc.aio.ServicerContext[Any, Any]


class AutomationServicer(pb_grpc.AutomationServiceServicer):
    def __init__(self, automations: Automations) -> None:
        self._automations = automations

    async def CreateAutomation(
        self, request: pb.CreateAutomationRequest, context: Context
    ) -> pb.CreateAutomationResponse:
        doc = await self._automations.create(
            automation_to_document(request.automation),
            allow_match_all=request.allow_match_all,
            validate_only=request.validate_only,
        )
        return pb.CreateAutomationResponse(automation=document_to_automation(doc))

    async def GetAutomation(
        self, request: pb.GetAutomationRequest, context: Context
    ) -> pb.GetAutomationResponse:
        doc = await self._automations.get(request.id)
        return pb.GetAutomationResponse(automation=document_to_automation(doc))

    async def ListAutomations(
        self, request: pb.ListAutomationsRequest, context: Context
    ) -> pb.ListAutomationsResponse:
        where = ListFilter(
            names=tuple(request.names),
            tags=tuple(request.tags),
            enabled=request.enabled if request.HasField("enabled") else None,
            order=_ORDERS.get(request.order, "name_asc"),
        )
        docs, token = await self._automations.list_page(
            where, request.page_size, request.page_token
        )
        return pb.ListAutomationsResponse(
            automations=[document_to_automation(d) for d in docs], next_page_token=token
        )

    async def UpdateAutomation(
        self, request: pb.UpdateAutomationRequest, context: Context
    ) -> pb.UpdateAutomationResponse:
        doc = await self._automations.update(
            automation_to_document(request.automation),
            list(request.update_mask.paths),
            allow_match_all=request.allow_match_all,
        )
        return pb.UpdateAutomationResponse(automation=document_to_automation(doc))

    async def DeleteAutomation(
        self, request: pb.DeleteAutomationRequest, context: Context
    ) -> pb.DeleteAutomationResponse:
        await self._automations.delete(request.id)
        return pb.DeleteAutomationResponse()

    async def PauseAutomation(
        self, request: pb.PauseAutomationRequest, context: Context
    ) -> pb.PauseAutomationResponse:
        doc = await self._automations.set_enabled(request.id, False)
        return pb.PauseAutomationResponse(automation=document_to_automation(doc))

    async def ResumeAutomation(
        self, request: pb.ResumeAutomationRequest, context: Context
    ) -> pb.ResumeAutomationResponse:
        doc = await self._automations.set_enabled(request.id, True)
        return pb.ResumeAutomationResponse(automation=document_to_automation(doc))

    async def CountAutomations(
        self, request: pb.CountAutomationsRequest, context: Context
    ) -> pb.CountAutomationsResponse:
        enabled = request.enabled if request.HasField("enabled") else None
        return pb.CountAutomationsResponse(count=await self._automations.count(enabled))

    async def ListRelatedAutomations(
        self, request: pb.ListRelatedAutomationsRequest, context: Context
    ) -> pb.ListRelatedAutomationsResponse:
        docs = await self._automations.related(request.resource_id)
        return pb.ListRelatedAutomationsResponse(
            automations=[document_to_automation(d) for d in docs]
        )

    async def DeleteOwnedAutomations(
        self, request: pb.DeleteOwnedAutomationsRequest, context: Context
    ) -> pb.DeleteOwnedAutomationsResponse:
        count = await self._automations.delete_owned(request.resource_id)
        return pb.DeleteOwnedAutomationsResponse(deleted_count=count)

    async def ValidateTemplate(
        self, request: pb.ValidateTemplateRequest, context: Context
    ) -> pb.ValidateTemplateResponse:
        problem = check_template(request.template)
        if problem is None:
            return pb.ValidateTemplateResponse(valid=True)
        return pb.ValidateTemplateResponse(valid=False, line=problem.line, message=problem.message)
