"""Receiving Twilio's requests: store, dedupe, fan out, resume waiting runs, track delivery,
and answer fast (TwiML built with twilio's own builders, never string concatenation).

Everything for one request happens in one transaction: the event row (unique on the
dedupe key, so concurrent duplicates collapse to one), the runs it starts, and the answer
we give, which is stored so that a redelivery gets the very same answer and starts nothing.
Runs are handed to workers only after commit; no step runs before we answer.
"""

from __future__ import annotations

import base64
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.db.models import F, Q
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

from actions.validation import WHATSAPP_PREFIX, Invalid, e164
from triggers.inbound import UNSTORABLE, Inbound
from triggers.kinds.registry import trigger_kind_get
from triggers.models import MatchStatus, Trigger, TriggerEvent, compile_pattern
from twilioflow.core import clock
from twilioflow.core.errors import TwilioFlowError
from workflows.models import ReplyWait, ReplyWaitStatus, Run, RunStatus, StepRun, WaitingFor

logger = logging.getLogger(__name__)

TWIML = "application/xml"
MESSAGE_KINDS = frozenset({"twilio/incoming-sms", "twilio/incoming-whatsapp"})
CALL_KIND = "twilio/incoming-call"
STATUS_KINDS = frozenset({"twilio/message-status", "twilio/call-status", "twilio/recording-status"})
VOICE_ACTIONS = ("say", "play", "gather", "dial", "record", "reject", "hangup")
# Later statuses never give way to earlier ones arriving late (callbacks are unordered).
DELIVERY_RANK = {
    "accepted": 0, "scheduled": 0, "queued": 1, "initiated": 1, "sending": 2, "ringing": 2,
    "sent": 3, "in-progress": 3, "answered": 3, "delivered": 4, "undelivered": 4, "failed": 4,
    "completed": 4, "busy": 4, "no-answer": 4, "canceled": 4, "read": 5,
}


@dataclass
class Answer:
    body: str
    content_type: str = TWIML
    status: int = 200


# --- validation of a trigger (admin and API) ----------------------------------------------
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
        elif kind.purpose != "poll" and not connection.can_verify_webhooks:
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
        problems.update(_voice_answer_problems(trigger.voice_answer))
    if trigger.reply_message:
        from workflows.templating import check_syntax

        for messages in check_syntax(trigger.reply_message).values():
            problems.setdefault("reply_message", []).extend(messages)
    if trigger.poll_interval_minutes < 1:
        problems["poll_interval_minutes"] = ["At least one minute."]
    return problems


def _voice_answer_problems(answer: Any) -> dict[str, list[str]]:
    if not isinstance(answer, dict):
        return {"voice_answer": ["Expected a JSON object."]}
    action = answer.get("action")
    if action not in VOICE_ACTIONS:
        return {"voice_answer": [f"action must be one of: {', '.join(VOICE_ACTIONS)}."]}
    needs = {"say": "message", "play": "url", "dial": "number"}.get(action)
    if needs and not answer.get(needs):
        return {"voice_answer": [f"{action} needs {needs!r}."]}
    return {}


# --- receiving -------------------------------------------------------------------------------
# Errors that come from what a request carried rather than from the database being down: the
# request is then stored without its parsed content (`webhook_receive`). Anything else (a
# lost database connection…) still raises, so that Twilio retries later.
_DATA_ERRORS = (DataError, ValueError, OverflowError, UnicodeError, RecursionError, TypeError)


