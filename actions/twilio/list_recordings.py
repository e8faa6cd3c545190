from typing import Any

from actions.base import Action, ActionContext
from actions.fields import Field
from actions.support.paging import PAGE_SIZE, PAGE_TOKEN, list_page, range_fields, range_params

RECORDING_KEYS = ("sid", "call_sid", "duration", "date_created", "status")


class ListRecordings(Action):
    slug = "twilio/list-recordings"
    title = "List recordings"
    description = "One page of the account's call recordings, optionally for one call only."
    group = "Voice"
    idempotent = True
    fields = (
        Field(
            "CallSid",
            "sid",
            label="Call SID",
            sid_prefixes=("CA",),
            help="Only this call's recordings (CA followed by 32 hexadecimal characters).",
        ),
        *range_fields("DateCreated", "Created"),
        PAGE_SIZE,
        PAGE_TOKEN,
    )
    output = ("recordings", "next_page_uri")

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        # The account-level list filters by CallSid and takes date-times; the per-call path
        # (Calls/{CallSid}/Recordings.json) would only take dates.
        params = {
            "CallSid": inputs["CallSid"],
            **range_params(inputs, "DateCreated"),
            "PageSize": inputs["PageSize"],
            "PageToken": inputs["PageToken"],
        }
        return list_page(ctx, "Recordings.json", "recordings", RECORDING_KEYS, params)
