"""Polling triggers: list the account's messages on a schedule and start a run with the new
ones (kind `twilio/new-messages`; the payload and the delivery semantics are described in
`triggers/kinds/new_messages.py`: exactly-once per message by SID, at-least-once fetching).

One poll, `poll_trigger`:

1. GET `Messages.json` newest first, with `From`/`To` (the trigger's poll_from/poll_to) and
   `DateSent>` = the day of the lower bound. Twilio filters by whole days (UTC), so we
   stop paging ourselves at the first message sent before the lower bound: the cursor minus
   `LATE_SKEW` (messages that show up in the list a little late are still caught; the SID
   dedupe absorbs the overlap). A trigger that never found anything starts from its
   creation time. Messages without `date_sent` (queued, scheduled) are skipped: once sent,
   their date_sent is later than this poll, so a later poll finds them.
2. At most `cap` *unseen* messages per poll (messages this trigger already delivered are
   skipped while paging and do not count). Normal case: the cursor moves to the newest
   date_sent read. Capped (an unseen message was left over): the cursor stays where it was,
   so the next poll reads the same window again, skips what it delivered, and takes the
   next `cap` unseen messages: a backlog is delivered in full, `cap` per poll. A poll that
   takes exactly the last unseen message is not capped.
3. In one transaction, holding the trigger's row lock (so overlapping polls of one trigger
   serialise): one TriggerEvent per message not seen before (dedupe key
   "poll:<trigger id>:<MessageSid>"), one run with those messages, the new cursor. A failure
   before commit leaves nothing recorded, so the messages are delivered by a later poll.
4. A Twilio error records `last_poll_error` (code and message, never credentials) and
   leaves the cursor where it was; a success clears it. `last_polled_at` is always set.

A disabled trigger or workflow is not polled (its cursor stays, so re-enabling delivers
what was sent meanwhile, up to `cap` per poll). The schedule is a django-q2 `Schedule`
per enabled polling trigger, kept in step by `poll_schedule_sync` on every save/delete of a
Trigger (signals connected in `triggers/apps.py`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction

from actions.support.reconcile import parse_twilio_date
from triggers.kinds.new_messages import NewMessages, iso
from triggers.kinds.registry import trigger_kind_get
from triggers.models import MatchStatus, Trigger, TriggerEvent
from twilioflow.core import clock
from twilioflow.core.errors import VALIDATION_ERROR, TwilioFlowError

logger = logging.getLogger(__name__)

KIND = NewMessages.slug
MAX_MESSAGES = 10_000
PAGE_SIZE = 1000  # Twilio's maximum for Messages.json
LATE_SKEW = timedelta(minutes=5)
TASK = "triggers.polling.poll_trigger_task"
MAX_SCHEDULE_MINUTES = 32_767  # django-q2 Schedule.minutes is a PositiveSmallIntegerField
_KEY_CHUNK = 500
_INSERT_BATCH = 2000  # the backend lowers it to what its parameter limit allows


def is_polling(trigger: Trigger) -> bool:
    try:
        return trigger_kind_get(trigger.kind).purpose == "poll"
    except TwilioFlowError:
        return False


def dedupe_key(trigger_id: int, sid: str) -> str:
    return f"poll:{trigger_id}:{sid}"


# --- one poll ------------------------------------------------------------------------------
def poll_trigger(*, trigger: Trigger, cap: int = MAX_MESSAGES, now: datetime | None = None) -> dict[str, Any]:
    """Poll once. Returns {fetched, created, cursor, capped, run_id} (+ `error` when Twilio
    failed, `skipped` when the trigger or its workflow is disabled)."""
    if not is_polling(trigger):
        raise TwilioFlowError(VALIDATION_ERROR, f"Trigger {trigger.name!r} ({trigger.kind}) is not polled.")
    now = now or clock.now()
    result: dict[str, Any] = {
        "fetched": 0,
        "created": 0,
        "cursor": iso(trigger.poll_cursor),
        "capped": False,
        "run_id": None,
    }
    if not trigger.enabled or not trigger.workflow.enabled:
        result["skipped"] = "disabled"
        return result

    # From the cursor, with some overlap; a trigger that never found anything: its creation.
    cursor = trigger.poll_cursor
    lower = cursor - LATE_SKEW if cursor is not None else (trigger.created_at or now)
    try:
        messages, capped, read, newest = _fetch(trigger, lower=lower, cap=max(1, cap))
    except TwilioFlowError as error:
        text = f"{error.code}: {error.message}"[:1000]
        Trigger.objects.filter(pk=trigger.pk).update(last_polled_at=now, last_poll_error=text)
        trigger.last_polled_at, trigger.last_poll_error = now, text
        logger.warning("Poll of trigger %s failed: %s", trigger.pk, text)
        return {**result, "error": text}

    with transaction.atomic():
        locked = Trigger.objects.select_for_update().get(pk=trigger.pk)
        cursor = locked.poll_cursor
        if newest is not None and not capped:
            # Everything unseen in the window was taken: move to the newest date_sent read.
            # Capped: stay, so the next poll takes the unseen messages left behind.
            cursor = newest if cursor is None else max(cursor, newest)
        new = _record_new(locked, messages)
        run = None
        if new:
            run = _start_run(locked, NewMessages.batch([record for _, record in new], cursor=cursor))
        Trigger.objects.filter(pk=trigger.pk).update(
            poll_cursor=cursor, last_polled_at=now, last_poll_error=""
        )
    trigger.poll_cursor, trigger.last_polled_at, trigger.last_poll_error = cursor, now, ""
    return {
        **result,
        "fetched": read,
        "created": len(new),
        "cursor": iso(cursor),
        "capped": capped,
        "run_id": run.pk if run else None,
    }


def _fetch(
    trigger: Trigger, *, lower: datetime, cap: int
) -> tuple[list[tuple[datetime, dict]], bool, int, datetime | None]:
    """(unseen sent messages at or after `lower`, newest first, distinct SIDs; capped?;
    how many sent messages in the window were read, seen ones included; the newest
    date_sent read).

    Capped means an unseen message was left over, not merely that `cap` were taken. Only
    the unseen records of each page are kept (the page's parsed body is dropped with it)."""
    from connections.services import client_for_connection

    client = client_for_connection(trigger.connection)
    params: dict[str, Any] = {
        "DateSent>": lower.astimezone(UTC).date().isoformat(),
        "PageSize": min(PAGE_SIZE, cap),
    }
    if trigger.poll_from:
        params["From"] = trigger.poll_from
    if trigger.poll_to:
        params["To"] = trigger.poll_to
    found: list[tuple[datetime, dict]] = []
    seen: set[str] = set()
    read = 0
    newest: datetime | None = None
    for page in client.iter_pages(client.account_path("Messages.json"), params=params):
        records = (page.json() or {}).get("messages") or []
        known = _known_sids(trigger, [r.get("sid") for r in records if r.get("sid")])
        for record in records:
            sent = parse_twilio_date(record.get("date_sent"))
            sid = record.get("sid")
            if sent is None or not sid:
                continue  # queued or scheduled: a later poll picks it up once sent
            if sent < lower:
                return found, False, read, newest  # newest first: the rest is older still
            newest = sent if newest is None else max(newest, sent)
            if sid in seen or sid in known:
                read += sid not in seen
                continue  # delivered before, or moved to the next page while we were paging
            if len(found) >= cap:
                return found, True, read, newest  # an unseen one is left: the next poll takes it
            read += 1
            seen.add(sid)
            found.append((sent, record))
    return found, False, read, newest


def _known_sids(trigger: Trigger, sids: list[str]) -> set[str]:
    """The SIDs among `sids` this trigger already delivered."""
    keys = {dedupe_key(trigger.pk, sid): sid for sid in sids}
    known: set[str] = set()
    key_list = list(keys)
    for start in range(0, len(key_list), _KEY_CHUNK):
        known.update(
            keys[key]
            for key in TriggerEvent.objects.filter(
                connection_id=trigger.connection_id, dedupe_key__in=key_list[start : start + _KEY_CHUNK]
            ).values_list("dedupe_key", flat=True)
        )
    return known


def _record_new(trigger: Trigger, messages: list[tuple[datetime, dict]]) -> list[tuple[datetime, dict]]:
    """Store one event per message never delivered by this trigger; those messages."""
    keys = [dedupe_key(trigger.pk, record["sid"]) for _, record in messages]
    known: set[str] = set()
    for start in range(0, len(keys), _KEY_CHUNK):
        known.update(
            TriggerEvent.objects.filter(
                connection_id=trigger.connection_id, dedupe_key__in=keys[start : start + _KEY_CHUNK]
            ).values_list("dedupe_key", flat=True)
        )
    new = [(sent, record) for key, (sent, record) in zip(keys, messages, strict=True) if key not in known]
    TriggerEvent.objects.bulk_create(
        [
            TriggerEvent(
                connection_id=trigger.connection_id,
                trigger=trigger,
                purpose="poll",
                kind=KIND,
                dedupe_key=dedupe_key(trigger.pk, record["sid"]),
                payload=record,
                sid=str(record["sid"])[:34],
                from_number=str(record.get("from") or "")[:64],
                to_number=str(record.get("to") or "")[:64],
                match_status=MatchStatus.MATCHED,
                runs_started=1,
            )
            for _, record in new
        ],
        batch_size=_INSERT_BATCH,
    )
    return new


def _start_run(trigger: Trigger, payload: dict[str, Any]):
    from workflows.services import run_create

    return run_create(workflow=trigger.workflow, payload=payload, source="trigger", trigger=trigger)


# --- the schedule --------------------------------------------------------------------------
def schedule_name(trigger_id: int) -> str:
    return f"twilioflow: poll trigger {trigger_id}"


def poll_schedule_sync(trigger: Trigger):
    """Create, update or delete the trigger's django-q2 Schedule: one for an enabled polling
    trigger (every poll_interval_minutes, at least 1), none otherwise (disabled, deleted,
    or another kind). Returns the Schedule or None."""
    from django_q.models import Schedule

    existing = None
    if trigger.poll_schedule_id:
        existing = Schedule.objects.filter(pk=trigger.poll_schedule_id).first()
    if existing is None and trigger.pk is not None:
        existing = Schedule.objects.filter(name=schedule_name(trigger.pk), func=TASK).first()
    alive = trigger.pk is not None and Trigger.objects.filter(pk=trigger.pk).exists()
    if not (alive and trigger.enabled and is_polling(trigger)):
        if existing is not None:
            existing.delete()  # SET_NULL clears Trigger.poll_schedule by an update (no signal)
        trigger.poll_schedule = None
        return None

    minutes = min(MAX_SCHEDULE_MINUTES, max(1, trigger.poll_interval_minutes or 1))
    if existing is None:
        schedule = Schedule.objects.create(
            name=schedule_name(trigger.pk),
            func=TASK,
            args=repr(trigger.pk),
            schedule_type=Schedule.MINUTES,
            minutes=minutes,
            repeats=-1,
            next_run=clock.now(),
        )
    else:
        schedule = existing
        values = {
            "name": schedule_name(trigger.pk),
            "func": TASK,
            "args": repr(trigger.pk),
            "schedule_type": Schedule.MINUTES,
            "minutes": minutes,
            "repeats": -1,
        }
        changed = [name for name, value in values.items() if getattr(schedule, name) != value]
        soonest = clock.now() + timedelta(minutes=minutes)
        if schedule.next_run is None or schedule.next_run > soonest:  # a shorter interval
            schedule.next_run = soonest
            changed.append("next_run")
        if changed:
            for name, value in values.items():
                setattr(schedule, name, value)
            schedule.save(update_fields=changed)
    if trigger.poll_schedule_id != schedule.pk:
        Trigger.objects.filter(pk=trigger.pk).update(poll_schedule=schedule)  # no post_save
        trigger.poll_schedule = schedule
    return schedule


def on_trigger_saved(sender, instance: Trigger, raw: bool = False, **kwargs) -> None:
    if not raw:
        poll_schedule_sync(instance)


def on_trigger_deleted(sender, instance: Trigger, **kwargs) -> None:
    poll_schedule_sync(instance)


# --- the task ------------------------------------------------------------------------------
def poll_trigger_task(trigger_id: int) -> dict[str, Any]:
    """django-q2 entry point of a trigger's Schedule."""
    trigger = Trigger.objects.select_related("connection", "workflow").filter(pk=trigger_id).first()
    if trigger is None:
        from django_q.models import Schedule

        Schedule.objects.filter(name=schedule_name(trigger_id), func=TASK).delete()
        return {"skipped": "not found"}
    return poll_trigger(trigger=trigger)
