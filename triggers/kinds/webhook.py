from collections.abc import Mapping
from typing import Any

from triggers.kinds.base import TriggerKind, values

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def _is_form(params: Any) -> bool:
    return isinstance(params, Mapping) and all(
        isinstance(value, str)
        or (isinstance(value, list | tuple) and all(isinstance(v, str) for v in value))
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
    purpose = "webhook"
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
