"""Receiving a signed request: store it as an event, dedupe it, fan it out to the triggers
that listen, and say what to answer. The kind does the rest (`triggers.kinds.base`): what
the event does besides starting runs, and the answer; nothing here compares kind slugs.

Everything for one request happens in one transaction: the event row (unique on the dedupe
key and on the signed-content hash, so concurrent duplicates collapse to one), the runs it
starts, and the answer, which is stored so that a redelivery gets the very same answer and
starts nothing. Runs are handed to workers only after commit; no step runs before we answer.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.db.models import F, Q

from actions.validation import WHATSAPP_PREFIX
from triggers.inbound import UNSTORABLE, Inbound
from triggers.kinds.base import NOTHING, TWIML, Answer, Receipt, TriggerKind
from triggers.kinds.registry import answering_kind
from triggers.models import MatchStatus, Trigger, TriggerEvent, compile_pattern
from triggers.routing import Routing
from twilioflow.core import clock
from twilioflow.core.inserts import PreparedInsert, insert_prepare
from workflows.models import Run, WaitingFor

logger = logging.getLogger(__name__)

# Errors that come from what a request carried rather than from the database being down: the
# request is then stored without its parsed content (`webhook_receive`). Anything else (a
# lost database connection…) still raises, so that Twilio retries later.
_DATA_ERRORS = (DataError, ValueError, OverflowError, UnicodeError, RecursionError, TypeError)


def webhook_receive(
    *,
    connection,
    purpose: str,
    inbound: Inbound,
    routing: Routing,
    trigger: Trigger | None = None,
    base_url: str = "",
) -> Answer:
    """Store a signed request read by `triggers.inbound.inbound_read` and answer it.

    `inbound` is already sanitised; should the database still refuse something, the request
    is stored again as an invalid event (UNSTORABLE) with only its raw body, base64: 2xx
    always means exactly one stored event, and nothing escapes as a 500."""
    values = dict(
        connection=connection,
        purpose=purpose,
        kind_slug=inbound.kind_slug,
        params=inbound.params,
        payload=inbound.payload,
        dedupe_key=inbound.dedupe_key,
        headers=inbound.headers,
        trigger=trigger,
        base_url=base_url,
        signed_hash=inbound.signed_hash,
        invalid_code=inbound.invalid_code,
        invalid_reason=inbound.invalid_reason,
        raw_body=inbound.raw_body,
        raw_body_encoding=inbound.raw_body_encoding,
        routing=routing,
    )
    try:
        return event_receive(**values)
    except _DATA_ERRORS as error:
        logger.warning(
            "Webhook on connection %s stored without its content: %s: %s",
            connection.pk,
            type(error).__name__,
            str(error)[:200],
        )
    raw = (
        inbound.raw_body
        if inbound.raw_body_encoding
        else base64.b64encode(inbound.raw_body.encode("utf-8", "surrogatepass")).decode("ascii")
    )
    return event_receive(
        **{
            **values,
            "params": {},
            "payload": {},
            "headers": {},
            "invalid_code": UNSTORABLE,
            "invalid_reason": "The database refused this request's content; its raw body is kept.",
            "raw_body": raw,
            "raw_body_encoding": "base64",
        }
    )


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
    routing: Routing,
) -> Answer:
    """Store the event, let its kind act on it, start runs, and say what to answer.

    Dedupe: unique on (connection, dedupe_key) and on (connection, signed_hash) when given;
    either collision makes this a duplicate. An event with an `invalid_code` is stored as
    invalid, answered like an event that matched nothing, and starts or resumes nothing."""
    key = dedupe_key or f"uuid:{uuid.uuid4().hex}"
    event = TriggerEvent(
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
    # Reads first, outside the transaction: on SQLite it holds the one write lock, and every
    # request queues behind whatever is done while holding it. When the answer needs neither
    # the event's id nor its runs (an inbound message with no reply wait open: the common
    # case), it is worked out here too and stored with the event in its one INSERT.
    plan = None if invalid_code else _plan(connection, kind_slug, payload, trigger, routing)
    answer = _answer_before_storing(event, connection, plan, base_url) if plan is not None else None
    runs = _runs_before_storing(event, plan) if answer is not None and plan is not None else []
    # INSERT … ON CONFLICT DO NOTHING (both unique constraints: the dedupe key and the
    # signed-content hash): one statement, no savepoint, and on PostgreSQL no aborted
    # transaction to roll back when a concurrent delivery of the same request won the race.
    insert = insert_prepare(event, ignore_conflicts=True)
    with transaction.atomic():
        stored = _insert_once(insert)
        if stored:
            answer = _act(event, connection, plan, base_url, answer, runs)
    if not stored:
        return _duplicate(connection, key, signed_hash)
    assert answer is not None
    return answer


def _insert_once(insert: PreparedInsert) -> bool:
    """Store the event unless it is a redelivery (True: stored, its id set)."""
    return insert.execute()


def _answer_before_storing(event: TriggerEvent, connection, plan: _Plan, base_url: str) -> Answer | None:
    """The answer and outcome of an event whose kind `answers_before_storing` and that no
    waiting run can take (no receipt to wait for), set on the unsaved event; else None."""
    if not plan.kind.answers_before_storing or plan.receipt_needed:
        return None
    _outcome(event, connection, plan, NOTHING, plan.enabled)
    answer = plan.kind.answer(event=event, matching=plan.enabled, runs=(), base_url=base_url)
    event.response_body, event.response_content_type = answer.body, answer.content_type
    return answer


def _runs_before_storing(event: TriggerEvent, plan: _Plan) -> list[PreparedInsert]:
    """The runs an event answered before storing starts, their INSERTs compiled before the
    write transaction; they get the event's id once it has one."""
    from workflows.services import run_insert_prepare

    return [
        run_insert_prepare(
            _run_of(
                plan.kind,
                t,
                event,
                answering=i == 0,
                first_step=plan.routing.first_steps.get(t.workflow_id, ""),
            )
        )
        for i, t in enumerate(plan.enabled)
    ]