def webhook_receive(*, connection, purpose: str, inbound: Inbound, trigger: Trigger | None = None,
                    base_url: str = "") -> Answer:
    """Store a signed request read by `triggers.inbound.inbound_read` and answer it.

    `inbound` is already sanitised; should the database still refuse something, the request
    is stored again as an invalid event (UNSTORABLE) with only its raw body, base64: 2xx
    always means exactly one stored event, and nothing escapes as a 500."""
    values = dict(
        connection=connection, purpose=purpose, kind_slug=inbound.kind_slug, params=inbound.params,
        payload=inbound.payload, dedupe_key=inbound.dedupe_key, headers=inbound.headers,
        trigger=trigger, base_url=base_url, signed_hash=inbound.signed_hash,
        invalid_code=inbound.invalid_code, invalid_reason=inbound.invalid_reason,
        raw_body=inbound.raw_body, raw_body_encoding=inbound.raw_body_encoding,
    )
    try:
        return event_receive(**values)
    except _DATA_ERRORS as error:
        logger.warning("Webhook on connection %s stored without its content: %s: %s",
                       connection.pk, type(error).__name__, str(error)[:200])
    raw = inbound.raw_body if inbound.raw_body_encoding else base64.b64encode(
        inbound.raw_body.encode("utf-8", "surrogatepass")).decode("ascii")
    return event_receive(**{
        **values, "params": {}, "payload": {}, "headers": {}, "invalid_code": UNSTORABLE,
        "invalid_reason": "The database refused this request's content; its raw body is kept.",
        "raw_body": raw, "raw_body_encoding": "base64",
    })


def event_receive(
    *,
    connection,
    purpose: str,
    kind_slug: str,
    params: dict[str, list[str]],
    payload: dict[str, Any],
    dedupe_key: str | None,
    headers: dict[str, str],
    trigger: Trigger | None = None,
    base_url: str = "",
    signed_hash: str = "",
    invalid_code: str = "",
    invalid_reason: str = "",
    raw_body: str = "",
    raw_body_encoding: str = "",
) -> Answer:
    """Store the event, start runs or resume a waiting one, and say what to answer.

    Dedupe: unique on (connection, dedupe_key) and on (connection, signed_hash) when given;
    either collision makes this a duplicate. An event with an `invalid_code` is stored as
    invalid, answered like an event that matched nothing, and starts or resumes nothing."""
    key = dedupe_key or f"uuid:{uuid.uuid4().hex}"
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = TriggerEvent.objects.create(
                    connection=connection,
                    trigger=trigger,
                    purpose=purpose,
                    kind=kind_slug,
                    dedupe_key=key[:200],
                    signed_hash=signed_hash,
                    params=params,
                    payload=payload,
                    headers=headers,
                    raw_body=raw_body,
                    raw_body_encoding=raw_body_encoding,
                    sid=_sid_of(payload),
                    from_number=str(payload.get("From") or "")[:64],
                    to_number=str(payload.get("To") or "")[:64],
                    match_status=MatchStatus.INVALID if invalid_code else MatchStatus.NO_MATCH,
                    invalid_code=invalid_code,
                    invalid_reason=invalid_reason[:300],
                )
        except IntegrityError:
            return _duplicate(connection, key, signed_hash)
        answer = _invalid_answer(event) if invalid_code else _handle(event, connection, trigger, base_url)
        event.response_body = answer.body
        event.response_content_type = answer.content_type
        event.save(update_fields=["response_body", "response_content_type", "match_status",
                                  "runs_started"])
    return answer


def _duplicate(connection, key: str, signed_hash: str = "") -> Answer:
    """Twilio retried (or someone replayed): the same answer as the first time, and nothing
    started again."""
    same = Q(dedupe_key=key[:200])
    if signed_hash:
        same |= Q(signed_hash=signed_hash)
    first = TriggerEvent.objects.filter(same, connection=connection).order_by("id").first()
    if first is None:  # the row we collided with was rolled back meanwhile: Twilio retries
        raise IntegrityError("The event this request duplicates disappeared; retry.")
    TriggerEvent.objects.filter(pk=first.pk).update(duplicates=F("duplicates") + 1)
    return Answer(first.response_body or _empty(first.kind), first.response_content_type or TWIML)


