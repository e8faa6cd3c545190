from typing import Any

from actions.base import Action, ActionContext, pick, twilio_params
from actions.fields import Field


class SendConversationMessage(Action):
    slug = "twilio/send-conversation-message"
    title = "Send Conversation message"
    description = "Post a message into a Twilio Conversation; Twilio delivers it to every participant."
    group = "Conversations"
    idempotent = False
    fields = (
        Field(
            "conversationSid",
            "sid",
            label="Conversation SID",
            required=True,
            sid_prefixes=("CH",),
            help="The Conversation's SID (CH…).",
            example="CH" + "0" * 32,
        ),
        Field(
            "Body",
            "text",
            label="Body",
            required=True,
            help="The message text.",
            example="Thanks, we are on it.",
        ),
        Field(
            "Author",
            "string",
            label="Author",
            help="Identity of the author; Twilio uses 'system' when empty.",
            example="agent-7",
        ),
    )
    output = ("sid", "conversation_sid", "body", "author", "date_created")

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        response = ctx.client.post(
            f"/v1/Conversations/{inputs['conversationSid']}/Messages",
            product="conversations",
            data=twilio_params(inputs, ("Body", "Author")),
            idempotent=False,
        )
        return pick(response.json(), self.output)
