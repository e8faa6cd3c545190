"""Writes: consent changes (keywords, 21610, admin, API, CSV), inbound activity, prices."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from twilio.twiml.messaging_response import MessagingResponse

from actions.validation import Invalid, e164, keyword_of
from compliance.models import (
    Channel,
    ConsentEvent,
    ConsentKind,
    ConsentSource,
    ContactActivity,
    PriceEntry,
)
from compliance.selectors import consent_channel, policy_of
from compliance.senders import WHATSAPP_PREFIX
from connections.services import client_for_connection
from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError, validation_error

logger = logging.getLogger(__name__)

# Twilio's default keyword sets (first word, case- and whitespace-insensitive).
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
# Opts out of every sender of the workspace, on every channel.
GLOBAL_OPT_OUT = frozenset({"STOPALL"})
# Twilio's error for a send to a recipient who replied STOP.
UNSUBSCRIBED_RECIPIENT = 21610


def strip_channel(address: Any) -> str:
    text = str(address or "").strip()
    return text[len(WHATSAPP_PREFIX) :] if text.lower().startswith(WHATSAPP_PREFIX) else text


def keyword_set(extra: str) -> frozenset[str]:
    return frozenset(k.strip().upper() for k in (extra or "").replace("\n", ",").split(",") if k.strip())


# --- consent ------------------------------------------------------------------------------
def consent_record(
    *,
    workspace,
    contact: str,
    kind: str,
    source: str,
    channel: str = Channel.SMS,
    sender: str = "",
    keyword: str = "",
    user=None,
    note: str = "",
    at=None,
) -> ConsentEvent:
    """Append one consent change. The state is derived from these (selectors.consent_state)."""
    if kind not in ConsentKind.values:
        raise validation_error({"kind": f"One of: {', '.join(ConsentKind.values)}."})
    if source not in ConsentSource.values:
        raise validation_error({"source": f"One of: {', '.join(ConsentSource.values)}."})
    channel = consent_channel(channel)
    if channel not in Channel.values:
        raise validation_error({"channel": f"One of: {', '.join(Channel.values)}."})
    return ConsentEvent.objects.create(
        workspace=workspace,
        contact=normalise_contact(contact, workspace.default_country),
        channel=channel,
        sender=strip_channel(sender),
        kind=kind,
        source=source,
        keyword=keyword[:40],
        user=user,
        note=note[:200],
        at=at or clock.now(),
    )


def normalise_contact(contact: str, default_country: str | None = None) -> str:
    """The contact as E.164 (`actions.validation.e164`, the cleaner every send uses), so a
    consent event and the send it must stop name the same number."""
    try:
        return e164(strip_channel(contact), default_country)
    except Invalid as exc:
        raise validation_error({"contact": str(exc)}) from None


def _classify(keyword: str, opt_out_type: str, policy) -> str | None:
    """ "opt_out" / "opt_in" / "help" / None, from Advanced Opt-Out's OptOutType (Twilio
    already decided) or the first word against the default and the workspace's keywords."""
    decided = opt_out_type.strip().upper()
    if decided in ("STOP", "START", "HELP"):
        return {"STOP": "opt_out", "START": "opt_in", "HELP": "help"}[decided]
    if keyword in OPT_OUT_KEYWORDS | keyword_set(policy.opt_out_keywords):
        return "opt_out"
    if keyword in OPT_IN_KEYWORDS | keyword_set(policy.opt_in_keywords):
        return "opt_in"
    if keyword in HELP_KEYWORDS | keyword_set(policy.help_keywords):
        return "help"
    return None


def inbound_help_text(*, payload: Mapping[str, Any], policy) -> str | None:
    """The workspace's help text when an inbound message asks for it (HELP/INFO, the policy's
    extra help keywords, Advanced Opt-Out's HELP), else None. Reads nothing: the inbound path
    works out its answer before it stores the event (`inbound_message_consent` writes)."""
    if _inbound_scope(payload) is None:
        return None
    decision = _classify(
        keyword_of(str(payload.get("Body") or "")), str(payload.get("OptOutType") or ""), policy
    )
    return (policy.help_text or None) if decision == "help" else None


