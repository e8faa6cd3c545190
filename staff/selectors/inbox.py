"""The shared inbox: conversations between a contact and one of our numbers, merged from the
messages they sent us (inbound trigger events) and the messages our runs sent them (the
send steps of any run: workflows, the inbox's own replies, commands, campaigns).

One conversation per (contact, our number), across SMS, MMS and WhatsApp (the `whatsapp:`
prefix is not part of either key). Everything is scoped to one workspace."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, IntegerField, Max, Q, QuerySet
from django.db.models.fields.json import KT

from actions.validation import WHATSAPP_PREFIX
from compliance.gate import WHATSAPP_SESSION
from compliance.selectors import consent_state, last_inbound
from compliance.services import strip_channel
from staff.models import ConversationRead, SentIndexState, SentMessage
from staff.selectors.buckets import NoIndex, first_pk_at
from triggers.models import MatchStatus, PhoneNumber, TriggerEvent
from twilioflow.core import clock
from workflows.models import StepKind, StepRun, StepStatus

INBOUND_KINDS = ("twilio/incoming-sms", "twilio/incoming-whatsapp")
MESSAGE_ACTIONS = ("twilio/send-sms", "twilio/send-mms", "twilio/send-whatsapp")
# A send that never reached Twilio's queue is still part of the story ("not sent: opted out").
OUTBOUND_STEP_STATUSES = (
    StepStatus.SUCCEEDED,
    StepStatus.FAILED,
    StepStatus.UNKNOWN,
    StepStatus.DISPATCHING,
)
CHANNELS = (("sms", "SMS"), ("mms", "MMS"), ("whatsapp", "WhatsApp"))
# What a send step's own status says before Twilio's first status callback.
STEP_DELIVERY = {
    StepStatus.SUCCEEDED.value: "queued",
    StepStatus.DISPATCHING.value: "dispatching",
    StepStatus.UNKNOWN.value: "unknown",
    StepStatus.FAILED.value: "failed",
}
PAGE_SIZE = 50
# How far back the conversation list looks, pass after pass (0: everything).
LOOKBACK_DAYS = (1, 4, 16, 64, 256, 0)
THREAD_LIMIT = 200


@dataclass
class Message:
    direction: str  # "in" | "out"
    at: dt.datetime
    channel: str  # "sms" | "mms" | "whatsapp"
    body: str
    media: list[dict[str, Any]]
    contact: str
    number: str
    connection_id: int | None
    sid: str = ""
    # Outbound only: the delivery status Twilio reported (or the step's, before any callback).
    status: str = ""
    error_code: str = ""
    error_message: str = ""
    run_id: int | None = None
    event_id: int | None = None

    @property
    def tick(self) -> tuple[str, str]:
        """(symbol, words) for an outbound message's delivery state."""
        return delivery_tick(self.status)


def delivery_tick(status: str) -> tuple[str, str]:
    return {
        "read": ("✓✓", "read"),
        "delivered": ("✓✓", "delivered"),
        "sent": ("✓", "sent"),
        "queued": ("◷", "queued"),
        "accepted": ("◷", "queued"),
        "sending": ("◷", "sending"),
        "dispatching": ("◷", "sending"),
        "undelivered": ("✕", "undelivered"),
        "failed": ("✕", "failed"),
        "canceled": ("✕", "canceled"),
        "unknown": ("?", "outcome unknown"),
    }.get(status, ("◷", status or "pending"))


@dataclass
class Conversation:
    contact: str
    number: str
    last_at: dt.datetime
    last_direction: str
    last_body: str = ""
    last_channel: str = "sms"
    count: int = 0
    unread: int = 0
    channels: set[str] = field(default_factory=set)

    @property
    def needs_reply(self) -> bool:
        return self.last_direction == "in"


def _variants(address: str) -> list[str]:
    return [address, WHATSAPP_PREFIX + address]


