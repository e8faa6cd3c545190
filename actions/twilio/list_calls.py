from typing import Any

from actions.base import Action, ActionContext
from actions.fields import Field
from actions.support.calls import CALL_STATUSES
from actions.support.paging import PAGE_SIZE, PAGE_TOKEN, list_page, range_fields, range_params

CALL_KEYS = ("sid", "status", "to", "from", "direction", "duration", "start_time")


class ListCalls(Action):
    slug = "twilio/list-calls"
    title = "List calls"
    description = "One page of the account's calls, newest first, with optional filters."
    group = "Voice"
    idempotent = True
    fields = (
        Field("To", "phone", label="To", help="Only calls to this number."),
        Field("From", "phone", label="From", help="Only calls from this number."),
        Field("Status", "choice", label="Status", choices=CALL_STATUSES, help="Only calls in this status."),
        *range_fields("StartTime", "Started"),
        PAGE_SIZE,
        PAGE_TOKEN,
    )
    output = ("calls", "next_page_uri")

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        params = {
            "To": inputs["To"],
            "From": inputs["From"],
            "Status": inputs["Status"],
            **range_params(inputs, "StartTime"),
            "PageSize": inputs["PageSize"],
            "PageToken": inputs["PageToken"],
        }
        return list_page(ctx, "Calls.json", "calls", CALL_KEYS, params)
