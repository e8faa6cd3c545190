"""Pacing: one shared schedule of send slots per sender, across every worker and machine.

`slot_reserve(key, rate)` books the sender's next free slot and says how long to wait for
it. The state is one number per sender, the next free slot (epoch seconds), moved forward
by 1/rate in a single atomic statement:

- the database (embedded default): one `UPDATE … RETURNING` on `PacingBucket` (SQLite ≥ 3.35
  and PostgreSQL alike), so two processes can never book the same slot;
- Redis when `REDIS_URL` is set: one Lua script (atomic in Redis), using Redis' clock.

A slot is booked only when it falls within `horizon` seconds; otherwise the caller gets
`None` and the time the sender is free again, and reschedules instead of sleeping. Idle time
is never banked (the slot restarts from now), so a sender never bursts above its rate.

`sender_rate` gives Twilio's throughput for a sender kind (long code 1/s, toll-free 3/s,
short code 100/s; a Messaging Service the sum of its senders, read from Twilio).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from campaigns.models import PacingBucket
from compliance.senders import (
    ALPHANUMERIC,
    LONG_CODE,
    MESSAGING_SERVICE,
    SHORT_CODE,
    TOLL_FREE,
    WHATSAPP,
    sender_kind,
)

logger = logging.getLogger(__name__)

# Twilio's default throughput per sender (messages per second).
KIND_RATES = {
    LONG_CODE: 1.0,
    TOLL_FREE: 3.0,
    SHORT_CODE: 100.0,
    ALPHANUMERIC: 10.0,
    WHATSAPP: 80.0,
}
KIND_LABELS = {
    LONG_CODE: "long code",
    TOLL_FREE: "toll-free",
    SHORT_CODE: "short code",
    ALPHANUMERIC: "alphanumeric sender ID",
    WHATSAPP: "WhatsApp sender",
}
FALLBACK_RATE = 1.0


@dataclass(frozen=True)
class Slot:
    granted: bool
    wait: float  # granted: seconds until the slot; refused: seconds until one may be free
    at: float = 0.0  # granted: the slot, in the bucket's clock (epoch seconds)
    count: int = 1  # granted: this many consecutive slots, 1/rate apart, from `at`


def bucket_key(*, connection_id: int, sender: str) -> str:
    """Throughput belongs to the sender in its Twilio account: campaigns sharing one share it."""
    return f"pace:{connection_id}:{sender.strip().lower()}"[:160]


# --- the database bucket --------------------------------------------------------------------
_RESERVE_SQL = (
    "UPDATE {table} SET next_at = (CASE WHEN next_at > %s THEN next_at ELSE %s END) + %s "
    "WHERE key = %s AND next_at <= %s RETURNING next_at"
)


def _db_reserve(key: str, interval: float, horizon: float, now: float, count: int = 1) -> Slot:
    table = connection.ops.quote_name(PacingBucket._meta.db_table)
    sql = _RESERVE_SQL.format(table=table)
    for _ in range(5):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [now, now, interval * count, key, now + horizon])
            row = cursor.fetchone()
        if row is not None:
            slot = float(row[0]) - interval * count
            return Slot(True, max(0.0, slot - now), slot, count)
        current = PacingBucket.objects.filter(key=key).values_list("next_at", flat=True).first()
        if current is None:
            try:
                with transaction.atomic():
                    PacingBucket.objects.create(key=key, next_at=0.0)
            except IntegrityError:
                pass  # another worker created it first
            continue
        if current > now + horizon:
            return Slot(False, current - horizon - now)
        # Created (or moved) by another worker between our two statements: ask again.
    return Slot(False, 0.05)


# --- the Redis bucket -----------------------------------------------------------------------
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
local count = tonumber(ARGV[3] or '1')
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if nxt > now + horizon then
  return {0, tostring(nxt - horizon - now)}
end
local slot = math.max(nxt, now)
redis.call('SET', KEYS[1], tostring(slot + interval * count), 'EX', 86400)
return {1, tostring(slot - now), tostring(slot)}
"""

_redis: Any = None


def _redis_script() -> Any:
    global _redis
    if _redis is None:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        _redis = client.register_script(_LUA)
    return _redis


def _redis_reserve(key: str, interval: float, horizon: float, count: int = 1) -> Slot:
    answer = _redis_script()(keys=[f"twilioflow:{key}"], args=[repr(interval), repr(horizon), str(count)])
    at = float(answer[2]) if len(answer) > 2 else 0.0
    return Slot(bool(int(answer[0])), max(0.0, float(answer[1])), at, count)


def pacing_backend() -> str:
    return "redis" if getattr(settings, "REDIS_URL", "") else "database"


def slot_reserve(
    key: str, rate: float, *, horizon: float = 5.0, backend: str | None = None, count: int = 1
) -> Slot:
    """Book the next slot of `key` at `rate` per second if it is within `horizon` seconds
    (`count`: that many consecutive slots, in the same statement)."""
    interval = 1.0 / max(rate, 0.001)
    count = max(1, int(count))
    if (backend or pacing_backend()) == "redis":
        return _redis_reserve(key, interval, horizon, count)
    return _db_reserve(key, interval, horizon, time.time(), count)


# --- how fast a sender may go ---------------------------------------------------------------
def sender_rate(*, sender: str, override: float | None = None, client: Any = None) -> tuple[float, str]:
    """(messages per second, why). A Messaging Service's rate is the sum of its senders'
    (read through `client` when given); without one, or when Twilio cannot say, 1/s."""
    if override:
        return float(override), "configured rate"
    kind = sender_kind(sender)
    if kind == MESSAGING_SERVICE:
        if client is not None:
            try:
                return _service_rate(client, sender)
            except Exception as error:
                logger.warning("Messaging Service %s: could not read its senders (%s)", sender, error)
        return FALLBACK_RATE, "Messaging Service (senders unknown: 1/s; set a rate to go faster)"
    if kind in KIND_RATES:
        return KIND_RATES[kind], f"sender: {KIND_LABELS[kind]}"
    return FALLBACK_RATE, "sender kind unknown"


def _service_rate(client: Any, service_sid: str) -> tuple[float, str]:
    total, counted = 0.0, []
    for path, key, kind in (
        (f"/v1/Services/{service_sid}/PhoneNumbers", "phone_numbers", None),
        (f"/v1/Services/{service_sid}/ShortCodes", "short_codes", SHORT_CODE),
    ):
        body = client.get(path, product="messaging", params={"PageSize": 1000}).json() or {}
        for item in body.get(key) or []:
            this = kind or sender_kind(str(item.get("phone_number") or ""))
            if this == SHORT_CODE or this in KIND_RATES:
                total += KIND_RATES.get(this, FALLBACK_RATE)
                counted.append(this)
    if not total:
        return FALLBACK_RATE, "Messaging Service with no senders found: 1/s"
    return total, f"Messaging Service: sum of {len(counted)} senders"
