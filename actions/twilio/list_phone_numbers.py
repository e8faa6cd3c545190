from typing import Any

from actions.base import Action, ActionContext
from actions.fields import Field
from actions.support.paging import PAGE_SIZE, PAGE_TOKEN, list_page

NUMBER_KEYS = ("sid", "phone_number", "friendly_name", "sms_url", "voice_url", "capabilities")


class ListPhoneNumbers(Action):
    slug = "twilio/list-phone-numbers"
    title = "List phone numbers"
    description = "One page of the account's own (incoming) phone numbers and their webhooks."
    group = "Phone numbers"
    idempotent = True
    fields = (
        Field(
            "PhoneNumber",
            "string",
            label="Phone number",
            help="Whole or partial number; '*' matches any digit.",
            example="+1415*",
        ),
        Field("FriendlyName", "string", label="Friendly name", help="Only numbers with this friendly name."),
        PAGE_SIZE,
        PAGE_TOKEN,
    )
    output = ("incoming_phone_numbers", "next_page_uri")

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        params = {name: inputs[name] for name in ("PhoneNumber", "FriendlyName", "PageSize", "PageToken")}
        return list_page(ctx, "IncomingPhoneNumbers.json", "incoming_phone_numbers", NUMBER_KEYS, params)
