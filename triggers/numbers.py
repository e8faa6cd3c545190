"""The account's phone numbers: sync them from Twilio, point their webhooks at TwilioFlow
("route") and put the previous webhooks back ("restore").

Routing changes a client's live configuration, so it is careful: the number's current
webhooks are fetched fresh from Twilio and saved in `previous_webhooks` *before* the update
request is sent. Whatever happens to that request (500, timeout, crash), what to restore is
already recorded. Routing again never overwrites the recorded values with our own URLs.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from actions.services import action_execute
from connections.services import client_for_connection
from connections.webhook_urls import NUMBER_PURPOSES, public_base_url, webhook_urls
from triggers.kinds.registry import trigger_kinds
from triggers.models import PhoneNumber, Trigger
from twilioflow.core import clock
from twilioflow.core.errors import VALIDATION_ERROR, TwilioFlowError

CONFIGURE_ACTION = "twilio/configure-phone-number-webhooks"
# What we record before routing, and put back on restore: Twilio's names on the number.
WEBHOOK_FIELDS = ("sms_url", "sms_method", "voice_url", "voice_method", "status_callback",
                  "status_callback_method")
# Twilio's update parameter for each recorded field.
TWILIO_PARAMS = {
    "sms_url": "SmsUrl",
    "sms_method": "SmsMethod",
    "voice_url": "VoiceUrl",
    "voice_method": "VoiceMethod",
    "status_callback": "StatusCallback",
    "status_callback_method": "StatusCallbackMethod",
}
METHOD_FIELDS = ("sms_method", "voice_method", "status_callback_method")
PAGE_SIZE = 1000  # Twilio's maximum for IncomingPhoneNumbers
NO_AUTH_TOKEN = (
    "This connection has no Auth Token, so Twilio's webhook signatures cannot be checked and "
    "every request would be refused. Add the Auth Token to the connection first."
)


def _numbers_path(client, sid: str | None = None) -> str:
    return client.account_path(f"IncomingPhoneNumbers/{sid}.json" if sid else "IncomingPhoneNumbers.json")


def _clip(value: Any, field: str) -> str:
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
    records = client.list_records(
        _numbers_path(client), "incoming_phone_numbers", params={"PageSize": PAGE_SIZE}
    )
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
                "phone_number": _clip(record.get("phone_number"), "phone_number"),
                "friendly_name": _clip(record.get("friendly_name"), "friendly_name"),
                "sms_url": _clip(record.get("sms_url"), "sms_url"),
                "sms_method": _clip(record.get("sms_method"), "sms_method"),
                "voice_url": _clip(record.get("voice_url"), "voice_url"),
                "voice_method": _clip(record.get("voice_method"), "voice_method"),
                "status_callback": _clip(record.get("status_callback"), "status_callback"),
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


# --- route and restore ----------------------------------------------------------------------------
def _current_webhooks(connection, sid: str) -> dict[str, str]:
    """The number's webhook settings as Twilio has them right now."""
    client = client_for_connection(connection)
    record = client.get(_numbers_path(client, sid)).json() or {}
    return {field: str(record.get(field) or "") for field in WEBHOOK_FIELDS}


def _configure(connection, sid: str, settings_: dict[str, str]) -> dict[str, Any]:
    """Update the number's webhooks; returns Twilio's record (the action's output keys).

    Through the configure action when every value is set. That action leaves empty settings
    out ("not changed"), so clearing a URL (restoring one that was empty) posts the same
    update, empty strings included, through the connection's client."""
    if all(settings_.values()):
        result = action_execute(slug=CONFIGURE_ACTION, connection=connection,
                                inputs={"phoneNumberSid": sid, **settings_})
        if result.error is not None:
            raise result.error
        return result.output or {}
    client = client_for_connection(connection)
    response = client.post(_numbers_path(client, sid), data=settings_, idempotent=True)
    return response.json() or {}