def _invalid_answer(event: TriggerEvent) -> Answer:
    """2xx so that Twilio stops retrying a request that can never become valid."""
    logger.info("Invalid %s webhook stored as event %s: %s", event.purpose, event.pk, event.invalid_reason)
    if event.kind == "twilio/webhook":
        import json

        return Answer(json.dumps({"received": True, "event_id": event.pk, "runs": 0, "invalid": True}),
                      "application/json")
    return Answer(_empty(event.kind))


def _sid_of(payload: dict[str, Any]) -> str:
    for key in ("MessageSid", "CallSid", "RecordingSid", "SmsSid"):
        if payload.get(key):
            return str(payload[key])[:34]
    return ""


def _empty(kind: str) -> str:
    return str(VoiceResponse()) if kind == CALL_KIND else str(MessagingResponse())


def _handle(event: TriggerEvent, connection, trigger: Trigger | None, base_url: str) -> Answer:
    kind = event.kind
    resumed = False
    if kind in ("twilio/message-status", "twilio/call-status") and delivery_track(
        event.payload, connection=connection
    ):
        event.match_status = MatchStatus.TRACKED
    if kind in MESSAGE_KINDS:
        resumed = reply_resume(connection=connection, payload=event.payload)
        if resumed:
            event.match_status = MatchStatus.RESUMED
    candidates = _candidates(connection, kind, trigger)
    matching = [t for t in candidates if trigger_matches(t, event.payload, connection)]
    enabled = [t for t in matching if t.enabled and t.workflow.enabled]
    if resumed:
        enabled = [t for t in enabled if t.fire_while_waiting]
    elif matching and not enabled and event.match_status == MatchStatus.NO_MATCH:
        event.match_status = MatchStatus.DISABLED
    gather = kind == CALL_KIND and bool(enabled) and enabled[0].voice_answer.get("action") == "gather"
    runs = [_start_run(t, event, waiting_for_gather=gather and i == 0) for i, t in enumerate(enabled)]
    if runs:
        event.match_status = MatchStatus.MATCHED if not resumed else MatchStatus.RESUMED
    event.runs_started = len(runs)
    if kind == CALL_KIND:
        first = enabled[0] if enabled else None
        return Answer(voice_twiml(first, event, runs[0] if runs else None, base_url))
    if kind in MESSAGE_KINDS:
        from compliance.services import inbound_message_consent, reply_twiml

        # Consent keywords (STOP/START/HELP…) and the WhatsApp window; HELP gets the help text.
        help_reply = inbound_message_consent(connection=connection, payload=event.payload)
        return Answer(reply_twiml(help_reply) if help_reply
                      else message_twiml(enabled[0] if enabled else None, event))
    if kind == "twilio/webhook":
        import json

        return Answer(json.dumps({"received": True, "event_id": event.pk, "runs": len(runs)}),
                      "application/json")
    return Answer(_empty(kind))


def _candidates(connection, kind: str, trigger: Trigger | None) -> list[Trigger]:
    if trigger is not None:
        return [trigger] if trigger.kind == kind else []
    return list(
        Trigger.objects.filter(connection=connection, kind=kind)
        .select_related("workflow", "workspace")
        .order_by("id")
    )


def trigger_matches(trigger: Trigger, payload: dict[str, Any], connection) -> bool:
    """Numbers (To), From pattern and first-word keyword; all that are set must match."""
    if trigger.numbers:
        to = str(payload.get("To") or "").removeprefix(WHATSAPP_PREFIX)
        wanted = {str(n).removeprefix(WHATSAPP_PREFIX) for n in trigger.numbers}
        if to not in wanted:
            return False
    if trigger.from_pattern:
        pattern = compile_pattern(trigger.from_pattern)
        if pattern is None or not pattern.search(str(payload.get("From") or "")):
            return False
    keywords = trigger.keyword_list()
    return not keywords or str(payload.get("keyword") or "").upper() in keywords


