"""Messaging: the fields every message-sending action shares (To, sender, callbacks, media),
and `CreatesMessage`, the one Messages.json create with its reconciliation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from actions.base import Action, ActionContext, pick
from actions.fields import Field
from actions.support.reconcile import recent_records
from actions.validation import sid_pattern

MESSAGING_SERVICE = sid_pattern(("MG",))

TO = Field(
    "To",
    "phone",
    label="To",
    required=True,
    help="Recipient, E.164 (+15551234567) or national format in the workspace's default country.",
    example="+14155552671",
)
STATUS_CALLBACK = Field(
    "StatusCallback", "url", label="Status callback URL", help="Twilio POSTs delivery status changes here."
)
MEDIA_URL = Field(
    "MediaUrl",
    "list",
    item_type="url",
    max_items=10,
    label="Media URLs",
    help="Up to 10 public http(s) URLs; makes the message an MMS.",
)


def sender_field(help_text: str = "") -> Field:
    return Field(
        "From",
        "sender",
        label="From",
        required=True,
        picker="phone_numbers",
        help=help_text
        or "One of the account's numbers, or a Messaging Service SID (MG…) "
        "to let Twilio pick from its sender pool.",
        example="+15017122661",
    )


def sender_params(sender: str) -> dict[str, Any]:
    """`From` or `MessagingServiceSid`, from one cleaned `sender` value."""
    if MESSAGING_SERVICE.match(sender):
        return {"MessagingServiceSid": sender}
    return {"From": sender}


# --- Creating messages, and finding one an interrupted attempt may have created ------------
def _same_body(sent: str | None, found: str | None) -> bool:
    if not sent:
        return True  # media-only or template sends: To, sender and time decide
    # Trial accounts prefix the body; a match at the end is still our message.
    if not found:
        return False
    return found == sent or found.endswith(sent)


def find_message(ctx: ActionContext, params: dict[str, Any], *, since: datetime) -> dict[str, Any] | None:
    """The outbound message these create-parameters produced, if Twilio has it."""
    query = {"To": params["To"], "PageSize": 50}
    if params.get("From"):
        query["From"] = params["From"]
    for record in recent_records(ctx, "Messages.json", "messages", query, since=since):
        if not str(record.get("direction") or "outbound").startswith("outbound"):
            continue
        service = params.get("MessagingServiceSid")
        if service and record.get("messaging_service_sid") not in (None, service):
            continue
        if _same_body(params.get("Body"), record.get("body")):
            return record
    return None


class CreatesMessage(Action):
    """A send: one POST to Messages.json, never repeated blindly, reconcilable by listing."""

    idempotent = False
    reconcilable = True

    def params(self, inputs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def output_for(self, record: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        return pick(record, self.output)

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        response = ctx.client.post(
            ctx.client.account_path("Messages.json"), data=self.params(inputs), idempotent=False
        )
        return self.output_for(response.json(), inputs)

    def reconcile(
        self, ctx: ActionContext, inputs: dict[str, Any], *, since: datetime
    ) -> dict[str, Any] | None:
        record = find_message(ctx, self.params(inputs), since=since)
        return None if record is None else self.output_for(record, inputs)
