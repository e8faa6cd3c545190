from typing import Any

from actions.base import Action, ActionContext, pick
from actions.fields import Field


class GetCall(Action):
    slug = "twilio/get-call"
    title = "Get call"
    description = "Fetch one call by its SID: status, parties, direction, duration and price."
    group = "Voice"
    idempotent = True
    fields = (
        Field(
            "callSid",
            "sid",
            label="Call SID",
            required=True,
            sid_prefixes=("CA",),
            help="CA followed by 32 hexadecimal characters.",
            example="CA" + "a" * 32,
        ),
    )
    output = ("sid", "status", "to", "from", "direction", "duration", "start_time", "end_time", "price")

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        response = ctx.client.get(ctx.client.account_path(f"Calls/{inputs['callSid']}.json"))
        return pick(response.json(), self.output)