def _act(
    event: TriggerEvent,
    connection,
    plan: _Plan | None,
    base_url: str,
    answer: Answer | None,
    runs: list[PreparedInsert],
) -> Answer:
    """Inside the transaction, once the event is stored: what it does, its runs, and (when
    not known before) its answer, written to the event with one UPDATE."""
    from workflows.services import run_insert_prepared

    if plan is None:
        answer = _invalid_answer(event)
    else:
        plan.kind.on_stored(event=event, connection=connection)
        if answer is not None:  # answered before storing: only the runs are left to save
            for run in runs:
                run.set("trigger_event_id", event.pk)
                run_insert_prepared(run)
            return answer
        answer = _handle(event, connection, plan, base_url)
    event.response_body = answer.body
    event.response_content_type = answer.content_type
    event.save(
        update_fields=[
            "response_body",
            "response_content_type",
            "match_status",
            "runs_started",
            "reply_status",
            "reply_error_code",
            "reply_error_message",
            "match_reasons",
        ]
    )
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
    return Answer(
        first.response_body or answering_kind(first.kind).empty_answer().body,
        first.response_content_type or TWIML,
    )


def _invalid_answer(event: TriggerEvent) -> Answer:
    logger.info("Invalid %s webhook stored as event %s: %s", event.purpose, event.pk, event.invalid_reason)
    return answering_kind(event.kind).invalid_answer(event)


def _sid_of(payload: dict[str, Any]) -> str:
    for key in ("MessageSid", "CallSid", "RecordingSid", "SmsSid"):
        if payload.get(key):
            return str(payload[key])[:34]
    return ""


@dataclass
class _Plan:
    """What an event will do, worked out before the write transaction."""

    kind: type[TriggerKind]
    matching: list[Trigger]
    enabled: list[Trigger]
    receipt_needed: bool
    routing: Routing
    trigger: Trigger | None = None


def _plan(
    connection, kind_slug: str, payload: dict[str, Any], trigger: Trigger | None, routing: Routing
) -> _Plan:
    kind = answering_kind(kind_slug)
    if trigger is not None:
        candidates = [trigger] if trigger.kind == kind_slug else []
    else:
        candidates = routing.candidates(kind_slug)
    matching = [t for t in candidates if trigger_matches(t, payload, connection)]
    enabled = [t for t in matching if t.enabled and t.workflow.enabled]
    # A kind that resumes waiting runs has nothing to do when no wait is open on the
    # connection (known from the routing check, the usual case): skip its lookup.
    receipt_needed = not (kind.resumes_waiting_runs and not routing.open_waits)
    return _Plan(
        kind=kind,
        matching=matching,
        enabled=enabled,
        receipt_needed=receipt_needed,
        routing=routing,
        trigger=trigger,
    )


