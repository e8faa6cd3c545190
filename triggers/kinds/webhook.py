"""`twilio/webhook`: any signed request to a connection's "events" URL or a trigger's own
webhook URL, a form or a JSON body. Answered with JSON (the event id and how many runs it
started), not TwiML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from connections.webhook_urls import EVENTS, WEBHOOK
from triggers.kinds.base import JSON, Answer, TriggerKind, json_answer, values

if TYPE_CHECKING:
    from triggers.models import Trigger, TriggerEvent
    from workflows.models import Run

FORM = "application/x-www-form-urlencoded"


def _is_form(params: Any) -> bool:
    return isinstance(params, Mapping) and all(
        isinstance(value, str) or (isinstance(value, list | tuple) and all(isinstance(v, str) for v in value))
        for value in params.values()
    )


class Webhook(TriggerKind):
    slug = "twilio/webhook"
    title = "Webhook"
    description = (
        "Any signed request to the workflow's webhook URL: a form post or a JSON body (signed "
        "with bodySHA256). The payload is {data, content_type}; data holds the form fields (a "
        "repeated field as a list) or the parsed JSON, as {{ trigger.data.<name> }}."
    )
    purpose = WEBHOOK
    endpoints = (EVENTS, WEBHOOK)
    reads_json = True
    open_fields = ("data",)
    sample = {
        "name": "Ada Lovelace",
        "phone": "+14155550123",
        "order": "1042",
        "status": "shipped",
    }

    @classmethod
    def parse(cls, params: Any) -> dict[str, Any]:
        """Form params (str → list[str], a QueryDict, or str → str). Anything else is taken
        as a parsed JSON body; call `parse_json` directly for JSON, since a JSON object of
        strings looks like form params."""
        if not _is_form(params) and not hasattr(params, "getlist"):
            return cls.parse_json(params)
        data: dict[str, Any] = {}
        for name in params:
            found = values(params, name)
            data[name] = found[0] if len(found) == 1 else found
        return {"data": data, "content_type": FORM}

    @classmethod
    def parse_json(cls, body: Any) -> dict[str, Any]:
        return {"data": body, "content_type": JSON}

    @classmethod
    def answer(
        cls, *, event: TriggerEvent, matching: Sequence[Trigger], runs: Sequence[Run], base_url: str
    ) -> Answer:
        return json_answer({"received": True, "event_id": event.pk, "runs": len(runs)})

    @classmethod
    def invalid_answer(cls, event: TriggerEvent) -> Answer:
        return json_answer({"received": True, "event_id": event.pk, "runs": 0, "invalid": True})