def _inbound(workspace_id: int) -> QuerySet[TriggerEvent]:
    return TriggerEvent.objects.filter(connection__workspace_id=workspace_id, kind__in=INBOUND_KINDS).exclude(
        match_status=MatchStatus.INVALID
    )


def _outbound(workspace_id: int) -> QuerySet[StepRun]:
    # The workspace is hidden from SQLite's planner: walking the workspace's runs (the whole
    # history) is what a time window (a step-run key range) is there to avoid.
    return StepRun.objects.alias(
        workspace=NoIndex(F("run__workspace_id"), output_field=IntegerField())
    ).filter(
        workspace=workspace_id,
        kind=StepKind.ACTION,
        action__in=MESSAGE_ACTIONS,
        status__in=OUTBOUND_STEP_STATUSES,
        inputs__has_key="To",
    )


def _inbound_channel(event: TriggerEvent) -> str:
    if event.kind == "twilio/incoming-whatsapp":
        return "whatsapp"
    payload = event.payload if isinstance(event.payload, dict) else {}
    return "mms" if payload.get("NumMedia") or payload.get("media") else "sms"


def _outbound_channel(action: str, inputs: dict[str, Any]) -> str:
    if action == "twilio/send-whatsapp":
        return "whatsapp"
    return "mms" if action == "twilio/send-mms" or inputs.get("MediaUrl") else "sms"


def _in_message(event: TriggerEvent) -> Message:
    payload = event.payload if isinstance(event.payload, dict) else {}
    media = [m for m in payload.get("media") or [] if isinstance(m, dict) and _safe_url(m.get("url"))]
    return Message(
        direction="in",
        at=event.received_at,
        channel=_inbound_channel(event),
        body=str(payload.get("Body") or ""),
        media=media,
        contact=strip_channel(event.from_number),
        number=strip_channel(event.to_number),
        connection_id=event.connection_id,
        sid=event.sid,
        event_id=event.pk,
    )


def _out_message(step: StepRun) -> Message:
    inputs = step.inputs if isinstance(step.inputs, dict) else {}
    urls = inputs.get("MediaUrl") or []
    urls = [urls] if isinstance(urls, str) else urls
    output = step.output if isinstance(step.output, dict) else {}
    body = str(inputs.get("Body") or "")
    if not body and inputs.get("ContentSid"):
        body = f"Template {inputs['ContentSid']}"
    code = step.delivery_error_code or step.twilio_error_code
    return Message(
        direction="out",
        at=step.started_at,
        channel=_outbound_channel(step.action, inputs),
        body=body,
        media=[{"url": u, "content_type": ""} for u in urls if _safe_url(u)],
        contact=strip_channel(inputs.get("To")),
        number=strip_channel(output.get("from") or inputs.get("From")),
        connection_id=step.connection_id,
        sid=step.twilio_sid,
        status=step.delivery_status or STEP_DELIVERY.get(str(step.status), str(step.status)),
        error_code=str(code) if code else step.error_code,
        error_message=step.error_message if step.status == StepStatus.FAILED else "",
        run_id=step.run_id,
    )


def _safe_url(url: Any) -> bool:
    return isinstance(url, str) and url.lower().startswith(("https://", "http://"))


