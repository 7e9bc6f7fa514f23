"""Size estimates that refuse a template operation before it builds too large a result.

The sandbox checks output size only between rendered chunks, so one expression could
allocate a huge value (`"%0999999999d" % 1`, `"x".center(10**9)`) before that check sees
it. These pure helpers size the result of `*`, `+`, `~`, `%`, `str.format`, the padding,
tab, replacing, joining and translating methods of str and bytes, `int.to_bytes`,
`lipsum()`, what macros and `{% set %}` blocks collect, each value written out, and the
filters in `FILTER_SIZES` from the operands, and `refuse_if_over` raises SecurityError
when the result would be longer than the cap. Integers from `*`, `**` and `round` stay
under about 100 digits. Sizes are estimates, a little over the real length.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, ItemsView, Iterable, KeysView, Mapping, ValuesView
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.utils import Namespace

# Integers computed by `*`, `**` and `round` stay under about this many digits.
_MAX_DIGITS = 100


def refuse_if_over(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise SecurityError(f"{what} would be too large (over {limit} characters)")


def count(value: Any) -> int:
    """A width, count or length argument as a number (0 if it is not an int)."""
    return max(value, 0) if isinstance(value, int) else 0


def _number(digits: str, limit: int) -> int:
    # int() refuses more than 4300 digits; anything that long is over any limit anyway.
    return int(digits) if len(digits) <= 18 else limit + 1


def size(value: Any, limit: int) -> int:
    """About how many characters str(value) has, counted only until it passes `limit`.

    A list can hold one big string many times, so what it prints can dwarf the memory it
    takes; the walk stops as soon as the answer is known to be too big. Exact types are
    tried first because this runs on every value written out.
    """
    if isinstance(value, str | bytes):
        return len(value)
    total = 0
    pending = [value]
    while pending and total <= limit:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is bytes:
            total += len(item) + 2
        elif kind is int:
            total += abs(item).bit_length() // 3 + 2  # a third of the bits is over the digits
        elif kind is dict:
            total += 2 + 4 * len(item)
            pending += item.keys()
            pending += item.values()
        elif kind is list or kind is tuple:
            total += 2 + 2 * len(item)
            pending += item
        else:
            total += _other_size(item, pending)
    return total


def _other_size(item: Any, pending: list[Any]) -> int:
    """size() for the less common types: its own share, with any items added to `pending`."""
    if isinstance(item, str | bytes):
        return len(item) + 2
    if isinstance(item, int | float) or item is None:
        return 24
    if isinstance(item, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
        pending += item
        return 2 + 2 * len(item)
    if isinstance(item, Mapping):
        pending += item.keys()
        pending += item.values()
        return 2 + 4 * len(item)
    if isinstance(item, Namespace):
        # It prints its attributes, which the template may have filled.
        pending.append(object.__getattribute__(item, "_Namespace__attrs"))
        return 12
    # Objects from the context: their text is as big as their data, no bigger.
    return len(str(item))


def _as_text(value: Any) -> str | None:
    """Text to measure: a str as it is, bytes one character per byte, anything else None."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


def _text_of(value: Any, limit: int) -> str:
    """`value` as the text a filter works on, refused first if that text would be too large."""
    if isinstance(value, str):
        return value
    refuse_if_over(size(value, limit), limit, "the value as text")
    return str(value)


