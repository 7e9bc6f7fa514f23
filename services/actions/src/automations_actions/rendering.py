"""Renders an invocation's templates: one shared Templates (compiled cache, `ui_url` filter)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from automations_actions.kinds.base import ActionInvocation, ObjectLoader
from automations_actions.templating_context import names_in, template_context, template_filters
from automations_common.templating import DEFAULT_LIMITS, TemplateLimits, Templates, is_template


class ContextRenderer:
    """TemplateRenderer over templating_context: one context per call, objects on demand.

    Build one per service: its Templates keeps the compiled templates, so the same few
    payloads are compiled once, not per action.
    """

    def __init__(
        self,
        loader: ObjectLoader | None,
        ui_base_url: str = "",
        limits: TemplateLimits = DEFAULT_LIMITS,
    ) -> None:
        self.loader = loader
        self.templates = Templates(limits, filters=template_filters(ui_base_url))

    async def context(self, invocation: ActionInvocation, sources: Sequence[str]) -> dict[str, Any]:
        """The context `sources` need (objects they name are loaded); TemplateProblem if bad."""
        return await template_context(invocation, names_in(sources, self.templates), self.loader)

    async def render_many(self, invocation: ActionInvocation, sources: Sequence[str]) -> list[str]:
        if not any(is_template(source) for source in sources):
            return list(sources)  # plain text: no context to build
        context = await self.context(invocation, sources)
        return [self.templates.render(source, context) for source in sources]