def conversation_list(
    *,
    workspace_id: int,
    user,
    search: str = "",
    channel: str = "",
    number: str = "",
    needs_reply: bool = False,
    page: int = 1,
) -> tuple[list[Conversation], bool]:
    """Conversations newest first (one page), and whether there are more."""
    inbound = _inbound(workspace_id)
    outbound = _outbound(workspace_id).annotate(to=KT("inputs__To"), frm=KT("inputs__From"))
    search = search.strip()
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        in_filter = Q(payload__Body__icontains=search)
        out_filter = Q(inputs__Body__icontains=search)
        if len(digits) >= 3:
            in_filter |= Q(from_number__contains=digits)
            out_filter |= Q(to__contains=digits)
        inbound, outbound = inbound.filter(in_filter), outbound.filter(out_filter)
    if number:
        inbound = inbound.filter(to_number__in=_variants(number))
        outbound = outbound.filter(inputs__From__in=_variants(number))
    if channel == "whatsapp":
        inbound = inbound.filter(kind="twilio/incoming-whatsapp")
        outbound = outbound.filter(action="twilio/send-whatsapp")
    elif channel in ("sms", "mms"):
        inbound = inbound.filter(kind="twilio/incoming-sms")
        outbound = outbound.exclude(action="twilio/send-whatsapp")
        if channel == "mms":
            inbound = inbound.exclude(payload__NumMedia=0)
            outbound = outbound.filter(Q(action="twilio/send-mms") | Q(inputs__has_key="MediaUrl"))
        else:
            inbound = inbound.filter(Q(payload__NumMedia=0) | ~Q(payload__has_key="NumMedia"))
            outbound = outbound.filter(action="twilio/send-sms").exclude(inputs__has_key="MediaUrl")

    # Newest first, without grouping the whole history: conversations whose last message
    # falls in a recent window are exactly the newest ones, so look back one day, then four
    # times further each pass, until the page (and one more) is filled or nothing is older.
    needed = (max(page, 1) - 1) * PAGE_SIZE + PAGE_SIZE + 1
    now, earliest = clock.now(), None
    for window in LOOKBACK_DAYS:
        since = now - dt.timedelta(days=window) if window else None
        if since is not None and window > LOOKBACK_DAYS[0]:
            earliest = earliest or _earliest(workspace_id)
            if earliest is None or since <= earliest:
                since = None  # this window already covers everything: the last pass
        found = _group(inbound, outbound, since)
        pairs = [(key, entry) for key, entry in found.items() if key[0] and key[1]]
        if needs_reply:
            pairs = [(key, entry) for key, entry in pairs if entry["last"][1] == "in"]
        if len(pairs) >= needed or since is None:
            break
    conversations = [
        Conversation(contact=c, number=n, last_at=e["last"][0], last_direction=e["last"][1], count=e["count"])
        for (c, n), e in pairs
    ]
    conversations.sort(key=lambda c: (c.last_at, c.contact, c.number), reverse=True)
    start = (max(page, 1) - 1) * PAGE_SIZE
    shown = conversations[start : start + PAGE_SIZE]
    more = len(conversations) > start + PAGE_SIZE
    _fill_previews(shown, found, workspace_id=workspace_id, user=user)
    return shown, more


def _earliest(workspace_id: int) -> dt.datetime | None:
    """When the workspace's first message (either way) was."""
    first_in = _inbound(workspace_id).order_by("received_at").values_list("received_at", flat=True).first()
    first_out = _outbound(workspace_id).order_by("pk").values_list("started_at", flat=True).first()
    times = [t for t in (first_in, first_out) if t is not None]
    return min(times) if times else None


def _group(
    inbound: QuerySet[TriggerEvent], outbound: QuerySet[StepRun], since: dt.datetime | None
) -> dict[tuple[str, str], dict[str, Any]]:
    """(contact, number) → {"count", "last": (at, direction, row id)} for messages since `since`."""
    if since is not None:
        inbound = inbound.filter(received_at__gte=since)
        low = first_pk_at(StepRun, "started_at", since)
        outbound = outbound.filter(pk__gte=low, started_at__gte=since) if low else outbound.none()
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def merge(key: tuple[str, str], last_at, last_id: int, count: int, direction: str) -> None:
        entry = found.setdefault(key, {"count": 0, "last": None})
        entry["count"] += count
        if entry["last"] is None or last_at > entry["last"][0]:
            entry["last"] = (last_at, direction, last_id)

    sides = (
        (inbound, ("from_number", "to_number"), "received_at", "in"),
        (outbound, ("to", "frm"), "started_at", "out"),
    )
    for rows, (contact, number), moment, direction in sides:
        for row in (
            rows.order_by()
            .values(contact, number)
            .annotate(last_at=Max(moment), last_id=Max("id"), n=Count("id"))
        ):
            key = (strip_channel(row[contact]), strip_channel(row[number]))
            merge(key, row["last_at"], row["last_id"], row["n"], direction)
    return found


