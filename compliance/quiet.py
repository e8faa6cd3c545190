"""Quiet hours in the recipient's time zone.

The zone comes from the number (`phonenumbers.timezone`); a number whose country spans
several zones (a US mobile, say) must be outside quiet hours in every one of them, and the
send waits until the window is open in all. Unknown numbers use the workspace's zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_timezone

UNKNOWN_ZONE = "Etc/Unknown"


def recipient_zones(address: str, fallback: str) -> list[ZoneInfo]:
    text = address.split(":", 1)[1] if address.lower().startswith("whatsapp:") else address
    names: tuple[str, ...] = ()
    try:
        number = phonenumbers.parse(text, None)
        names = tuple(number_timezone.time_zones_for_number(number))
    except phonenumbers.NumberParseException:
        pass
    zones = []
    for name in names:
        if name == UNKNOWN_ZONE:
            continue
        try:
            zones.append(ZoneInfo(name))
        except ZoneInfoNotFoundError:
            continue
    return zones or [ZoneInfo(fallback or "UTC")]


def is_quiet(local: dt.time, start: dt.time, end: dt.time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the window wraps midnight


def opens_at(moment: dt.datetime, zone: ZoneInfo, end: dt.time) -> dt.datetime:
    """The first `end` o'clock (local wall time) in `zone` after `moment` (aware)."""
    local = moment.astimezone(zone)
    candidate = dt.datetime.combine(local.date(), end, tzinfo=zone)
    if candidate.astimezone(dt.UTC) <= moment:
        candidate = dt.datetime.combine(local.date() + dt.timedelta(days=1), end, tzinfo=zone)
    # A wall time that does not exist (inside a spring-forward gap) normalises forward.
    return candidate.astimezone(dt.UTC)


def quiet_until(
    moment: dt.datetime, zones: list[ZoneInfo], start: dt.time, end: dt.time
) -> dt.datetime | None:
    """None when `moment` is outside quiet hours in every zone; else when it opens in all."""
    at = moment
    for _ in range(8):
        waiting = [z for z in zones if is_quiet(at.astimezone(z).time(), start, end)]
        if not waiting:
            return None if at == moment else at
        at = max(opens_at(at, zone, end) for zone in waiting)
    return at  # zones too far apart to share a window: the latest opening found
