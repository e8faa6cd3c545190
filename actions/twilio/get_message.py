from typing import Any

from actions.base import Action, ActionContext, pick
from actions.fields import Field


class GetMessage(Action):
    slug = "twilio/get-message"
    title = "Get message"
    description = "Fetch one SMS, MMS or WhatsApp message: its status, price and any delivery error."
    group = "Messaging"
    idempotent = True
    fields = (
        Field(
            "messageSid",
            "sid",
            label="Message SID",
            required=True,
            sid_prefixes=("SM", "MM"),
            picker="messages",
            help="The message's SID (SM… or MM…).",
            example="SM" + "0" * 32,
        ),
    )
    output = (
        "sid",
        "status",
        "to",
        "from",
        "body",
        "date_created",
        "date_sent",
        "price",
        "error_code",
        "error_message",
    )

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        response = ctx.client.get(ctx.client.account_path(f"Messages/{inputs['messageSid']}.json"))
        return pick(response.json(), self.output)
