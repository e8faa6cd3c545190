from typing import Any

from actions.base import Action, ActionContext, FieldErrors, pick
from actions.fields import Field
from actions.support.paging import PAGE_SIZE, PAGE_TOKEN, page_query

MESSAGE_KEYS = ("sid", "status", "to", "from", "body", "date_sent")
# Our field name -> Twilio's query parameter name (the range filters carry < and >).
QUERY_NAMES = {
    "To": "To",
    "From": "From",
    "DateSent": "DateSent",
    "DateSentBefore": "DateSent<",
    "DateSentAfter": "DateSent>",
    "PageSize": "PageSize",
    "PageToken": "PageToken",
}


class ListMessages(Action):
    slug = "twilio/list-messages"
    title = "List messages"
    description = (
        "List one page of the account's messages, newest first, optionally filtered by number and send date."
    )
    group = "Messaging"
    idempotent = True
    fields = (
        Field("To", "phone", label="To", help="Only messages sent to this number."),
        Field("From", "phone", label="From", help="Only messages sent from this number."),
        Field(
            "DateSent",
            "datetime",
            label="Sent on",
            help="Only messages sent on this date (YYYY-MM-DD) or at this moment.",
            example="2024-05-01",
        ),
        Field(
            "DateSentBefore",
            "datetime",
            label="Sent before",
            help="Only messages sent before this date or date-time (Twilio's DateSent<).",
            example="2024-05-31",
        ),
        Field(
            "DateSentAfter",
            "datetime",
            label="Sent after",
            help="Only messages sent after this date or date-time (Twilio's DateSent>).",
            example="2024-05-01",
        ),
        PAGE_SIZE,
        PAGE_TOKEN,
    )
    output = ("messages", "next_page_uri")

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        problems: dict[str, str] = {}
        if data["DateSent"] and (data["DateSentBefore"] or data["DateSentAfter"]):
            problems["DateSent"] = "Use an exact send date or a range (before/after), not both."
        before, after = data["DateSentBefore"], data["DateSentAfter"]
        if before and after and after >= before:  # both normalised to ...Z, so text order works
            problems["DateSentAfter"] = "Must be earlier than DateSentBefore."
        if problems:
            raise FieldErrors(problems)
        return data

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        params = {
            twilio_name: inputs[name]
            for name, twilio_name in QUERY_NAMES.items()
            if inputs.get(name) not in (None, "") and name != "PageToken"
        }
        # A bare token or a whole `next_page_uri` as this action returned it.
        params.update(page_query(inputs.get("PageToken")))
        response = ctx.client.get(ctx.client.account_path("Messages.json"), params=params)
        body = response.json() or {}
        return {
            "messages": [pick(record, MESSAGE_KEYS) for record in body.get("messages") or []],
            "next_page_uri": body.get("next_page_uri") or None,
        }
