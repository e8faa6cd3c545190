"""The shared slot schedule: concurrent workers never book the same slot, the pace never
bursts above the rate, and a sender's kind gives Twilio's throughput."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from django.conf import settings
from django.db import connection as db_connection

from campaigns.pacing import _db_reserve, _redis_reserve, sender_rate, slot_reserve


def _in_threads(count: int, work) -> list:
    results: list = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            got = work()
            with lock:
                results.extend(got)
        except BaseException as error:
            errors.append(error)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_database_bucket_gives_every_worker_its_own_slot():
    """Four threads (four database connections) book 40 slots at 20/s at the same instant:
    the slots are exactly 0, 0.05, 0.10 … 1.95 s away, none shared."""
    now = 1_000_000.0

    def work() -> list:
        return [_db_reserve("pace:test", 0.05, 60.0, now) for _ in range(10)]

    slots = _in_threads(4, work)
    assert all(slot.granted for slot in slots)
    waits = sorted(slot.wait for slot in slots)
    assert waits == pytest.approx([i * 0.05 for i in range(40)], abs=1e-6)


@pytest.mark.django_db(transaction=True)
def test_database_bucket_refuses_beyond_the_horizon_and_never_banks_idle_time():
    for _ in range(3):
        assert _db_reserve("pace:h", 1.0, 2.5, 500.0).granted
    refused = _db_reserve("pace:h", 1.0, 2.5, 500.0)
    assert not refused.granted and refused.wait == pytest.approx(0.5)
    # Long idle: the next slot is now, not a burst of the missed ones.
    later = [_db_reserve("pace:h", 1.0, 2.5, 10_000.0) for _ in range(2)]
    assert [s.wait for s in later] == [0.0, 1.0]


@pytest.mark.skipif(
    not settings.REDIS_URL, reason="REDIS_URL is not set (the PostgreSQL + Redis leg runs it)"
)
def test_redis_bucket_gives_every_worker_its_own_slot():
    import redis

    key = f"pace:test-{time.time_ns()}"
    redis.Redis.from_url(settings.REDIS_URL).delete(f"twilioflow:{key}")

    def work() -> list:
        return [_redis_reserve(key, 0.05, 60.0) for _ in range(10)]

    got = _in_threads(4, work)
    assert all(slot.granted for slot in got)
    slots = sorted(slot.at for slot in got)  # in Redis' clock: no client clock jitter
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert len(slots) == 40 and min(gaps) >= 0.05 - 1e-6  # distinct slots, at least 1/rate apart


@pytest.mark.django_db(transaction=True)
def test_slot_reserve_paces_real_time():
    started = time.monotonic()
    for _ in range(6):
        slot = slot_reserve("pace:real", 20.0, backend="database")
        assert slot.granted
        time.sleep(slot.wait)
    assert time.monotonic() - started >= 5 * 0.05 - 0.01


@pytest.mark.parametrize(
    ("sender", "rate"),
    [("+14155550100", 1.0), ("+18005550100", 3.0), ("12345", 100.0), ("ACME", 10.0), ("MG" + "a" * 32, 1.0)],
)
def test_sender_rate_follows_the_sender_kind(sender, rate):
    assert sender_rate(sender=sender)[0] == rate
    assert sender_rate(sender=sender, override=7.5) == (7.5, "configured rate")


def test_messaging_service_rate_is_the_sum_of_its_senders(twilio, connection):
    import responses

    from connections.services import client_for_connection

    service = "MG" + "b" * 32
    base = f"https://messaging.twilio.com/v1/Services/{service}"
    twilio.add(
        responses.GET,
        f"{base}/PhoneNumbers",
        json={"phone_numbers": [{"phone_number": "+14155550100"}, {"phone_number": "+18005550100"}]},
    )
    twilio.add(responses.GET, f"{base}/ShortCodes", json={"short_codes": [{"short_code": "12345"}]})
    rate, why = sender_rate(sender=service, client=client_for_connection(connection))
    assert rate == 104.0 and "sum of 3 senders" in why


@pytest.mark.django_db(transaction=True)
def test_database_bucket_books_several_consecutive_slots_in_one_statement():
    """A lane at a high rate books a few slots at once: they are its alone, and the next
    booking (any worker's) starts after the last of them."""
    batch = _db_reserve("pace:batch", 0.01, 60.0, 2_000.0, count=5)
    assert batch.granted and batch.count == 5 and batch.wait == 0.0
    after = _db_reserve("pace:batch", 0.01, 60.0, 2_000.0)
    assert after.wait == pytest.approx(0.05)