def _fill_previews(
    shown: list[Conversation], found: dict[tuple[str, str], dict[str, Any]], *, workspace_id: int, user
) -> None:
    """The last message's text and channel, and the unread count, for one page: three queries."""
    if not shown:
        return
    last_in = [found[(c.contact, c.number)]["last"][2] for c in shown if c.last_direction == "in"]
    last_out = [found[(c.contact, c.number)]["last"][2] for c in shown if c.last_direction == "out"]
    previews: dict[tuple[str, str, str], Message] = {}
    for event in TriggerEvent.objects.filter(pk__in=last_in):
        message = _in_message(event)
        previews[("in", message.contact, message.number)] = message
    for step in StepRun.objects.filter(pk__in=last_out):
        message = _out_message(step)
        previews[("out", message.contact, message.number)] = message
    reads = {
        (r.contact, r.number): r.read_at
        for r in ConversationRead.objects.filter(
            user=user, workspace_id=workspace_id, contact__in=[c.contact for c in shown]
        )
    }
    unread_filter = Q()
    for conversation in shown:
        pair = Q(
            from_number__in=_variants(conversation.contact), to_number__in=_variants(conversation.number)
        )
        since = reads.get((conversation.contact, conversation.number))
        unread_filter |= pair & Q(received_at__gt=since) if since else pair
    unread: dict[tuple[str, str], int] = {}
    for row in (
        _inbound(workspace_id)
        .filter(unread_filter)
        .values("from_number", "to_number")
        .annotate(n=Count("id"))
    ):
        key = (strip_channel(row["from_number"]), strip_channel(row["to_number"]))
        unread[key] = unread.get(key, 0) + row["n"]
    for conversation in shown:
        preview = previews.get((conversation.last_direction, conversation.contact, conversation.number))
        if preview is not None:
            conversation.last_body = preview.body or ("(media)" if preview.media else "")
            conversation.last_channel = preview.channel
        conversation.unread = unread.get((conversation.contact, conversation.number), 0)


# Step runs younger than this are read directly, not from the index: a row is indexed once,
# so it is only indexed when its inputs are surely written.
SENT_INDEX_LAG = dt.timedelta(minutes=5)
SENT_INDEX_BATCH = 20_000


def sent_index_refresh(*, now: dt.datetime | None = None) -> int:
    """Index the send steps written since the last call (in key order; the first call reads
    the whole history once). Returns the key up to which every step run is indexed."""
    state = SentIndexState.objects.first() or SentIndexState.objects.create(through_pk=0)
    horizon = first_pk_at(StepRun, "started_at", (now or clock.now()) - SENT_INDEX_LAG)
    if horizon is None:
        last = StepRun.objects.order_by("-pk").values_list("pk", flat=True).first()
        horizon = (last or 0) + 1
    through = state.through_pk
    while through < horizon - 1:
        upto = min(through + SENT_INDEX_BATCH, horizon - 1)
        rows = (
            StepRun.objects.filter(
                pk__gt=through, pk__lte=upto, kind=StepKind.ACTION, action__in=MESSAGE_ACTIONS
            )
            .annotate(to=KT("inputs__To"), frm=KT("inputs__From"))
            .values_list("pk", "run__workspace_id", "to", "frm")
        )
        SentMessage.objects.bulk_create(
            [
                SentMessage(
                    step_run_id=pk,
                    workspace_id=workspace_id,
                    contact=strip_channel(to)[:64],
                    number=strip_channel(frm)[:64],
                )
                for pk, workspace_id, to, frm in rows
                if to
            ],
            ignore_conflicts=True,
        )
        through = upto
        SentIndexState.objects.filter(pk=state.pk).update(through_pk=through)
    return through


