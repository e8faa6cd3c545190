"""Declarative input fields: one declaration drives validation, the admin form, the API
schema and the docs (Activepieces' `Property.*`, in Python)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.forms.renderers import BaseRenderer
from django.utils.safestring import SafeString

from actions import validation as v

# Field types and what `clean` accepts:
#   string / text: str (text = multi-line)      integer: int or numeric str
#   boolean: bool or "true"/"false"             choice: one of `choices`
#   phone: E.164 after parsing (national numbers use the workspace's default country)
#   whatsapp: "whatsapp:+E164"                 address: phone or, when allowed, an e-mail
#   url: absolute http(s) URL                   sid: Twilio SID with one of `sid_prefixes`
#   list: list (or comma/newline separated str) of `item_type`
#   json: object (or JSON text)                 twiml: well-formed TwiML, <Response> root
#   datetime: ISO 8601 date or date-time        raw: anything, passed through
#   sender: an account number (E.164) or a Messaging Service SID (MG…)
TYPES = frozenset(
    {
        "string",
        "text",
        "integer",
        "boolean",
        "choice",
        "phone",
        "whatsapp",
        "address",
        "url",
        "sid",
        "list",
        "json",
        "twiml",
        "datetime",
        "raw",
        "sender",
    }
)


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "string"
    label: str = ""
    required: bool = False
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    picker: str | None = None  # "phone_numbers", "verify_services", "messaging_services", "messages"
    sid_prefixes: tuple[str, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None
    max_items: int | None = None
    item_type: str = "string"
    secret: bool = False  # never stored or logged in clear (Verify codes)
    example: Any = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"Unknown field type {self.type!r} for {self.name}")

    @property
    def display_label(self) -> str:
        return self.label or self.name

    def clean(self, value: Any, *, default_country: str | None = None) -> Any:
        """The cleaned value, or raise `v.Invalid` with a message for this field."""
        if v.is_blank(value):
            if self.required:
                raise v.Invalid("This field is required.")
            return self.default
        cleaner = getattr(v, f"clean_{self.type}")
        return cleaner(value, self, default_country=default_country)

    # --- the same declaration, seen by the admin and the API ---
    def form_field(self, picker_choices: list[tuple[str, str]] | None = None) -> forms.Field:
        common = dict(
            required=self.required, label=self.display_label, help_text=self.help, initial=self.default
        )
        if self.type == "boolean":
            return forms.BooleanField(**{**common, "required": False})
        if self.type == "choice":
            return forms.ChoiceField(choices=[("", "—")] + [(c, c) for c in self.choices], **common)
        if picker_choices is not None:
            # A picker offers the account's own objects but still accepts a typed value
            # (a template such as {{ trigger.To }}): the datalist is a suggestion.
            return forms.CharField(
                widget=_DatalistInput(picker_choices, name=f"{self.name}-options"), **common
            )
        if self.type in ("text", "twiml", "json", "list"):
            return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
        if self.type == "integer":
            return forms.CharField(**common)  # may hold a template; validated on run
        if self.secret:
            return forms.CharField(widget=forms.PasswordInput(render_value=False), **common)
        return forms.CharField(**common)

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"title": self.display_label}
        if self.help:
            schema["description"] = self.help
        kind = {
            "integer": "integer",
            "boolean": "boolean",
            "list": "array",
            "json": "object",
        }.get(self.type, "string")
        schema["type"] = kind
        if self.type == "choice":
            schema["enum"] = list(self.choices)
        if self.type == "url":
            schema["format"] = "uri"
        if self.type == "datetime":
            schema["format"] = "date-time"
        if self.type == "list":
            schema["items"] = {"type": "string"}
            if self.max_items:
                schema["maxItems"] = self.max_items
        if self.min_value is not None:
            schema["minimum"] = self.min_value
        if self.max_value is not None:
            schema["maximum"] = self.max_value
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.default is not None:
            schema["default"] = self.default
        if self.sid_prefixes:
            schema["pattern"] = "^(" + "|".join(self.sid_prefixes) + ")[0-9a-fA-F]{32}$"
        if self.picker:
            schema["x-picker"] = self.picker
        if self.secret:
            schema["writeOnly"] = True
        return schema


class _DatalistInput(forms.TextInput):
    def __init__(self, options: list[tuple[str, str]], name: str):
        super().__init__(attrs={"list": name})
        self.options, self.list_name = options, name

    def render(
        self,
        name: str,
        value: Any,
        attrs: dict[str, Any] | None = None,
        renderer: BaseRenderer | None = None,
    ) -> SafeString:
        from django.utils.html import format_html, format_html_join

        html = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">{}</option>', self.options)
        return format_html('{}<datalist id="{}">{}</datalist>', html, self.list_name, options)


def parse_json_text(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value


@dataclass
class Schema:
    """JSON schema of a whole action's inputs (API and docs)."""

    fields: tuple[Field, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {f.name: f.json_schema() for f in self.fields},
            "required": [f.name for f in self.fields if f.required],
            "additionalProperties": False,
            **self.extra,
        }