def _power_too_large(base: Any, exponent: Any) -> bool:
    """Whether base ** exponent would have more than about 100 digits."""
    if not (_is_number(base) and _is_number(exponent)):
        return False
    return bool(
        abs(exponent) > 1 and abs(base) > 1 and abs(exponent) * math.log10(abs(base)) > _MAX_DIGITS
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _product_too_large(left: int, right: int) -> bool:
    # Bit lengths overstate a product's digits by at most one.
    bits = abs(left).bit_length() + abs(right).bit_length()
    return bits * math.log10(2) > _MAX_DIGITS + 1


# After `%` and an optional `(key)`: flags, width, precision, length modifier, conversion.
_PERCENT_SPEC = re.compile(r"[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?(.?)", re.DOTALL)


def _percent_size(template: str, values: Any, limit: int) -> int:
    """About how long `template % values` is, reading each conversion as CPython does."""
    positional = iter(values if isinstance(values, tuple) else (values,))
    total = len(template)
    start = template.find("%")
    while start != -1 and total <= limit:
        position, key = start + 1, None
        if template.startswith("(", position):
            depth, position = 1, position + 1
            key_start = position
            while position < len(template) and depth:
                depth += {"(": 1, ")": -1}.get(template[position], 0)
                position += 1
            key = template[key_start : position - 1]
        spec = _PERCENT_SPEC.match(template, position)
        if spec is None:  # the pattern matches anywhere; this keeps mypy sure of it
            break
        width, precision, conversion = spec.groups()
        for amount in (width, precision):
            if amount == "*":
                star = next(positional, 0)
                total += abs(star) if isinstance(star, int) else 0
            elif amount:
                total += _number(amount, limit)
        if conversion != "%":
            value = _lookup(values, key) if key is not None else next(positional, None)
            total += size(value, limit)
        start = template.find("%", spec.end())
    return total


def _lookup(values: Any, key: str) -> Any:
    try:
        return values[key]
    except Exception:  # CPython raises its own error for this when formatting
        return None


_DIGIT_RUN = re.compile(r"\d+")


def format_spec_size(spec: str, limit: int) -> int:
    """The widths and precisions in a str.format spec, added up (a fill character is not one)."""
    if len(spec) > 1 and spec[1] in "<>=^":
        spec = spec[2:]
    return sum(_number(digits, limit) for digits in _DIGIT_RUN.findall(spec)) if spec else 0


def _replaced_size(text: str, old: str, new: str, count: Any) -> int:
    found = text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _joined_size(separator: str, items: list[Any], limit: int) -> int:
    total = len(separator) * max(len(items) - 1, 0)
    for item in items:
        if total > limit:
            break
        total += size(item, limit)
    return total


def _translated_size(text: str, table: Any) -> int:
    if isinstance(table, Mapping):
        values: Iterable[Any] = table.values()
    else:
        values = table if isinstance(table, list | tuple) else ()
    longest = max((len(value) for value in values if isinstance(value, str)), default=1)
    return len(text) * max(longest, 1)


def arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def method_size(
    owner: str | bytes, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int
) -> int:
    """About how long `owner.name(*args, **kwargs)` is; 0 for methods that cannot grow much."""
    text = owner if isinstance(owner, str) else owner.decode("latin-1")
    if name in ("center", "ljust", "rjust", "zfill"):
        return max(len(text), count(arg(args, kwargs, 0, "width")))
    if name == "expandtabs":
        tabsize = arg(args, kwargs, 0, "tabsize")
        return len(text) + text.count("\t") * (8 if tabsize is None else count(tabsize))
    if name == "replace" and len(args) >= 2:
        old, new = _as_text(args[0]), _as_text(args[1])
        if old is not None and new is not None:
            return _replaced_size(text, old, new, arg(args, kwargs, 2, "count"))
    if name == "join" and args and isinstance(args[0], list):
        return _joined_size(text, args[0], limit)
    if name == "translate" and args and isinstance(owner, str):
        return _translated_size(text, args[0])
    return 0


# What guarded filters get: their arguments by name, defaults filled in, and the cap.
_Arguments = dict[str, Any]
SizeOf = Callable[[_Arguments, int], int]


def _printed(name: str) -> SizeOf:
    """The size of a filter that prints its argument `name` (string, tojson, escape...)."""
    return lambda arguments, limit: size(arguments[name], limit)


def _center_size(arguments: _Arguments, limit: int) -> int:
    return max(len(_text_of(arguments["value"], limit)), count(arguments["width"]))


def _format_size(arguments: _Arguments, limit: int) -> int:
    values = arguments["kwargs"] or arguments["args"]
    return _percent_size(_text_of(arguments["value"], limit), values, limit)


def _indent_size(arguments: _Arguments, limit: int) -> int:
    text, width = _text_of(arguments["s"], limit), arguments["width"]
    step = len(width) if isinstance(width, str) else count(width)
    return len(text) + (text.count("\n") + 1) * step


def _join_size(arguments: _Arguments, limit: int) -> int:
    # The filter runs on the list made here, so a generator is not used up twice.
    items = arguments["value"] = list(arguments["value"])
    if arguments["attribute"] is not None:
        getter = make_attrgetter(arguments["eval_ctx"].environment, arguments["attribute"])
        items = [getter(item) for item in items]
    return _joined_size(_text_of(arguments["d"], limit), items, limit)


def _replace_size(arguments: _Arguments, limit: int) -> int:
    old, new = (_text_of(arguments[name], limit) for name in ("old", "new"))
    return _replaced_size(_text_of(arguments["s"], limit), old, new, arguments["count"])


def _wordwrap_size(arguments: _Arguments, limit: int) -> int:
    text, wrap, width = _text_of(arguments["s"], limit), arguments["wrapstring"], arguments["width"]
    wrap_length = 1 if wrap is None else len(_text_of(wrap, limit))
    # A line ends at whitespace, or every `width` characters inside a long word.
    lines = len(text) // max(count(width), 1) + sum(map(text.count, " \t\n\r\x0b\x0c")) + 1
    return len(text) + lines * wrap_length


def _urlize_size(arguments: _Arguments, limit: int) -> int:
    text = _text_of(arguments["value"], limit)
    links = sum(map(text.count, ".@:"))  # every link has one of these
    extras = (_text_of(arguments[name] or "", limit) for name in ("target", "rel"))
    return len(text) + links * (sum(map(len, extras)) + 60)


def _tojson_size(arguments: _Arguments, limit: int) -> int:
    value, indent = arguments["value"], arguments["indent"]
    step = len(indent) if isinstance(indent, str) else count(indent)
    total = size(value, limit)
    pending = [(value, 1)] if step else []
    while pending and total <= limit:  # each item on its own line, indented by its depth
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children = list(item.values())
        else:
            children = list(item) if isinstance(item, list | tuple) else []
        total += len(children) * (depth * step + 1)
        pending.extend((child, depth + 1) for child in children)
    return total


def _batch_size(arguments: _Arguments, limit: int) -> int:
    fill = arguments["fill_with"]
    return 0 if fill is None else count(arguments["linecount"]) * (size(fill, limit) + 2)


def _slice_size(arguments: _Arguments, limit: int) -> int:
    fill = arguments["fill_with"]
    return count(arguments["slices"]) * (2 + (0 if fill is None else size(fill, limit)))


def _round_size(arguments: _Arguments, limit: int) -> int:
    precision = arguments["precision"]
    if isinstance(precision, int) and abs(precision) > _MAX_DIGITS:
        raise SecurityError(f"round() precision is limited to {_MAX_DIGITS} digits")
    return 0


def lipsum_size(arguments: _Arguments, limit: int) -> int:
    # n paragraphs (with <p> tags) of fewer than `max` words: 12 letters, a comma, a space.
    most_words = max(count(arguments["min"]), count(arguments["max"]))
    return count(arguments["n"]) * (most_words * 14 + 10)


# Filters whose result can outgrow their input, or that turn a value into text (a list
# may hold one big string many times), with how to size that result from their arguments.
FILTER_SIZES: dict[str, SizeOf] = {
    "batch": _batch_size,
    "capitalize": _printed("s"),
    "center": _center_size,
    "e": _printed("s"),
    "escape": _printed("s"),
    "forceescape": _printed("value"),
    "format": _format_size,
    "indent": _indent_size,
    "join": _join_size,
    "lower": _printed("s"),
    "pprint": _printed("value"),
    "replace": _replace_size,
    "round": _round_size,
    "safe": _printed("value"),
    "slice": _slice_size,
    "string": _printed("s"),
    "striptags": _printed("value"),
    "title": _printed("s"),
    "tojson": _tojson_size,
    "trim": _printed("value"),
    "truncate": _printed("s"),
    "upper": _printed("s"),
    "urlencode": _printed("value"),
    "urlize": _urlize_size,
    "wordcount": _printed("s"),
    "wordwrap": _wordwrap_size,
    "xmlattr": _printed("d"),
}


def check_binop(operator: str, left: Any, right: Any, limit: int) -> None:
    """Refuse `left <operator> right` before it runs if its result would be too large."""
    if operator == "**" and _power_too_large(left, right):
        raise SecurityError("the result of ** would be too large")
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int) and _product_too_large(left, right):
            raise SecurityError("the result of * would be too large")
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, str | bytes | list | tuple) and isinstance(times, int):
                refuse_if_over(size(sequence, limit) * count(times), limit, "the result of *")
    elif operator == "+" and all(
        isinstance(side, str | bytes | list | tuple) for side in (left, right)
    ):
        refuse_if_over(size(left, limit) + size(right, limit), limit, "the result of +")
    elif operator == "%" and isinstance(left, str | bytes):
        text = _as_text(left) or ""
        refuse_if_over(_percent_size(text, right, limit), limit, "the result of %")


# Why a literal check gives up: the operands are not literals, or they are wrong in a way
# that rendering reports better.
UNCHECKED = (nodes.Impossible, ArithmeticError, TypeError, ValueError, LookupError, AttributeError)


def literal(node: nodes.Node) -> Any:
    """The value of a literal (a constant, or a list, tuple or dict of them); else Impossible."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.List):
        return [literal(item) for item in node.items]
    if isinstance(node, nodes.Tuple):
        return tuple(literal(item) for item in node.items)
    if isinstance(node, nodes.Dict):
        return {literal(pair.key): literal(pair.value) for pair in node.items}
    raise nodes.Impossible()