def conversation_messages(
    *, workspace_id: int, contact: str, number: str, limit: int = THREAD_LIMIT
) -> list[Message]:
    """The thread, oldest first (the latest `limit` messages). Inbound messages by their
    indexed sender; outbound ones through `SentMessage`, plus the newest step runs read
    directly (the page polls this every few seconds)."""
    events = (
        _inbound(workspace_id)
        .filter(from_number__in=_variants(contact), to_number__in=_variants(number))
        .order_by("-received_at", "-id")[:limit]
    )
    through = sent_index_refresh()
    indexed = SentMessage.objects.filter(workspace_id=workspace_id, contact=contact, number=number)
    sends = _outbound(workspace_id)
    # The ids first (the thread index), then those rows by key: as one query with a subquery
    # SQLite scanned the step runs instead.
    ids = list(indexed.order_by("-step_run_id").values_list("step_run_id", flat=True)[:limit])
    # No ordering (the thread is sorted below): StepRun's default order would have SQLite
    # walk every run by time.
    steps = list(sends.filter(pk__in=ids).order_by()) + list(
        sends.filter(
            pk__gt=through, inputs__To__in=_variants(contact), inputs__From__in=_variants(number)
        ).order_by()
    )
    messages = [_in_message(e) for e in events] + [_out_message(s) for s in steps]
    messages.sort(key=lambda m: (m.at, m.direction == "out", m.event_id or m.run_id or 0))
    return messages[-limit:]


@dataclass
class ContactState:
    opted_out: bool
    consent_note: str
    whatsapp_open_until: dt.datetime | None
    whatsapp_last_inbound: dt.datetime | None


def contact_state(*, workspace_id: int, contact: str, number: str, now: dt.datetime) -> ContactState:
    """The contact's consent for SMS from this number, and their WhatsApp session window."""
    event = consent_state(workspace_id=workspace_id, contact=contact, channel="sms", senders=(number,))
    opted_out = event is not None and event.kind == "opt_out"
    note = ""
    if event is not None:
        how = event.keyword or event.get_source_display()
        note = f"{event.get_kind_display()} ({how}, {event.at:%Y-%m-%d %H:%M} UTC)"
    last = last_inbound(workspace_id=workspace_id, channel="whatsapp", contact=contact, sender=number)
    open_until = last + WHATSAPP_SESSION if last is not None and now - last < WHATSAPP_SESSION else None
    return ContactState(opted_out, note, open_until, last)


def our_numbers(workspace_id: int) -> list[str]:
    """The workspace's synced numbers (the inbox's number filter)."""
    return sorted(
        set(
            PhoneNumber.objects.filter(connection__workspace_id=workspace_id).values_list(
                "phone_number", flat=True
            )
        )
    )


def whatsapp_templates_used(workspace_id: int, limit: int = 20, days: int = 30) -> list[str]:
    """Content templates (HX…) this workspace sent in the last `days`: offered when the
    window is closed."""
    low = first_pk_at(StepRun, "started_at", clock.now() - dt.timedelta(days=days))
    if low is None:
        return []
    sids = (
        StepRun.objects.alias(workspace=NoIndex(F("run__workspace_id"), output_field=IntegerField()))
        .filter(
            pk__gte=low, workspace=workspace_id, action="twilio/send-whatsapp", inputs__has_key="ContentSid"
        )
        .annotate(sid=KT("inputs__ContentSid"))
        .order_by("-id")
        .values_list("sid", flat=True)[:500]
    )
    return list(dict.fromkeys(s for s in sids if s))[:limit]


def conversation_connection_id(messages: list[Message]) -> int | None:
    """The connection to reply through: the latest message's that has one."""
    for message in reversed(messages):
        if message.connection_id:
            return message.connection_id
    return None