def _start_run(trigger: Trigger, event: TriggerEvent, *, waiting_for_gather: bool) -> Run:
    from workflows.services import run_create

    # While the caller is still choosing, the run waits for their digits (or speech).
    return run_create(
        workflow=trigger.workflow,
        payload=event.payload,
        source="trigger",
        trigger=trigger,
        event=event,
        waiting_for=WaitingFor.REPLY if waiting_for_gather else WaitingFor.NOTHING,
        wake_at=clock.now() + _gather_grace(trigger) if waiting_for_gather else None,
    )


def _gather_grace(trigger: Trigger):
    from datetime import timedelta

    return timedelta(seconds=int(trigger.voice_answer.get("timeout", 5)) + 120)


# --- answers -------------------------------------------------------------------------------
def message_twiml(trigger: Trigger | None, event: TriggerEvent) -> str:
    response = MessagingResponse()
    if trigger is not None and trigger.reply_message:
        text = _render_reply(trigger.reply_message, event)
        if text:
            response.message(text)
    return str(response)


def _render_reply(template: str, event: TriggerEvent) -> str:
    from workflows.templating import build_context, render_value

    workspace = event.connection.workspace
    try:
        return str(render_value(template, build_context(
            trigger=event.payload,
            workspace={"name": workspace.name, "slug": workspace.slug,
                       "time_zone": workspace.time_zone,
                       "default_country": workspace.default_country},
        ), field="reply_message"))
    except TwilioFlowError as error:
        # The answer must still go out: an empty <Response/>, and the reason in the log.
        logger.warning("Instant reply of event %s not sent: %s", event.pk, error.message)
        return ""


def voice_twiml(trigger: Trigger | None, event: TriggerEvent, run: Run | None, base_url: str) -> str:
    """The incoming call's answer, from the first matching trigger's `voice_answer`."""
    response = VoiceResponse()
    answer = (trigger.voice_answer if trigger else None) or {}
    action = answer.get("action")
    say = {k: answer[k] for k in ("voice", "language") if answer.get(k)}
    if action == "say":
        response.say(answer["message"], **say)
    elif action == "play":
        response.play(answer["url"], loop=int(answer.get("loop", 1)))
    elif action == "gather" and run is not None:
        url = f"{base_url}/hooks/twilio/{event.connection.public_id}/voice/gather/{run.pk}"
        gather = Gather(
            action=url, method="POST",
            input=answer.get("input", "dtmf"),
            timeout=int(answer.get("timeout", 5)),
            **({"num_digits": int(answer["num_digits"])} if answer.get("num_digits") else {}),
        )
        if answer.get("message"):
            gather.say(answer["message"], **say)
        response.append(gather)
        # No input: Twilio falls through to here, and the run resumes with empty digits.
        response.redirect(url, method="POST")
    elif action == "dial":
        response.dial(answer["number"], timeout=int(answer.get("timeout", 30)),
                      **({"caller_id": answer["caller_id"]} if answer.get("caller_id") else {}))
    elif action == "record":
        if answer.get("message"):
            response.say(answer["message"], **say)
        response.record(max_length=int(answer.get("max_length", 120)), play_beep=True,
                        recording_status_callback=f"{base_url}/hooks/twilio/{event.connection.public_id}/status")
    elif action == "reject":
        response.reject(reason=answer.get("reason", "rejected"))
    elif action == "hangup":
        response.hangup()
    return str(response)


def gather_run_for(*, connection, run_id) -> Run | None:
    """The run `run_id` if a call on this very connection started it, else None.

    The run id is in the URL, i.e. chosen by whoever signs the request: only runs started by
    a trigger of the connection whose Auth Token signed it may be continued (or have their
    trigger's voice answer read)."""
    try:
        run_id = int(run_id)
    except (TypeError, ValueError):
        return None
    return (
        Run.objects.select_related("trigger")
        .filter(pk=run_id, trigger__connection=connection, workspace_id=connection.workspace_id)
        .first()
    )


