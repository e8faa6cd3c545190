"""Reads: the current consent of a contact, the last time they wrote, today's spend, prices."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Q, Sum

from compliance.models import (
    Channel,
    ConsentEvent,
    ConsentKind,
    ContactActivity,
    PriceEntry,
    SendLedger,
    SendPolicy,
)


def consent_channel(channel: str) -> str:
    """The consent channel a send channel falls under ("mms" is SMS, "call" is voice)."""
    return {
        "sms": Channel.SMS,
        "mms": Channel.SMS,
        "whatsapp": Channel.WHATSAPP,
        "call": Channel.VOICE,
        "voice": Channel.VOICE,
    }.get(channel, channel)


def consent_state(
    *, workspace_id: int, contact: str, channel: str, senders: tuple[str, ...] = ()
) -> ConsentEvent | None:
    """The event that decides whether `contact` may be sent `channel` from any of `senders`:
    the latest among every event whose scope covers the send (this sender or the whole
    workspace; this channel or all). An opt-out wins when it is the latest; None when the
    contact never changed consent. Derived on every read, never stored."""
    channel = consent_channel(channel)
    scope = Q(sender="") | Q(sender__in=[s for s in senders if s])
    return (
        ConsentEvent.objects.filter(
            scope, workspace_id=workspace_id, contact=contact, channel__in=[channel, Channel.ALL]
        )
        .order_by("-at", "-id")
        .first()
    )


def is_opted_out(*, workspace_id: int, contact: str, channel: str, senders: tuple[str, ...] = ()) -> bool:
    event = consent_state(workspace_id=workspace_id, contact=contact, channel=channel, senders=senders)
    return event is not None and event.kind == ConsentKind.OPT_OUT


def last_inbound(
    *, workspace_id: int, channel: str, contact: str, sender: str | None = None
) -> dt.datetime | None:
    """When `contact` last wrote to `sender` (any of our senders when None) on `channel`."""
    rows = ContactActivity.objects.filter(workspace_id=workspace_id, channel=channel, contact=contact)
    if sender:
        rows = rows.filter(sender=sender)
    return rows.order_by("-last_inbound_at").values_list("last_inbound_at", flat=True).first()


def day_bounds(moment: dt.datetime, zone_name: str) -> tuple[dt.datetime, dt.datetime]:
    zone = ZoneInfo(zone_name or "UTC")
    day = moment.astimezone(zone).date()
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start, end


def spend_on_day(*, workspace, moment: dt.datetime, currency: str) -> Decimal:
    """Estimated spend of real (non-sandbox) sends on `moment`'s day, workspace's zone."""
    start, end = day_bounds(moment, workspace.time_zone)
    total = SendLedger.objects.filter(
        workspace=workspace, at__gte=start, at__lt=end, sandbox=False, currency=currency
    ).aggregate(total=Sum("estimated_cost"))["total"]
    return Decimal(total or 0)


def price_for(*, workspace_id: int, country: str | None, channel: str) -> PriceEntry | None:
    if not country:
        return None
    return PriceEntry.objects.filter(workspace_id=workspace_id, country=country, channel=channel).first()


def policy_get(workspace) -> SendPolicy:
    """The workspace's policy, created with the defaults on first use."""
    policy, _ = SendPolicy.objects.get_or_create(workspace=workspace)
    return policy


def policy_of(workspace) -> SendPolicy:
    """The policy already loaded with `workspace`, else `policy_get`. The webhook routing
    cache (`triggers.routing`) loads it with the connection and revalidates it against the
    policy's `updated_at` on every request, so an inbound message reads no policy row; an
    unsaved default stands in while a workspace has none."""
    if type(workspace).send_policy.is_cached(workspace):
        return workspace.send_policy
    return policy_get(workspace)


def sandbox_workspace_names(workspace_ids: Iterable[int], limit: int = 5) -> list[str]:
    """Names of these workspaces whose send policy is in sandbox mode (for the admin banner)."""
    return list(
        SendPolicy.objects.filter(sandbox=True, workspace_id__in=list(workspace_ids))
        .order_by("workspace__name")
        .values_list("workspace__name", flat=True)[:limit]
    )