def _handle(event: TriggerEvent, connection, plan: _Plan, base_url: str) -> Answer:
    """The kind acts on the event (`on_receipt`), the enabled matching triggers start their
    runs (the first trigger is the answering one), and the kind answers."""
    from workflows.services import run_insert

    kind = plan.kind
    receipt = kind.on_receipt(event=event, connection=connection) if plan.receipt_needed else NOTHING
    enabled = plan.enabled
    if receipt.resumed:
        enabled = [t for t in enabled if t.fire_while_waiting]
    runs = [
        run_insert(
            _run_of(
                kind, t, event, answering=i == 0, first_step=plan.routing.first_steps.get(t.workflow_id, "")
            )
        )
        for i, t in enumerate(enabled)
    ]
    _outcome(event, connection, plan, receipt, enabled)
    return kind.answer(event=event, matching=enabled, runs=runs, base_url=base_url)


def _outcome(event: TriggerEvent, connection, plan: _Plan, receipt: Receipt, enabled: list[Trigger]) -> None:
    """What the event is marked: matched (runs started), resumed/tracked (the receipt),
    disabled (matching triggers all off) or no match, with the reasons for the last two."""
    if receipt.match_status:
        event.match_status = receipt.match_status
    if enabled:
        event.match_status = receipt.match_status if receipt.resumed else MatchStatus.MATCHED
    elif plan.matching and event.match_status == MatchStatus.NO_MATCH:
        event.match_status = MatchStatus.DISABLED
    event.runs_started = len(enabled)
    if event.match_status in (MatchStatus.NO_MATCH, MatchStatus.DISABLED):
        event.match_reasons = match_reasons(event, connection, plan)


def match_reasons(event: TriggerEvent, connection, plan: _Plan) -> list[dict[str, Any]]:
    """Why each trigger of the connection did not start a run for this event (only worked
    out when nothing started, so a matching request pays nothing for it)."""
    # A trigger's own URL: only that trigger could have listened.
    triggers = [plan.trigger] if plan.trigger is not None else plan.routing.triggers
    payload = event.payload
    return [
        {"trigger_id": t.pk, "name": t.name, "reasons": trigger_mismatches(t, payload, event.kind)}
        for t in triggers
    ]


def trigger_mismatches(trigger: Trigger, payload: dict[str, Any], kind: str | None = None) -> list[str]:
    """Every reason `trigger` does not start a run for `payload` (empty: it would)."""
    if kind is not None and trigger.kind != kind:
        return [f"listens for {trigger.kind}, not {kind}"]
    reasons = []
    if not trigger.enabled:
        reasons.append("the trigger is disabled")
    if not trigger.workflow.enabled:
        reasons.append(f"its workflow “{trigger.workflow.name}” is disabled")
    return [*reasons, *_filter_mismatches(trigger, payload)]


def trigger_matches(trigger: Trigger, payload: dict[str, Any], connection) -> bool:
    """Numbers (To), From pattern and first-word keyword; all that are set must match."""
    return next(_filter_mismatches(trigger, payload), None) is None


def _filter_mismatches(trigger: Trigger, payload: dict[str, Any]) -> Iterator[str]:
    """Why the trigger's filters refuse `payload`, lazily: matching stops at the first one,
    explaining an unmatched event (`trigger_mismatches`) lists them all."""
    if trigger.numbers:
        to = str(payload.get("To") or "").removeprefix(WHATSAPP_PREFIX)
        wanted = [str(n).removeprefix(WHATSAPP_PREFIX) for n in trigger.numbers]
        if to not in wanted:
            yield f"number filter: To {to or '(none)'} is not one of {', '.join(wanted)}"
    if trigger.from_pattern:
        pattern = compile_pattern(trigger.from_pattern)
        sender = str(payload.get("From") or "")
        if pattern is None:
            yield f"From pattern {trigger.from_pattern!r} is not a valid regular expression"
        elif not pattern.search(sender):
            yield f"From pattern: {sender or '(none)'} does not match {trigger.from_pattern}"
    keywords = trigger.keyword_list()
    if keywords:
        word = str(payload.get("keyword") or "").upper()
        if word not in keywords:
            yield f"keyword: the first word {word or '(none)'} is not one of {', '.join(keywords)}"


def _run_of(
    kind: type[TriggerKind],
    trigger: Trigger,
    event: TriggerEvent,
    *,
    answering: bool,
    first_step: str,
) -> Run:
    """The (unsaved) run of the trigger's workflow for this event. The answering trigger's
    run may wait for the input its answer asks for (a call's <Gather>)."""
    from workflows.services import run_build

    wait = kind.input_wait(trigger) if answering else None
    return run_build(
        workflow=trigger.workflow,
        payload=event.payload,
        source="trigger",
        trigger=trigger,
        event=event if event.pk else None,
        waiting_for=WaitingFor.REPLY if wait is not None else WaitingFor.NOTHING,
        wake_at=clock.now() + wait if wait is not None else None,
        first_step=first_step,
    )
