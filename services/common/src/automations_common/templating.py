"""Sandboxed Jinja for user templates: Prefect's limits plus caps on size and time.

Used wherever users write templates (action payloads, notifications, incoming webhooks)
so the same rules hold everywhere: ImmutableSandboxedEnvironment, unknown names render
empty, at most 10 `for` loops nested at most 2 deep, `range()` up to 100 items.
Rendering stops when the output passes `max_output_chars` or takes longer than
`max_seconds`.

Those two checks run only between output chunks, so one expression could build a huge
value before either sees it (`"%0999999999d" % 1`, `"x".center(10**9)`). So each
operation whose result can grow far past its operands is sized first by `template_sizes`
and refused if the result would be longer than `max_output_chars`; this module hooks
those checks into Jinja's operators, calls, filters, `~`, str.format, the buffers of
macros and `{% set %}` blocks, and each value written out.
"""

from __future__ import annotations

import inspect
import string
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import update_wrapper, wraps
from types import BuiltinMethodType, MethodType
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.runtime import Context
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from jinja2.utils import generate_lorem_ipsum

from automations_common import template_sizes


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


class _CappedFormatter(SandboxedFormatter):
    """str.format for templates: counts what each field will add and stops past the cap.

    A field's width and precision count in full before Python pads anything.
    """

    def __init__(self, env: _Environment, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._limit = env.limits.max_output_chars
        self._written = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        self._written += template_sizes.format_spec_size(
            format_spec, self._limit
        ) + template_sizes.size(value, self._limit)
        template_sizes.refuse_if_over(self._written, self._limit, "the result of str.format()")
        return super().format_field(value, format_spec)


class _CappedEscapeFormatter(_CappedFormatter, SandboxedEscapeFormatter):
    """The same for Markup strings, which escape what they insert."""


class _Buffer(list[Any]):
    """Where macros, `{% set %}` blocks and `caller()` collect their output: render()'s
    chunk checks never see it, so it refuses to grow past the cap itself."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self._size = 0

    def append(self, part: Any) -> None:
        self._grow(template_sizes.size(part, self._limit))
        super().append(part)

    def extend(self, parts: Iterable[Any]) -> None:
        parts = tuple(parts)
        self._grow(sum(template_sizes.size(part, self._limit) for part in parts))
        super().extend(parts)

    def _grow(self, size: int) -> None:
        self._size += size
        template_sizes.refuse_if_over(self._size, self._limit, "the output of a block or macro")


class _CodeGenerator(CodeGenerator):
    """Jinja's compiler, except for two places where output grows out of the sandbox's sight.

    `~` compiles to a plain join, unlike `+` and `*`: visit_Concat is Jinja's, with a call
    to `_Environment.joinable` around the parts. Macros and blocks collect output in plain
    lists: buffer() is Jinja's, with a `_Buffer` instead.
    """

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"{join}(environment.joinable((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write(")))")


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _CodeGenerator

    def __init__(self, limits: TemplateLimits) -> None:
        super().__init__(
            undefined=ChainableUndefined, autoescape=False, finalize=self._checked_output
        )
        self.limits = limits
        self.globals["range"] = self._bounded_range
        self._sizes: dict[str, tuple[inspect.Signature, template_sizes.SizeOf]] = {}
        for name, size_of in template_sizes.FILTER_SIZES.items():
            function = self.filters[name]
            if getattr(function, "jinja_async_variant", False):
                # Never async here: take the plain variant, whose signature is the real one.
                function = function.__wrapped__
            self._sizes[name] = (inspect.signature(function), size_of)
            self.filters[name] = self._sized(name, f"the {name} filter", function)
        self._sizes["lipsum"] = (
            inspect.signature(generate_lorem_ipsum),
            template_sizes.lipsum_size,
        )
        self.globals["lipsum"] = self._sized("lipsum", "lipsum()", generate_lorem_ipsum)

    def _bounded_range(self, *args: int) -> range:
        result = range(*args)
        if len(result) > self.limits.max_range:
            raise SecurityError(f"range() is limited to {self.limits.max_range} items")
        return result

    def _sized(self, name: str, what: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function`, refused before it runs when its result would be too large.

        wraps() keeps Jinja's pass_eval_context / pass_environment mark on the wrapper.
        """

        @wraps(function)
        def sized(*args: Any, **kwargs: Any) -> Any:
            arguments = self._check_arguments(name, what, args, kwargs)
            return function(*arguments.args, **arguments.kwargs)

        return sized

    def _check_arguments(
        self, name: str, what: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> inspect.BoundArguments:
        signature, size_of = self._sizes[name]
        arguments = signature.bind(*args, **kwargs)
        arguments.apply_defaults()
        limit = self.limits.max_output_chars
        template_sizes.refuse_if_over(
            size_of(arguments.arguments, limit), limit, f"the result of {what}"
        )
        return arguments

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        template_sizes.check_binop(operator, left, right, self.limits.max_output_chars)
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, function: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Jinja wraps str.format when it is looked up; this catches any other way in.
        function = self.wrap_str_format(function) or function
        args = self._check_call(function, args, kwargs)
        return super().call(context, function, *args, **kwargs)

    def _check_call(
        self, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, ...]:
        """Refuse a str/bytes method or int.to_bytes call whose result would be too large."""
        owner = getattr(function, "__self__", None)
        name = getattr(function, "__name__", "")
        limit = self.limits.max_output_chars
        if isinstance(owner, str | bytes):
            if name == "join" and args:
                args = (list(args[0]), *args[1:])  # counted here, then joined
            size = template_sizes.method_size(owner, name, args, kwargs, limit)
            template_sizes.refuse_if_over(
                size, limit, f"the result of {type(owner).__name__}.{name}()"
            )
        elif isinstance(owner, int) and name == "to_bytes":
            length = template_sizes.arg(args, kwargs, 0, "length")
            template_sizes.refuse_if_over(
                template_sizes.count(length), limit, "the result of int.to_bytes()"
            )
        return args

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's sandboxed str.format and format_map, with a formatter that counts."""
        if not (
            isinstance(value, MethodType | BuiltinMethodType)
            and value.__name__ in ("format", "format_map")
            and isinstance(value.__self__, str)
        ):
            return None
        template: str = value.__self__
        escape = getattr(template, "escape", None)  # only Markup has one
        takes_map = value.__name__ == "format_map"

        def formatted(*args: Any, **kwargs: Any) -> str:
            if takes_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            formatter = (
                _CappedEscapeFormatter(self, escape=escape) if escape else _CappedFormatter(self)
            )
            return type(template)(formatter.vformat(template, args, kwargs))

        return update_wrapper(formatted, value)

    def joinable(self, parts: tuple[Any, ...]) -> tuple[Any, ...]:
        """The parts of a `~`, once their joined size is known to be under the cap."""
        limit = self.limits.max_output_chars
        total = 0
        for part in parts:
            total += template_sizes.size(part, limit)
            template_sizes.refuse_if_over(total, limit, "the result of ~")
        return parts

    def _checked_output(self, value: Any) -> Any:
        # Each value goes through str() before render() sees it; size it first.
        limit = self.limits.max_output_chars
        size = len(value) if isinstance(value, str) else template_sizes.size(value, limit)
        if size > limit:
            raise TemplateProblem(f"output is longer than {limit} characters")
        return value

    def output_buffer(self) -> _Buffer:
        return _Buffer(self.limits.max_output_chars)

    def check_literals(self, tree: nodes.Template) -> None:
        """Refuse now what rendering would refuse, where an operation's operands are literals."""
        for node in tree.find_all((nodes.BinExpr, nodes.Filter, nodes.Call)):
            try:
                self._check_literal(node)
            except SecurityError as exc:
                raise TemplateProblem(f"not allowed: {exc}", node.lineno) from None
            except template_sizes.UNCHECKED:
                continue

    def _check_literal(self, node: nodes.Node) -> None:
        limit = self.limits.max_output_chars
        if isinstance(node, nodes.BinExpr):
            template_sizes.check_binop(
                node.operator,
                template_sizes.literal(node.left),
                template_sizes.literal(node.right),
                limit,
            )
            return
        if not isinstance(node, nodes.Filter | nodes.Call) or node.dyn_args or node.dyn_kwargs:
            return
        args = tuple(template_sizes.literal(arg) for arg in node.args)
        kwargs = {
            str(keyword.key): template_sizes.literal(keyword.value) for keyword in node.kwargs
        }
        if isinstance(node, nodes.Filter):
            if node.name in template_sizes.FILTER_SIZES and node.node is not None:
                # What Jinja passes first to a filter marked pass_eval_context and the like.
                marked = getattr(self.filters[node.name], "jinja_pass_arg", None)
                passed = {"eval_context": (nodes.EvalContext(self),), "environment": (self,)}
                args = (
                    *passed.get(getattr(marked, "name", ""), ()),
                    template_sizes.literal(node.node),
                    *args,
                )
                self._check_arguments(node.name, f"the {node.name} filter", args, kwargs)
        elif isinstance(node.node, nodes.Getattr):
            owner, name = template_sizes.literal(node.node.node), node.node.attr
            if isinstance(owner, str) and name in ("format", "format_map"):
                specs = (spec or "" for _, _, spec, _ in string.Formatter().parse(owner))
                size = sum(
                    template_sizes.format_spec_size(spec, limit)
                    for spec in specs
                    if "{" not in spec
                )
                template_sizes.refuse_if_over(size, limit, "the result of str.format()")
            elif isinstance(owner, str | bytes | int):
                self._check_call(getattr(owner, name, None), args, kwargs)


# Deep nesting (in the source, or a macro calling itself) exhausts Python's stack.
_TOO_DEEP = "nests too deeply (its expressions, or macros calling themselves)"


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
            _check_loops(tree, self.limits)
            self._env.check_literals(tree)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(exc.message or "syntax error", exc.lineno) from None
        except RecursionError:
            raise TemplateProblem(_TOO_DEEP) from None
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
        except RecursionError:
            raise TemplateProblem(_TOO_DEEP) from None
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
        except RecursionError:
            raise TemplateProblem(_TOO_DEEP) from None
        except (
            ArithmeticError,
            TypeError,
            ValueError,
            LookupError,
            AttributeError,
            AssertionError,  # Jinja's truncate filter checks its arguments with assert
        ) as exc:
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