def gather_resume(
    *, connection, run_id: int, params: dict[str, list[str]], answer: dict | None = None
) -> str:
    """The caller's digits or speech arrive: continue the same run with them.

    An unknown run, or one another connection started, gets an empty <Response/> and
    nothing changes. `answer` is ignored: the voice answer is always the run's own trigger's."""
    run = gather_run_for(connection=connection, run_id=run_id)
    response = VoiceResponse()
    if run is None:
        return str(response)
    answer = (run.trigger.voice_answer if run.trigger else None) or {}
    gather = {name: (params.get(name) or [""])[0] for name in
              ("Digits", "SpeechResult", "Confidence") if name in params}
    gather.setdefault("Digits", "")
    with transaction.atomic():
        claimed = Run.objects.filter(
            pk=run.pk, status=RunStatus.WAITING, waiting_for=WaitingFor.REPLY
        ).update(
            status=RunStatus.PENDING, waiting_for=WaitingFor.NOTHING, wake_at=None,
            trigger_payload={**run.trigger_payload, "gather": gather},
        )
        if claimed:
            from workflows.services import run_enqueue

            run_enqueue(run.pk)
    if answer.get("after_message"):
        response.say(answer["after_message"],
                     **{k: answer[k] for k in ("voice", "language") if answer.get(k)})
    return str(response)


# --- wait for reply ------------------------------------------------------------------------
def reply_resume(*, connection, payload: dict[str, Any]) -> bool:
    """Give an inbound message to the oldest run waiting for this contact on this number."""
    contact = str(payload.get("From") or "").removeprefix(WHATSAPP_PREFIX)
    number = str(payload.get("To") or "").removeprefix(WHATSAPP_PREFIX)
    if not contact or not number:
        return False
    now = clock.now()
    # Only waits tied to this connection: a message signed by another connection (even of
    # the same workspace) must not answer a run it was never sent to.
    waits = ReplyWait.objects.filter(
        connection=connection, workspace_id=connection.workspace_id, contact=contact, number=number,
        status=ReplyWaitStatus.OPEN, expires_at__gt=now,
    ).order_by("created_at", "id")
    reply = {
        "Body": payload.get("Body", ""),
        "media": payload.get("media", []),
        "MessageSid": payload.get("MessageSid"),
        "From": payload.get("From"),
        "payload": payload,
    }
    for wait in waits[:5]:
        # Conditional update: two deliveries racing cannot both take the same wait.
        if ReplyWait.objects.filter(pk=wait.pk, status=ReplyWaitStatus.OPEN).update(
            status=ReplyWaitStatus.REPLIED, reply=reply, answered_at=now
        ):
            woken = Run.objects.filter(
                pk=wait.run_id, status=RunStatus.WAITING, waiting_for=WaitingFor.REPLY
            ).update(status=RunStatus.PENDING, waiting_for=WaitingFor.NOTHING, wake_at=None)
            if woken:
                from workflows.services import run_enqueue

                run_enqueue(wait.run_id)
            return True
    return False


# --- delivery tracking -------------------------------------------------------------------------
def delivery_track(payload: dict[str, Any], *, connection) -> bool:
    """Record a message or call status (not a recording's) on the step that created it
    through `connection` (the one whose Auth Token signed the callback). True when that
    step was found; a SID another connection sent is left alone."""
    from workflows.selectors import step_run_for_delivery

    sid = payload.get("MessageSid") or payload.get("CallSid")
    status = payload.get("MessageStatus") or payload.get("CallStatus")
    if not sid or not status:
        return False
    step_run = step_run_for_delivery(connection=connection, sid=str(sid))
    if step_run is None:
        return False
    error_code = payload.get("ErrorCode")
    entry = {"status": status, "error_code": error_code, "at": clock.now().isoformat()}
    history = [*step_run.delivery_history, entry]
    current = DELIVERY_RANK.get(step_run.delivery_status, -1)
    values: dict[str, Any] = {"delivery_history": history}
    if DELIVERY_RANK.get(status, 0) >= current:
        values.update(delivery_status=status, delivery_error_code=error_code,
                      delivery_updated_at=clock.now())
    StepRun.objects.filter(pk=step_run.pk).update(**values)
    return True
