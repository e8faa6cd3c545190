"""The account's phone numbers: sync them from Twilio, the URL Twilio must call for a
trigger, and which triggers listen on a number.

Routing a number's webhooks to TwilioFlow and restoring them are runs: see
`triggers.number_routing`."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from connections.services import client_for_connection, connection_exchanges_record
from connections.webhook_urls import NUMBER_PURPOSES, public_base_url, webhook_urls
from triggers.kinds.registry import trigger_kinds
from triggers.models import PhoneNumber, Trigger
from twilioflow.core import clock

PAGE_SIZE = 1000  # Twilio's maximum for IncomingPhoneNumbers


def numbers_path(client, sid: str | None = None) -> str:
    return client.account_path(f"IncomingPhoneNumbers/{sid}.json" if sid else "IncomingPhoneNumbers.json")


def clip_to_field(value: Any, field: str) -> str:
    return str(value or "")[: PhoneNumber._meta.get_field(field).max_length]  # type: ignore[union-attr]


# --- URLs -------------------------------------------------------------------------------------
def trigger_webhook_url(trigger: Trigger, *, base_url: str | None = None) -> str | None:
    """The URL Twilio must call for this trigger, or None for a polled kind (no URL needed).
    Generic webhooks have their own URL; the other kinds share their purpose's URL."""
    kind = trigger_kinds().get(trigger.kind)
    if kind is None or kind.purpose == "poll":
        return None
    base = public_base_url(base_url)
    if kind.purpose == "webhook":
        return f"{base}/hooks/twilio/{trigger.connection.public_id}/webhook/{trigger.public_id}"
    return webhook_urls(connection=trigger.connection, base_url=base)[kind.purpose]


# --- sync -------------------------------------------------------------------------------------
def numbers_sync(*, connection) -> dict[str, int]:
    """Mirror the account's IncomingPhoneNumbers (all pages) into PhoneNumber rows.

    Returns counts: total (on Twilio), created, updated, removed (no longer on the account),
    and conflicts (a SID already synced under another connection, left alone: one number
    belongs to one workspace here). Nothing is written when listing fails."""
    client = client_for_connection(connection)
    # The network first, outside any transaction: a slow Twilio must not hold the write lock.
    try:
        records = client.list_records(
            numbers_path(client), "incoming_phone_numbers", params={"PageSize": PAGE_SIZE}
        )
    finally:  # a read outside any run: kept in the connection's exchange log
        connection_exchanges_record(connection=connection, purpose="numbers_sync", exchanges=client.exchanges)
    records = [record for record in records if record.get("sid")]
    now = clock.now()
    counts = {"total": len(records), "created": 0, "updated": 0, "removed": 0, "conflicts": 0}
    with transaction.atomic():
        existing = {n.sid: n for n in PhoneNumber.objects.filter(connection=connection)}
        elsewhere = set(
            PhoneNumber.objects.exclude(connection=connection)
            .filter(sid__in=[record["sid"] for record in records])
            .values_list("sid", flat=True)
        )
        seen: set[str] = set()
        for record in records:
            sid = record["sid"]
            if sid in elsewhere:
                counts["conflicts"] += 1
                continue
            seen.add(sid)
            values = {
                "phone_number": clip_to_field(record.get("phone_number"), "phone_number"),
                "friendly_name": clip_to_field(record.get("friendly_name"), "friendly_name"),
                "sms_url": clip_to_field(record.get("sms_url"), "sms_url"),
                "sms_method": clip_to_field(record.get("sms_method"), "sms_method"),
                "voice_url": clip_to_field(record.get("voice_url"), "voice_url"),
                "voice_method": clip_to_field(record.get("voice_method"), "voice_method"),
                "status_callback": clip_to_field(record.get("status_callback"), "status_callback"),
                "capabilities": record.get("capabilities") or {},
                "synced_at": now,
            }
            number = existing.get(sid)
            if number is None:
                PhoneNumber.objects.create(connection=connection, sid=sid, **values)
                counts["created"] += 1
            else:
                for name, value in values.items():
                    setattr(number, name, value)
                number.save(update_fields=list(values))
                counts["updated"] += 1
        gone = [number.pk for sid, number in existing.items() if sid not in seen]
        if gone:
            PhoneNumber.objects.filter(pk__in=gone).delete()
        counts["removed"] = len(gone)
    return counts


# --- who listens ------------------------------------------------------------------------------------
def _bare(number: str) -> str:
    return str(number).removeprefix("whatsapp:")


def listening_candidates(connection_id: int) -> list[Trigger]:
    """The connection's enabled triggers (of enabled workflows) of kinds that arrive on a
    number's webhooks (messages, voice, status)."""
    return list(
        Trigger.objects.filter(
            connection_id=connection_id, enabled=True, workflow__enabled=True, kind__in=_number_kinds()
        )
        .select_related("workflow")
        .order_by("name", "id")
    )


def _number_kinds() -> set[str]:
    return {slug for slug, kind in trigger_kinds().items() if kind.purpose in NUMBER_PURPOSES}


def numbers_listening(number: PhoneNumber, *, candidates: list[Trigger] | None = None) -> list[Trigger]:
    """Enabled triggers on the number's connection that a request to this number can start:
    `listening_candidates` whose `numbers` filter is empty or names this number. Pass
    `candidates` (that function's result) to share one query across many numbers."""
    if candidates is None:
        candidates = listening_candidates(number.connection_id)
    kinds = _number_kinds()
    ours = _bare(number.phone_number)
    return [
        trigger
        for trigger in candidates
        if trigger.connection_id == number.connection_id
        and trigger.enabled
        and trigger.workflow.enabled
        and trigger.kind in kinds
        and (not trigger.numbers or ours in {_bare(n) for n in trigger.numbers})
    ]


def test_webhook_defaults(connection, kind_slug: str) -> dict[str, str]:
    """Parameters that make `send_test_webhook` match one of the connection's triggers of
    this kind out of the box: the `To` from an enabled trigger's numbers filter, else one of
    the connection's synced numbers; the `Body` from its keywords when it has some."""
    triggers = list(
        Trigger.objects.filter(connection=connection, kind=kind_slug, enabled=True).order_by("id")
    )
    values: dict[str, str] = {}
    with_numbers = next((t for t in triggers if t.numbers), None)
    if with_numbers is not None:
        values["To"] = str(with_numbers.numbers[0])
    else:
        synced = (
            PhoneNumber.objects.filter(connection=connection)
            .order_by("phone_number")
            .values_list("phone_number", flat=True)
            .first()
        )
        if synced:
            values["To"] = synced
    keyworded = [t for t in triggers if t.keyword_list()]
    if triggers and len(keyworded) == len(triggers):  # every trigger wants a keyword: send one
        values["Body"] = keyworded[0].keyword_list()[0]
    return values
