"""What the inbound SMS/MMS and WhatsApp kinds share (purpose "messages"): the parameters,
the parse, the dedupe key, resuming a run that waits for this reply, and the answer (the
first matching trigger's instant reply, as TwiML)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from twilio.twiml.messaging_response import MessagingResponse

from actions.validation import WHATSAPP_PREFIX, keyword_of
from connections.webhook_urls import MESSAGES
from triggers.kinds.base import (
    GEO_FIELDS,
    MAX_MEDIA,
    MAX_SEGMENTS,
    NOTHING,
    RESUMED,
    Answer,
    Params,
    Receipt,
    TriggerKind,
    first,
    first_of,
    join_key,
    media_of,
    present,
    strip_channel,
    to_count,
)
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_text

if TYPE_CHECKING:
    from connections.models import Connection
    from triggers.models import Trigger, TriggerEvent
    from workflows.models import Run

logger = logging.getLogger(__name__)


class InboundMessage(TriggerKind):
    """Shared by the inbound SMS/MMS and WhatsApp kinds (purpose "messages")."""

    purpose = MESSAGES
    channel: ClassVar[str]  # "sms" | "whatsapp", as the reply waits record it
    required = (("MessageSid", "SmsMessageSid", "SmsSid"), "From", "To")
    optional_fields: ClassVar[tuple[str, ...]] = ("OptOutType", *GEO_FIELDS)

    @classmethod
    def is_whatsapp(cls, params: Params) -> bool:
        return (first(params, "From") or "").lower().startswith(WHATSAPP_PREFIX)

    @classmethod
    def parse(cls, params: Params) -> dict[str, Any]:
        body = first(params, "Body") or ""
        sender, recipient = first(params, "From"), first(params, "To")
        return {
            "MessageSid": first_of(params, ("MessageSid", "SmsMessageSid", "SmsSid")),
            "AccountSid": first(params, "AccountSid"),
            "MessagingServiceSid": first(params, "MessagingServiceSid"),
            "From": sender,
            "To": recipient,
            "Body": body,
            "NumMedia": to_count(first(params, "NumMedia"), MAX_MEDIA) or 0,
            "NumSegments": to_count(first(params, "NumSegments"), MAX_SEGMENTS) or 1,
            "media": media_of(params),
            "keyword": keyword_of(body),
            "from_number": strip_channel(sender),
            "to_number": strip_channel(recipient),
            # Present only with a Messaging Service using Advanced Opt-Out.
            **present(params, ("OptOutType",)),
            **present(params, GEO_FIELDS),
        }

    @classmethod
    def dedupe_key(cls, params: Params) -> str | None:
        # An inbound message has one delivery event, so its SID alone identifies it.
        return join_key(first_of(params, ("MessageSid", "SmsMessageSid", "SmsSid")))

    @classmethod
    def contact(cls, payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(sender, our number) as plain E.164, without any channel prefix: the pair a
        "wait for reply" step is keyed on. Reply with `From`/`To` swapped, which keep it."""
        return strip_channel(payload.get("From")), strip_channel(payload.get("To"))

    # --- receiving ------------------------------------------------------------------------
    resumes_waiting_runs = True

    @classmethod
    def on_receipt(cls, *, event: TriggerEvent, connection: Connection) -> Receipt:
        """The message is the reply a run waits for (`wait_for_reply`): the oldest run
        waiting for this contact on this number and connection takes it."""
        from workflows.inbound import run_resume_with_reply

        payload = event.payload
        resumed = run_resume_with_reply(
            connection=connection,
            contact=str(payload.get("From") or "").removeprefix(WHATSAPP_PREFIX),
            number=str(payload.get("To") or "").removeprefix(WHATSAPP_PREFIX),
            reply={
                "Body": payload.get("Body", ""),
                "media": payload.get("media", []),
                "MessageSid": payload.get("MessageSid"),
                "From": payload.get("From"),
                "payload": payload,
            },
        )
        return RESUMED if resumed else NOTHING

    answers_before_storing = True

    @classmethod
    def on_stored(cls, *, event: TriggerEvent, connection: Connection) -> None:
        """Consent keywords (STOP/START…, Advanced Opt-Out) and the WhatsApp session window
        (`compliance`), once per stored message, inside its transaction."""
        from compliance.services import inbound_message_consent

        inbound_message_consent(connection=connection, payload=event.payload)

    @classmethod
    def answer(
        cls, *, event: TriggerEvent, matching: Sequence[Trigger], runs: Sequence[Run], base_url: str
    ) -> Answer:
        """HELP/INFO (and the policy's help keywords) are answered with the workspace's help
        text; otherwise the first matching trigger's instant reply (`reply_message`, a
        template over the payload), or an empty <Response/>. The policy comes with the
        connection from the routing cache (`compliance.selectors.policy_of`)."""
        from compliance.selectors import policy_of
        from compliance.services import inbound_help_text, reply_twiml

        help_reply = inbound_help_text(payload=event.payload, policy=policy_of(event.connection.workspace))
        if help_reply:
            return Answer(reply_twiml(help_reply))
        response = MessagingResponse()
        trigger = matching[0] if matching else None
        if trigger is not None and trigger.reply_message:
            text = _render_reply(trigger.reply_message, event)
            if text:
                response.message(text)
                event.reply_status = "sent"
        return Answer(str(response))


def _render_reply(template: str, event: TriggerEvent) -> str:
    from workflows.templating import build_context, render_value

    workspace = event.connection.workspace
    try:
        return str(
            render_value(
                template,
                build_context(
                    trigger=event.payload,
                    workspace={
                        "name": workspace.name,
                        "slug": workspace.slug,
                        "time_zone": workspace.time_zone,
                        "default_country": workspace.default_country,
                    },
                ),
                field="reply_message",
            )
        )
    except TwilioFlowError as error:
        # The answer must still go out: an empty <Response/>; the reason is recorded on the
        # event (shown in the admin) and logged.
        logger.warning(
            "Instant reply on connection %s (%s) not sent: %s",
            event.connection_id,
            event.payload.get("MessageSid"),
            redact_text(error.message),
        )
        event.reply_status = "failed"
        event.reply_error_code = error.code[:40]
        event.reply_error_message = redact_text(error.message)[:500]
        return ""
