"""Rendering the Django-template syntax inside workflow step inputs.

    "Body": "Hi {{ trigger.ProfileName|default:'there' }}, order {{ steps.lookup.order_id }} shipped"

A dedicated `Engine` with no loaders and only the vocabulary of `template_library` (no
include/extends/load...), autoescaping off. Unlike stock Django, **an undefined variable is an
error** (TEMPLATE_ERROR naming step, field and variable): a blank `To` must never reach Twilio.
`|default` / `|default_if_none` rescue an undefined variable; conditions (`{% if %}`,
`{% firstof %}`, the sequence of a `{% for %}`) stay lenient, as in Django.

Lookups are restricted to data: on a dict only keys (plus `.items`, `.keys`, `.values`), on a
list only indexes, so `{{ steps.clear }}` cannot call `dict.clear()`. `_private` names are
rejected by Django at compile time.

A string that is exactly one `{{ expression }}` renders to the expression's native value (a list
of recipients stays a list); any other string renders to text.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import re
import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.base import FilterExpression, Variable, VariableDoesNotExist, VariableNode
from django.utils import timezone

from twilioflow.core.errors import TwilioFlowError
from workflows import template_library
from workflows.template_library import (
    DEFAULTING_FILTERS,
    TemplateValueError,
    UndefinedVariableError,
)

TEMPLATE_ERROR = "TEMPLATE_ERROR"

__all__ = ["TEMPLATE_ERROR", "build_context", "check_syntax", "has_template", "render_value"]

_MARKERS = ("{{", "{%", "{#")
# One `{{ … }}` and nothing else but whitespace; Django never lets a tag span lines.
_SINGLE_EXPRESSION = re.compile(r"\s*\{\{((?:(?!\{\{|\}\}|\{%|%\}|\{#|#\}).)*)\}\}\s*")
_READ_ONLY_MAPPING_METHODS = frozenset({"items", "keys", "values"})


# --- the engine -----------------------------------------------------------------------------
class _WorkflowEngine(Engine):
    default_builtins: list[str] = []  # Engine otherwise always adds Django's default libraries


ENGINE = _WorkflowEngine(
    dirs=[],
    loaders=[],
    libraries={},
    builtins=["workflows.template_library"],
    autoescape=False,
    debug=False,
)


class StrictVariable(Variable):
    """Resolves data only: dict keys, list indexes, and attributes of other objects."""

    __slots__ = ()

    def _resolve_lookup(self, context: Any) -> Any:
        current = context
        assert self.lookups is not None  # Variable.resolve calls this only for lookups
        for bit in self.lookups:
            try:
                current = _lookup(current, bit)
            except (KeyError, IndexError, ValueError, TypeError, AttributeError):
                raise VariableDoesNotExist(
                    "Failed lookup for key [%s] in %r",
                    (bit, _describe(current)),  # type: ignore[arg-type]  # stubs: a 1-tuple
                ) from None
        return current


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _lookup(current: Any, bit: str) -> Any:
    if isinstance(current, Context):
        return current[bit]
    if isinstance(current, Mapping):
        if bit in current:
            return current[bit]
        if bit in _READ_ONLY_MAPPING_METHODS:
            return list(getattr(current, bit)())
        raise KeyError(bit)
    if isinstance(current, list | tuple | str):
        if not bit.lstrip("-").isdigit():
            raise KeyError(bit)
        return current[int(bit)]
    # Other objects (datetimes, model instances): Django's rules, minus anything that alters data.
    value = getattr(current, bit)
    if callable(value):
        if getattr(value, "do_not_call_in_templates", False):
            return value
        if getattr(value, "alters_data", False):
            raise AttributeError(bit)
        value = value()
    return value


class StrictFilterExpression(FilterExpression):
    """An undefined variable raises, unless a `default`/`default_if_none` filter follows."""

    __slots__ = ()

    def resolve(self, context: Any, ignore_failures: bool = False) -> Any:
        if ignore_failures:  # {% if %}, {% for %} sequences, {% firstof %}: lenient, as in Django
            return super().resolve(context, ignore_failures=True)
        if self.is_var:  # type: ignore[attr-defined]  # set by FilterExpression.__init__
            try:
                self.var.resolve(context)
            except VariableDoesNotExist:
                if not any(func in DEFAULTING_FILTERS for func, _ in self.filters):
                    raise UndefinedVariableError(self.var.var) from None
                ignore_failures = True  # the variable reads as None, so default_if_none works too
        try:
            return super().resolve(context, ignore_failures=ignore_failures)
        except VariableDoesNotExist:  # an undefined variable used as a filter argument
            raise UndefinedVariableError(self._undefined_argument(context)) from None

    def _undefined_argument(self, context: Any) -> str:
        for _func, args in self.filters:
            for lookup, arg in args:
                if lookup:
                    try:
                        arg.resolve(context)
                    except VariableDoesNotExist:
                        return str(arg.var)
        return str(self.token)


def _harden(obj: Any, seen: set[int]) -> None:
    """Swap every Variable/FilterExpression reachable from compiled nodes for the strict kind."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Variable):
        if type(obj) is Variable:
            obj.__class__ = StrictVariable
        return
    if isinstance(obj, FilterExpression):
        if type(obj) is FilterExpression:
            obj.__class__ = StrictFilterExpression
        children: Any = [obj.var, obj.filters]
    elif isinstance(obj, list | tuple | set | frozenset):
        children = obj
    elif isinstance(obj, dict):
        children = obj.values()
    elif type(obj).__module__.startswith("django.template"):  # nodes, if-conditions, tokens
        children = list(getattr(obj, "__dict__", {}).values())
        for klass in type(obj).__mro__:
            for slot in getattr(klass, "__slots__", ()):
                if hasattr(obj, slot):
                    children.append(getattr(obj, slot))
    else:
        return
    for child in children:
        _harden(child, seen)


