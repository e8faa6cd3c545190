"""Whether a trigger can be saved (the model's `clean`, the admin and the API): its kind,
workflow and connection in its workspace, a connection that can check webhook signatures,
and well-formed filters, voice answer and instant reply."""

from __future__ import annotations

from actions.validation import WHATSAPP_PREFIX, Invalid, e164
from triggers.kinds.incoming_call import voice_answer_problems
from triggers.kinds.registry import trigger_kind_get
from triggers.models import Trigger, compile_pattern
from twilioflow.core.errors import TwilioFlowError


def trigger_problems(trigger: Trigger) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    try:
        kind = trigger_kind_get(trigger.kind)
    except (KeyError, TwilioFlowError):
        return {"kind": ["Unknown trigger kind."]}
    if trigger.workflow_id and trigger.workspace_id and trigger.workflow.workspace_id != trigger.workspace_id:
        problems["workflow"] = ["The workflow belongs to another workspace."]
    if trigger.connection_id and trigger.workspace_id:
        connection = trigger.connection
        if connection.workspace_id != trigger.workspace_id:
            problems["connection"] = ["The connection belongs to another workspace."]
        elif kind.endpoints and not connection.can_verify_webhooks:
            # A kind whose requests arrive signed (every kind but a polling one).
            problems["connection"] = [
                "This API-key connection has no Auth Token. Twilio signs webhooks with the "
                "account's Auth Token, so add it to the connection before using webhook triggers."
            ]
    if trigger.from_pattern and compile_pattern(trigger.from_pattern) is None:
        problems["from_pattern"] = ["Not a valid regular expression."]
    numbers = trigger.numbers if isinstance(trigger.numbers, list) else None
    if numbers is None:
        problems["numbers"] = ["Expected a list of phone numbers."]
    else:
        country = trigger.workspace.default_country if trigger.workspace_id else None
        for number in numbers:
            try:
                e164(str(number).removeprefix(WHATSAPP_PREFIX), country)
            except Invalid as exc:
                problems.setdefault("numbers", []).append(str(exc))
    if trigger.voice_answer:
        problems.update(voice_answer_problems(trigger.voice_answer))
    if trigger.reply_message:
        from workflows.templating import check_syntax

        for messages in check_syntax(trigger.reply_message).values():
            problems.setdefault("reply_message", []).extend(messages)
    if trigger.poll_interval_minutes < 1:
        problems["poll_interval_minutes"] = ["At least one minute."]
    return problems