def _apply(number: PhoneNumber, record: dict[str, Any], methods: dict[str, str]) -> list[str]:
    """Copy Twilio's answer onto the row; the fields changed."""
    number.sms_url = _clip(record.get("sms_url"), "sms_url")
    number.voice_url = _clip(record.get("voice_url"), "voice_url")
    number.status_callback = _clip(record.get("status_callback"), "status_callback")
    number.sms_method = _clip(record.get("sms_method") or methods.get("sms_method"), "sms_method")
    number.voice_method = _clip(record.get("voice_method") or methods.get("voice_method"), "voice_method")
    fields = ["sms_url", "voice_url", "status_callback", "sms_method", "voice_method"]
    for name in ("phone_number", "friendly_name"):
        if record.get(name):
            setattr(number, name, _clip(record[name], name))
            fields.append(name)
    return fields


def number_route(*, number: PhoneNumber, base_url: str | None = None) -> PhoneNumber:
    """Point the number's SMS, voice and status webhooks (all POST) at its connection's URLs.

    The previous settings are fetched from Twilio and committed to `previous_webhooks` first
    (kept as they are when already recorded). On an error the TwilioFlowError is raised: the
    previous settings stay recorded and nothing else on the row changes."""
    connection = number.connection
    urls = webhook_urls(connection=connection, base_url=base_url)
    if not connection.can_verify_webhooks:
        raise TwilioFlowError(VALIDATION_ERROR, NO_AUTH_TOKEN)
    if number.previous_webhooks is None:
        previous = {**_current_webhooks(connection, number.sid), "recorded_at": clock.now().isoformat()}
        # Conditional: two routings racing cannot record our own URLs as "previous".
        PhoneNumber.objects.filter(pk=number.pk, previous_webhooks__isnull=True).update(
            previous_webhooks=previous
        )
        number.refresh_from_db(fields=["previous_webhooks"])
    settings_ = {
        "SmsUrl": urls["messages"], "SmsMethod": "POST",
        "VoiceUrl": urls["voice"], "VoiceMethod": "POST",
        "StatusCallback": urls["status"], "StatusCallbackMethod": "POST",
    }
    record = _configure(connection, number.sid, settings_)
    fields = _apply(number, record, {"sms_method": "POST", "voice_method": "POST"})
    number.routed_at = clock.now()
    number.save(update_fields=[*fields, "routed_at"])
    return number


def number_restore(*, number: PhoneNumber) -> PhoneNumber:
    """Put the webhooks recorded before routing back exactly (an empty URL is cleared), then
    forget them. VALIDATION_ERROR when nothing was recorded."""
    previous = number.previous_webhooks
    if not isinstance(previous, dict) or not previous:
        raise TwilioFlowError(
            VALIDATION_ERROR,
            f"{number.phone_number} has no previous webhooks recorded (it was not routed to "
            "TwilioFlow here), so there is nothing to restore.",
        )
    values = {field: str(previous.get(field) or "") for field in WEBHOOK_FIELDS}
    for field in METHOD_FIELDS:
        values[field] = values[field] or "POST"  # Twilio's default; it refuses an empty method
    settings_ = {TWILIO_PARAMS[field]: value for field, value in values.items()}
    record = _configure(number.connection, number.sid, settings_)
    fields = _apply(number, record, values)
    number.previous_webhooks = None
    number.routed_at = None
    number.save(update_fields=[*fields, "previous_webhooks", "routed_at"])
    return number


# --- who listens ------------------------------------------------------------------------------------
def _bare(number: str) -> str:
    return str(number).removeprefix("whatsapp:")


def listening_candidates(connection_id: int) -> list[Trigger]:
    """The connection's enabled triggers (of enabled workflows) of kinds that arrive on a
    number's webhooks (messages, voice, status)."""
    return list(
        Trigger.objects.filter(connection_id=connection_id, enabled=True, workflow__enabled=True,
                               kind__in=_number_kinds())
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
        trigger for trigger in candidates
        if trigger.connection_id == number.connection_id
        and trigger.enabled and trigger.workflow.enabled and trigger.kind in kinds
        and (not trigger.numbers or ours in {_bare(n) for n in trigger.numbers})
    ]
