"""Sandboxed Jinja for user templates: Prefect's limits plus caps on size and time.

Used wherever users write templates (action payloads, notifications, incoming webhooks)
so the same rules hold everywhere: ImmutableSandboxedEnvironment, unknown names render
empty, at most 10 `for` loops nested at most 2 deep, `range()` up to 100 items, and
`*` / `**` refused when the result would be huge. Rendering stops when the output
passes `max_output_chars` or takes longer than `max_seconds`.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


@dataclass(frozen=True)
class TemplateLimits:
    max_loops: int = 10
    max_nesting: int = 2
    max_range: int = 100
    max_source_chars: int = 100_000
    max_output_chars: int = 1_000_000
    max_seconds: float = 2.0


DEFAULT_LIMITS = TemplateLimits()


class TemplateProblem(Exception):
    """A template that cannot be used: where (1-based line, 0 if unknown) and why."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line


def is_template(source: str) -> bool:
    """Whether `source` has any Jinja syntax at all (plain text is used as it is)."""
    return "{{" in source or "{%" in source


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, limits: TemplateLimits) -> None:
        super().__init__(undefined=ChainableUndefined, autoescape=False)
        self.limits = limits
        self.globals["range"] = self._bounded_range

    def _bounded_range(self, *args: int) -> range:
        result = range(*args)
        if len(result) > self.limits.max_range:
            raise SecurityError(f"range() is limited to {self.limits.max_range} items")
        return result

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _power_too_large(left, right):
            raise SecurityError("the result of ** would be too large")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(count, int)
                    and len(sequence) * count > self.limits.max_output_chars
                ):
                    raise SecurityError("the result of * would be too large")
        return super().call_binop(context, operator, left, right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _power_too_large(base: Any, exponent: Any) -> bool:
    """Whether base ** exponent would have more than about 100 digits."""
    if not (_is_number(base) and _is_number(exponent)):
        return False
    return bool(abs(exponent) > 1 and abs(base) > 1 and abs(exponent) * math.log10(abs(base)) > 100)


def _check_loops(tree: nodes.Template, limits: TemplateLimits) -> None:
    loops = list(tree.find_all(nodes.For))
    if len(loops) > limits.max_loops:
        raise TemplateProblem(
            f"contains {len(loops)} for loops; at most {limits.max_loops} are allowed",
            loops[limits.max_loops].lineno,
        )

    def depth(node: nodes.Node, level: int) -> None:
        for child in node.iter_child_nodes():
            inner = level + 1 if isinstance(child, nodes.For) else level
            if inner > limits.max_nesting:
                raise TemplateProblem(
                    f"for loops are nested {inner} deep; at most {limits.max_nesting} is allowed",
                    child.lineno,
                )
            depth(child, inner)

    depth(tree, 0)


class Templates:
    """A sandboxed environment with its limits, extra filters and a cache of compiled templates.

    Compiling costs far more than rendering, and automations render the same few templates
    over and over, so compiled templates are kept (at most `cache_size`, oldest dropped).
    """

    def __init__(
        self,
        limits: TemplateLimits = DEFAULT_LIMITS,
        filters: Mapping[str, Callable[..., Any]] | None = None,
        cache_size: int = 1024,
    ) -> None:
        self.limits = limits
        self._env = _Environment(limits)
        self._env.filters.update(filters or {})
        self._cache_size = cache_size
        self._compiled: OrderedDict[str, tuple[Template, frozenset[str]]] = OrderedDict()

    def _parse(self, source: str) -> nodes.Template:
        if len(source) > self.limits.max_source_chars:
            raise TemplateProblem(f"is longer than {self.limits.max_source_chars} characters")
        try:
            tree = self._env.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(exc.message or "syntax error", exc.lineno) from None
        _check_loops(tree, self.limits)
        return tree

    def _compile(self, source: str) -> tuple[Template, frozenset[str]]:
        cached = self._compiled.get(source)
        if cached is not None:
            self._compiled.move_to_end(source)
            return cached
        tree = self._parse(source)
        try:
            template = self._env.from_string(tree)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(exc.message or "syntax error", exc.lineno) from None
        compiled = (template, frozenset(meta.find_undeclared_variables(tree)))
        self._compiled[source] = compiled
        if len(self._compiled) > self._cache_size:
            self._compiled.popitem(last=False)
        return compiled

    def validate(self, source: str) -> None:
        """Raise TemplateProblem if `source` would be refused at render time for its shape."""
        if is_template(source):
            self._compile(source)

    def referenced_names(self, source: str) -> set[str]:
        """Top-level names a template uses, so callers fetch only what it needs."""
        if not is_template(source):
            return set()
        return set(self._compile(source)[1])

    def render(self, source: str, context: Mapping[str, Any]) -> str:
        """Render `source` with `context`, or raise TemplateProblem saying why not."""
        if not is_template(source):
            return source
        template, _ = self._compile(source)
        limits = self.limits
        started = time.monotonic()
        size = 0
        chunks: list[str] = []
        try:
            for chunk in template.generate(dict(context)):
                size += len(chunk)
                if size > limits.max_output_chars:
                    raise TemplateProblem(
                        f"output is longer than {limits.max_output_chars} characters"
                    )
                if time.monotonic() - started > limits.max_seconds:
                    raise TemplateProblem(f"rendering took longer than {limits.max_seconds} s")
                chunks.append(chunk)
        except TemplateProblem:
            raise
        except SecurityError as exc:
            raise TemplateProblem(f"not allowed: {exc}") from None
        except JinjaTemplateError as exc:
            line = getattr(exc, "lineno", 0) or 0
            raise TemplateProblem(str(exc) or type(exc).__name__, line) from None
        except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
            raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None
        return "".join(chunks)


_defaults: dict[TemplateLimits, Templates] = {}


def _templates(limits: TemplateLimits) -> Templates:
    # One shared environment per limits value: it only caches compiled templates.
    templates = _defaults.get(limits)
    if templates is None:
        templates = _defaults[limits] = Templates(limits)
    return templates


def validate_template(source: str, limits: TemplateLimits = DEFAULT_LIMITS) -> None:
    """Raise TemplateProblem if `source` would be refused at render time for its shape."""
    _templates(limits).validate(source)


def referenced_names(source: str, limits: TemplateLimits = DEFAULT_LIMITS) -> set[str]:
    """Top-level names a template uses, so callers fetch only what it needs."""
    return _templates(limits).referenced_names(source)


def render_template(
    source: str, context: Mapping[str, Any], limits: TemplateLimits = DEFAULT_LIMITS
) -> str:
    """Render `source` with `context`, or raise TemplateProblem saying why not."""
    return _templates(limits).render(source, context)