@functools.lru_cache(maxsize=2048)
def _compile(source: str) -> Template:
    template = ENGINE.from_string(source)
    _harden(template.nodelist, set())
    return template


# --- errors ---------------------------------------------------------------------------------
def _where(step: str, field: str) -> str:
    parts = []
    if step:
        parts.append(f'Step "{step}"')
    if field:
        parts.append(f'field "{field}"')
    return ", ".join(parts)


def _template_error(message: str, *, step: str, field: str, variable: str = "") -> TwilioFlowError:
    where = _where(step, field)
    full = f"{where}: {message}" if where else message
    full = full[:1].upper() + full[1:]
    details: dict[str, Any] = {}
    if variable:
        details["variable"] = variable
    if step:
        details["step"] = step
    if field:
        details["field"] = field
    return TwilioFlowError(
        code=TEMPLATE_ERROR,
        message=full,
        fields={field or "__all__": [message]},
        details=details,
    )


_INVALID_TAG = re.compile(r"Invalid block tag on line (\d+): '([^']*)'")
_INVALID_FILTER = re.compile(r"Invalid filter: '([^']*)'")


def _syntax_message(exc: TemplateSyntaxError) -> str:
    text = str(exc)
    if match := _INVALID_TAG.search(text):
        return f'tag "{match[2]}" is unknown, not allowed, or out of place (line {match[1]})'
    if match := _INVALID_FILTER.search(text):
        return f'unknown filter "{match[1]}"'
    return f"syntax error: {text}"


# --- public API -----------------------------------------------------------------------------
def has_template(value: Any) -> bool:
    """Whether a string contains template syntax (other values never do)."""
    return isinstance(value, str) and any(marker in value for marker in _MARKERS)


def build_context(
    *,
    trigger: Any = None,
    steps: Any = None,
    vars: Any = None,
    item: Any = None,
    run: Any = None,
    workspace: Any = None,
    now: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The variables a step's templates can see. Missing mappings default to `{}`."""
    return {
        "trigger": {} if trigger is None else trigger,
        "steps": {} if steps is None else steps,
        "vars": {} if vars is None else vars,
        "item": item,
        "run": {} if run is None else run,
        "workspace": {} if workspace is None else workspace,
        "now": timezone.now() if now is None else now,
        **extra,
    }


def check_syntax(value: Any, *, field: str = "") -> dict[str, list[str]]:
    """{field path: [message]} for every string in `value` that does not compile; {} when fine."""
    problems: dict[str, list[str]] = {}
    for path, text in _strings(value, field):
        if not has_template(text):
            continue
        try:
            _compile(text)
        except TemplateSyntaxError as exc:
            problems.setdefault(path or "__all__", []).append(_syntax_message(exc))
    return problems


def render_value(value: Any, context: dict[str, Any], *, field: str = "", step: str = "") -> Any:
    """Render every template string inside `value` (dicts and lists recursively).

    Raises TwilioFlowError(TEMPLATE_ERROR) naming step, field path and variable.
    """
    workspace = context.get("workspace")
    token = template_library.default_country.set(_workspace_attr(workspace, "default_country"))
    try:
        with _time_zone(_workspace_attr(workspace, "time_zone")):
            ctx = Context(context, autoescape=False)
            return _render(value, ctx, field, step)
    finally:
        template_library.default_country.reset(token)


# --- internals ------------------------------------------------------------------------------
def _workspace_attr(workspace: Any, name: str) -> Any:
    if isinstance(workspace, Mapping):
        return workspace.get(name) or None
    return getattr(workspace, name, None) or None


def _time_zone(name: Any) -> Any:
    if isinstance(name, str):
        try:
            return timezone.override(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return contextlib.nullcontext()


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _strings(value: Any, path: str):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, _join(path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, _join(path, index))


def _render(value: Any, ctx: Context, path: str, step: str) -> Any:
    if isinstance(value, str):
        return _render_string(value, ctx, path, step) if has_template(value) else value
    if isinstance(value, Mapping):
        return {key: _render(item, ctx, _join(path, key), step) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_render(item, ctx, _join(path, index), step) for index, item in enumerate(value)]
    return value


def _render_string(text: str, ctx: Context, path: str, step: str) -> Any:
    single = _SINGLE_EXPRESSION.fullmatch(text)
    source = "{{" + single[1] + "}}" if single else text
    try:
        template = _compile(source)
        if single and len(template.nodelist) == 1 and isinstance(template.nodelist[0], VariableNode):
            with ctx.render_context.push_state(template), ctx.bind_template(template):
                return _native(template.nodelist[0].filter_expression.resolve(ctx))
        return str.__str__(template.render(ctx))  # a plain str, not SafeString
    except TemplateSyntaxError as exc:
        raise _template_error(_syntax_message(exc), step=step, field=path) from None
    except TemplateValueError as exc:
        raise _template_error(exc.message, step=step, field=path, variable=exc.variable) from None
    except TwilioFlowError:
        raise
    except Exception as exc:  # a filter blew up on an odd value: still the template's fault
        raise _template_error(f"could not render: {exc}", step=step, field=path) from exc


def _native(value: Any) -> Any:
    """JSON-friendly: strings lose SafeString, dates become ISO 8601, containers are copied."""
    if isinstance(value, list | dict):
        return copy.deepcopy(value)  # never hand out the trigger's own objects
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value
