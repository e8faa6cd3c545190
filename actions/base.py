"""The action contract. One module per action under `actions/twilio/`, each a subclass of
`Action` declaring slug, title, description, group, fields, idempotency and output keys, and
implementing `run(ctx, inputs)`. Validation happens before `run`, so `run` may trust its
inputs and no request is made for bad input."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from actions.fields import Field, Schema
from actions.validation import Invalid
from connections.client import TwilioClient
from twilioflow.core.errors import validation_error

GROUPS = ("Messaging", "Voice", "Phone numbers", "Verify", "Conversations", "Advanced")


@dataclass
class ActionContext:
    """What an action may use while it runs. `client.exchanges` is the audit trail."""

    client: TwilioClient
    connection: Any = None  # connections.models.Connection (None in pure unit tests)
    default_country: str | None = None

    @property
    def account_sid(self) -> str:
        return self.client.account_sid


class Action:
    slug: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    group: ClassVar[str]
    fields: ClassVar[tuple[Field, ...]] = ()
    # True when repeating the request cannot duplicate an effect (reads, updates to a fixed
    # value). False for creates: the engine records the attempt first and reconciles.
    idempotent: ClassVar[bool] = True
    output: ClassVar[tuple[str, ...]] = ()
    # What the action sends to a person ("sms", "mms", "whatsapp", "call"), or None. Every
    # send passes the send gate (compliance/gate.py) before its request.
    sends: ClassVar[str | None] = None
    # Other spellings accepted for a field (TaskJuice's "from" for "From").
    aliases: ClassVar[dict[str, str]] = {}

    # --- declaration helpers ---
    @classmethod
    def field_map(cls) -> dict[str, Field]:
        return {f.name: f for f in cls.fields}

    @classmethod
    def required_fields(cls) -> list[str]:
        return [f.name for f in cls.fields if f.required]

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        return frozenset(f.name for f in cls.fields if f.secret)

    @classmethod
    def input_schema(cls) -> dict[str, Any]:
        return Schema(cls.fields).as_dict()

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "slug": cls.slug,
            "title": cls.title,
            "description": cls.description,
            "group": cls.group,
            "idempotent": cls.idempotent,
            **({"sends": cls.sends} if cls.sends else {}),
            **({"aliases": dict(cls.aliases)} if cls.aliases else {}),
            "output": list(cls.output),
            "input_schema": cls.input_schema(),
        }

    # --- validation ---
    def validate(self, inputs: Mapping[str, Any], *, default_country: str | None = None) -> dict[str, Any]:
        """Clean every field; raise one VALIDATION_ERROR naming each bad field."""
        if not isinstance(inputs, Mapping):
            raise validation_error({"inputs": "Expected an object of field values."})
        known = self.field_map()
        problems: dict[str, list[str]] = {}
        inputs = self._unalias(inputs, problems)
        for name in inputs:
            if name not in known:
                problems[name] = [f"Unknown field for {self.slug}; known: {', '.join(known)}."]
        cleaned: dict[str, Any] = {}
        for name, spec in known.items():
            try:
                cleaned[name] = spec.clean(inputs.get(name), default_country=default_country)
            except Invalid as exc:
                problems.setdefault(name, []).append(str(exc))
        if not problems:
            try:
                cleaned = self.clean(cleaned)
            except Invalid as exc:
                problems["__all__"] = [str(exc)]
            except FieldErrors as exc:
                problems.update(exc.problems)
        if problems:
            raise validation_error(problems)
        return cleaned

    def _unalias(self, inputs: Mapping[str, Any], problems: dict[str, list[str]]) -> dict[str, Any]:
        """`from` → `From` (an alias is accepted when its field is not also given)."""
        data = dict(inputs)
        for alias, name in self.aliases.items():
            if alias in data:
                value = data.pop(alias)
                if data.get(name) not in (None, "") and value not in (None, "") and data[name] != value:
                    problems[alias] = [f"{alias!r} is another name for {name!r}; give one of them."]
                elif data.get(name) in (None, ""):
                    data[name] = value
        return data

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        """Cross-field rules (Twiml xor Url, Body or ContentSid…). Raise FieldErrors."""
        return data

    # --- privileges ---
    def credential_reason(self, inputs: Mapping[str, Any]) -> str | None:
        """Why a call with these (cleaned) inputs reads or changes credentials, or None.
        Such calls may only be configured by a workspace owner or admin (or a superuser);
        the engine enforces it when the step runs."""
        return None

    # --- execution ---
    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    # True when `reconcile` can tell whether an interrupted create happened.
    reconcilable: ClassVar[bool] = False

    def reconcile(
        self, ctx: ActionContext, inputs: dict[str, Any], *, since: datetime
    ) -> dict[str, Any] | None:
        """After a crash or an unknown outcome: look for what an attempt started at `since`
        created. Return the output `run` would have returned, or None when it did not happen.
        Raise TwilioFlowError when Twilio cannot be asked right now (the engine waits)."""
        return None


class FieldErrors(Exception):
    """Raised from `Action.clean` to attach messages to named fields."""

    def __init__(self, problems: Mapping[str, str | list[str]]):
        super().__init__("invalid fields")
        self.problems = {k: [m] if isinstance(m, str) else list(m) for k, m in problems.items()}


def pick(record: Mapping[str, Any] | None, keys: Iterable[str]) -> dict[str, Any]:
    """Twilio's own snake_case names, a key per output field (None when Twilio omits it)."""
    record = record or {}
    return {key: record.get(key) for key in keys}


def twilio_params(inputs: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The named inputs as Twilio form/query parameters, leaving out the empty ones."""
    return {name: inputs[name] for name in names if inputs.get(name) not in (None, "", [])}
