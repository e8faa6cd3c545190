"""Writes from the staff pages. A reply is an audited one-step run (source `inbox`) through
`workflows.services.action_run_adhoc`: the same validation, send gate, never-twice
bookkeeping and audit as every other send. Replay and cancel are the admin's services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from actions.validation import WHATSAPP_PREFIX
from staff.models import ConversationRead
from workflows.models import Run
from workflows.services import action_run_adhoc

INBOX_SOURCE = "inbox"


def reply_action_and_inputs(
    *,
    channel: str,
    contact: str,
    number: str,
    body: str = "",
    media_urls: list[str] | None = None,
    content_sid: str = "",
    content_variables: str = "",
) -> tuple[str, dict[str, Any]]:
    """The action and its inputs for a reply on `channel` from our `number` to `contact`."""
    inputs: dict[str, Any] = {"From": number, "To": contact}
    if channel == "whatsapp":
        # The gate's sender check reads the channel from the address, as Twilio does.
        inputs = {"From": WHATSAPP_PREFIX + number, "To": WHATSAPP_PREFIX + contact}
        if content_sid:
            inputs["ContentSid"] = content_sid
            if content_variables:
                inputs["ContentVariables"] = content_variables
        elif body:
            inputs["Body"] = body
        if media_urls and not content_sid:
            inputs["MediaUrl"] = media_urls
        return "twilio/send-whatsapp", inputs
    if body:
        inputs["Body"] = body
    if media_urls:
        inputs["MediaUrl"] = media_urls
    return "twilio/send-sms", inputs


def inbox_reply(
    *,
    connection,
    user,
    channel: str,
    contact: str,
    number: str,
    answering: dict[str, Any] | None = None,
    **message: Any,
) -> Run:
    """Send a reply now, as a one-step run with source `inbox`. Invalid input raises
    VALIDATION_ERROR before any run exists; a refusal of the send gate (opted out, WhatsApp
    window closed, cap…) is the run's failure, with its code. `answering` is the inbound
    message replied to (the run's trigger payload, so the gate sees a reply)."""
    slug, inputs = reply_action_and_inputs(channel=channel, contact=contact, number=number, **message)
    payload = {"answered_by": user.get_username(), **(answering or {})}
    return action_run_adhoc(
        slug=slug, connection=connection, inputs=inputs, source=INBOX_SOURCE, payload=payload
    )


def conversation_mark_read(*, user, workspace_id: int, contact: str, number: str, at: dt.datetime) -> None:
    ConversationRead.objects.update_or_create(
        user=user, workspace_id=workspace_id, contact=contact, number=number, defaults={"read_at": at}
    )
