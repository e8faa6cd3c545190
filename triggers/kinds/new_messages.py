"""`twilio/new-messages`: the polling trigger "New messages" (Prismatic's "New and Updated
Records" for Twilio). Nothing arrives from Twilio: `triggers/polling.py` lists the account's
Messages on the trigger's schedule and hands what is new to the workflow.

What a run sees as `trigger` (one run per poll that found new messages, none otherwise)::

    {"created": [<message>, ...], "updated": [], "cursor": "2024-08-24T18:05:09+00:00"}

* `created`: the messages sent since the previous poll, oldest first, each exactly as
  Twilio's REST API lists it (snake_case: `sid`, `from`, `to`, `body`, `status`,
  `direction`, `date_sent`, `num_media`, `num_segments`, `price`, `error_code`…), so
  `{% for m in trigger.created %}{{ m.from }}: {{ m.body }}{% endfor %}`.
* `updated`: always `[]`. Kept for the shape of the other polling triggers; listing cannot
  see a sent message's status change (use the message-status webhook trigger for that).
* `cursor`: the trigger's cursor after this poll (ISO 8601, UTC).

Messages without a `date_sent` (still queued or scheduled) are left out and picked up by a
later poll once Twilio has sent them.

Delivery semantics: **exactly-once per message by SID, at-least-once fetching.** Each poll
re-reads from the cursor (Twilio filters `DateSent>` by day, and a capped poll leaves the
cursor at the oldest message it read), so the same message is often fetched more than once;
a message is put in `created` only by the poll that first records it, as one TriggerEvent
per message keyed "poll:<trigger id>:<MessageSid>" (unique per connection), in the same
transaction as the run. A message therefore never appears in two runs' `created` lists,
and a poll that fails before commit records nothing, so the next poll delivers it.

For this kind `parse` takes one message record (the `sample`, or a record as listed) and
`parse_json` a whole `Messages.json` page (or a list of records): both give the payload a
poll that found just those messages would give.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from triggers.kinds.base import POLL, TriggerKind, join_key


def sent_at(record: Mapping[str, Any]) -> datetime | None:
    """The record's `date_sent` (RFC 2822, as the 2010 API writes dates); None while the
    message is queued or scheduled (same rules as actions.twilio.common.parse_twilio_date)."""
    value = record.get("date_sent")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _record(params: Mapping[str, Any]) -> dict[str, Any]:
    """A record from a str → str dict (the sample) or str → list form params."""
    record: dict[str, Any] = {}
    for name in params:
        value = params[name]
        if isinstance(value, list | tuple):
            value = value[0] if len(value) == 1 else list(value)
        record[name] = value
    return record


class NewMessages(TriggerKind):
    slug = "twilio/new-messages"
    title = "New messages (polling)"
    description = (
        "Checks the account's messages on a schedule (every poll_interval_minutes, optionally "
        "only From poll_from / To poll_to) and starts one run per poll that found new ones: "
        "{created: [messages, oldest first, as Twilio's API lists them], updated: [] (always "
        "empty), cursor}. Each message is delivered once, by SID; queued messages wait for a "
        "later poll. For status changes use the message-status trigger."
    )
    purpose = POLL
    sample = {
        "sid": "SM4de97eace92ad3413466f380fdfe9bba",
        "account_sid": "ACedc0c98e309617f60508111b164becbc",
        "messaging_service_sid": "MGa84cd3ebe540f1bbe40c5deecd8c4f4e",
        "from": "+14155550123",
        "to": "+15017122661",
        "body": "Is my order ready for pickup?",
        "status": "received",
        "direction": "inbound",
        "num_media": "0",
        "num_segments": "1",
        "price": "-0.00790",
        "price_unit": "USD",
        "api_version": "2010-04-01",
        "date_created": "Sat, 24 Aug 2024 18:05:09 +0000",
        "date_updated": "Sat, 24 Aug 2024 18:05:09 +0000",
        "date_sent": "Sat, 24 Aug 2024 18:05:09 +0000",
        "uri": "/2010-04-01/Accounts/ACedc0c98e309617f60508111b164becbc/Messages/"
        "SM4de97eace92ad3413466f380fdfe9bba.json",
    }

    @classmethod
    def matches(cls, params) -> bool:
        return True  # the only kind polled

    @classmethod
    def parse(cls, params) -> dict[str, Any]:
        if isinstance(params, list) or (isinstance(params, Mapping) and "messages" in params):
            return cls.parse_json(params)
        return cls.batch([_record(params)])

    @classmethod
    def parse_json(cls, body: Any) -> dict[str, Any]:
        """A `Messages.json` page ({"messages": [...], ...}) or a list of message records."""
        records = body.get("messages") if isinstance(body, Mapping) else body
        return cls.batch([r for r in records or [] if isinstance(r, Mapping)])

    @classmethod
    def batch(cls, records: Iterable[Mapping[str, Any]], *, cursor: datetime | None = None) -> dict[str, Any]:
        """The payload of one poll: the sent messages oldest first; `cursor` defaults to the
        newest one's date_sent."""
        sent = sorted(
            ((moment, dict(record)) for record in records if (moment := sent_at(record))),
            key=lambda pair: pair[0],
        )
        if cursor is None and sent:
            cursor = sent[-1][0]
        return {"created": [record for _, record in sent], "updated": [], "cursor": iso(cursor)}

    @classmethod
    def dedupe_key(cls, params) -> str | None:
        """The message SID; polling prefixes it with "poll:<trigger id>:"."""
        return join_key(_record(params).get("sid"))