def _inbound_scope(payload: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(channel, contact, our number) of an inbound message, or None when it has no usable
    sender (a short code or alphanumeric sender has no consent to record)."""
    raw_from = str(payload.get("From") or "")
    channel = Channel.WHATSAPP if raw_from.lower().startswith(WHATSAPP_PREFIX) else Channel.SMS
    contact, number = strip_channel(raw_from), strip_channel(payload.get("To"))
    if not contact.startswith("+") or not number:
        return None
    return channel, contact, number


def inbound_message_consent(*, connection, payload: Mapping[str, Any], policy=None) -> str | None:
    """Called for every inbound SMS/WhatsApp message a connection receives (once per event).

    Records when the contact last wrote (the WhatsApp session window), applies STOP / START
    keywords and Advanced Opt-Out's `OptOutType` as consent events, and returns the text to
    answer (the workspace's help text for HELP/INFO), or None to answer as usual. `policy`:
    the workspace's, when the caller has it (`policy_of`)."""
    workspace = connection.workspace
    scope_of = _inbound_scope(payload)
    if scope_of is None:
        return None
    channel, contact, number = scope_of
    now = clock.now()
    # One upsert, whether the contact wrote before or not (a reply storm from new contacts
    # after a campaign costs no SELECT and no savepoint per message).
    ContactActivity.objects.bulk_create(
        [
            ContactActivity(
                workspace=workspace, channel=channel, contact=contact, sender=number, last_inbound_at=now
            )
        ],
        update_conflicts=True,
        unique_fields=["workspace", "channel", "contact", "sender"],
        update_fields=["last_inbound_at"],
    )
    policy = policy or policy_of(workspace)
    keyword = keyword_of(str(payload.get("Body") or ""))
    opt_out_type = str(payload.get("OptOutType") or "")
    decision = _classify(keyword, opt_out_type, policy)
    if decision == "help":
        return policy.help_text or None
    if decision is None:
        return None
    kind = ConsentKind.OPT_OUT if decision == "opt_out" else ConsentKind.OPT_IN
    source = ConsentSource.ADVANCED_OPT_OUT if opt_out_type else ConsentSource.KEYWORD
    scopes: list[tuple[str, str]]
    if keyword in GLOBAL_OPT_OUT and kind == ConsentKind.OPT_OUT:
        scopes = [("", Channel.ALL)]
    else:
        service = str(payload.get("MessagingServiceSid") or "")
        scopes = [(number, channel)] + ([(service, channel)] if service else [])
    for sender, scope_channel in scopes:
        ConsentEvent.objects.create(
            workspace=workspace,
            contact=contact,
            channel=scope_channel,
            sender=sender,
            kind=kind,
            source=source,
            keyword=(opt_out_type or keyword)[:40],
            at=now,
        )
    return None


def reply_twiml(text: str) -> str:
    """The TwiML answer carrying `text` (a HELP reply)."""
    response = MessagingResponse()
    response.message(text)
    return str(response)


def consent_from_send_error(
    *, workspace, channel: str, to: str, sender: str, error: TwilioFlowError
) -> ConsentEvent | None:
    """Twilio refused a send with 21610 (the recipient replied STOP to that sender, maybe
    before we ever saw it): adopt it as an opt-out so we stop trying."""
    if error.twilio_code != UNSUBSCRIBED_RECIPIENT or not to:
        return None
    contact = strip_channel(to)
    if not contact.startswith("+"):
        return None
    return ConsentEvent.objects.create(
        workspace=workspace,
        contact=contact,
        channel=consent_channel(channel),
        sender=strip_channel(sender),
        kind=ConsentKind.OPT_OUT,
        source=ConsentSource.TWILIO_ERROR,
        keyword=str(UNSUBSCRIBED_RECIPIENT),
        note=error.message[:200],
    )


# --- CSV import ---------------------------------------------------------------------------
@dataclass
class ImportReport:
    created: int = 0
    problems: list[str] = field(default_factory=list)


CSV_HELP = (
    "Columns: phone (required), and optionally channel (sms, whatsapp, voice, all; default "
    "all), sender (blank = whole workspace), kind (opt_out or opt_in; default opt_out), note."
)


def consent_import_csv(*, workspace, text: str, user=None) -> ImportReport:
    """Import opt-outs (or opt-ins) from CSV, all or nothing: any bad row and none is kept."""
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    if "phone" not in columns:
        raise validation_error({"file": "The CSV needs a 'phone' column. " + CSV_HELP})
    report = ImportReport()
    rows: list[dict[str, str]] = []
    for line, raw in enumerate(reader, start=2):
        row = {str(k).strip().lower(): str(v or "").strip() for k, v in raw.items() if k}
        try:
            contact = normalise_contact(row.get("phone", ""), workspace.default_country)
        except TwilioFlowError as error:
            report.problems.append(f"line {line}: {error.message}")
            continue
        channel = row.get("channel") or Channel.ALL
        kind = row.get("kind") or ConsentKind.OPT_OUT
        if channel not in Channel.values:
            allowed = ", ".join(Channel.values)
            report.problems.append(f"line {line}: channel {channel!r} is not one of {allowed}.")
        elif kind not in ConsentKind.values:
            report.problems.append(f"line {line}: kind {kind!r} is not opt_out or opt_in.")
        else:
            rows.append(
                {
                    "contact": contact,
                    "channel": channel,
                    "kind": kind,
                    "sender": row.get("sender", ""),
                    "note": row.get("note", ""),
                }
            )
    if report.problems:
        return report
    now = clock.now()
    with transaction.atomic():
        ConsentEvent.objects.bulk_create(
            [
                ConsentEvent(
                    workspace=workspace,
                    contact=r["contact"],
                    channel=r["channel"],
                    sender=strip_channel(r["sender"]),
                    kind=r["kind"],
                    source=ConsentSource.CSV,
                    user=user,
                    note=r["note"][:200],
                    at=now,
                )
                for r in rows
            ]
        )
    report.created = len(rows)
    return report


# --- prices -------------------------------------------------------------------------------
def price_set(
    *,
    workspace,
    country: str,
    channel: str,
    price: Decimal | str,
    currency: str = "USD",
    source: str = "manual",
) -> PriceEntry:
    try:
        value = Decimal(str(price))
    except InvalidOperation:
        raise validation_error({"price": f"{price!r} is not a number."}) from None
    entry, _ = PriceEntry.objects.update_or_create(
        workspace=workspace,
        country=country.upper(),
        channel=channel,
        defaults={"price": value, "currency": currency.upper(), "source": source, "updated_at": clock.now()},
    )
    return entry


PRICING_PATH = "/v1/Messaging/Countries/{iso}"


def prices_refresh(*, connection, countries: Iterable[str], client=None) -> list[PriceEntry]:
    """Fetch outbound SMS/MMS prices per country from Twilio's Pricing API (through the
    connection's client, so the exchange is recorded and redacted like any other) and store
    the highest current price per channel (a conservative estimate across carriers)."""
    client = client or client_for_connection(connection)
    stored = []
    for iso in countries:
        iso = iso.strip().upper()
        body = client.get(PRICING_PATH.format(iso=iso), product="pricing").json() or {}
        currency = str(body.get("price_unit") or "USD").upper()
        best: dict[str, Decimal] = {}
        for carrier in body.get("outbound_sms_prices") or []:
            for item in carrier.get("prices") or []:
                kind = str(item.get("number_type") or "")
                try:
                    value = Decimal(str(item.get("current_price")))
                except InvalidOperation:
                    continue
                # "local"/"mobile"/"toll free"/"shortcode" SMS; Twilio prices MMS separately
                # under number types ending in "mms" on some routes.
                channel = "mms" if "mms" in kind.lower() else "sms"
                best[channel] = max(best.get(channel, value), value)
        if not best:
            raise TwilioFlowError(errors.NOT_FOUND, f"Twilio returned no SMS prices for {iso}.")
        for channel, value in best.items():
            stored.append(
                price_set(
                    workspace=connection.workspace,
                    country=iso,
                    channel=channel,
                    price=value,
                    currency=currency,
                    source="twilio",
                )
            )
    return stored
