"""Sender kinds against channels and destinations; quiet hours across DST in two zones."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from compliance.quiet import quiet_until, recipient_zones
from compliance.senders import sender_kind, sender_problem

US, FR = "+14155552671", "+33612345678"
MG = "MG" + "a" * 32


@pytest.mark.parametrize(
    "sender,kind",
    [
        ("+15017122661", "long_code"),
        ("+18005550199", "toll_free"),
        ("12345", "short_code"),
        ("123456", "short_code"),
        ("AcmeDental", "alphanumeric"),
        ("Acme 24", "alphanumeric"),
        ("whatsapp:+14155238886", "whatsapp"),
        (MG, "messaging_service"),
        ("1234", "unknown"),
        ("1234567", "unknown"),
        ("ABCDEFGHIJKL", "unknown"),
        ("12345678901", "unknown"),
        ("Acme-Dental", "unknown"),
        ("whatsapp:12", "unknown"),
        ("", "unknown"),
    ],
)
def test_sender_kinds(sender, kind):
    assert sender_kind(sender) == kind


@pytest.mark.parametrize(
    "channel,sender,to,ok",
    [
        ("sms", "+15017122661", US, True),
        ("sms", "+18005550199", US, True),
        ("sms", "12345", US, True),
        ("sms", MG, US, True),
        ("sms", "AcmeDental", FR, True),
        ("sms", "AcmeDental", US, False),
        ("sms", "AcmeDental", "+16135550123", False),  # Canada
        ("mms", "AcmeDental", FR, False),
        ("sms", "whatsapp:+14155238886", US, False),
        ("mms", "whatsapp:+14155238886", US, False),
        ("whatsapp", "whatsapp:+14155238886", "whatsapp:" + US, True),
        ("whatsapp", "+14155238886", "whatsapp:" + US, False),
        ("whatsapp", MG, "whatsapp:" + US, True),
        ("call", "+15017122661", US, True),
        ("call", "12345", US, False),
        ("call", "whatsapp:+14155238886", US, False),
        ("sms", "nope!", US, False),
    ],
)
def test_sender_fits_channel_and_destination(channel, sender, to, ok):
    assert (sender_problem(channel, sender, to) is None) is ok


NY, PARIS = ZoneInfo("America/New_York"), ZoneInfo("Europe/Paris")
NINE_PM, EIGHT_AM = dt.time(21), dt.time(8)


def utc(*args):
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "zone,moment,opens",
    [
        # New York, spring forward (2024-03-10 02:00 EST → 03:00 EDT): 01:00 EST waits until
        # 08:00 EDT, which is 12:00 UTC (not 13:00).
        (NY, utc(2024, 3, 10, 6, 0), utc(2024, 3, 10, 12, 0)),
        # Fall back (2024-11-03 02:00 EDT → 01:00 EST): 08:00 EST is 13:00 UTC.
        (NY, utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 13, 0)),
        # 22:00 EDT the evening before the change: wait to 08:00 EST next morning.
        (NY, utc(2024, 11, 3, 2, 0), utc(2024, 11, 3, 13, 0)),
        # Paris, spring forward (2024-03-31 02:00 CET → 03:00 CEST): 08:00 CEST is 06:00 UTC.
        (PARIS, utc(2024, 3, 30, 21, 30), utc(2024, 3, 31, 6, 0)),
        # Paris, fall back (2024-10-27 03:00 CEST → 02:00 CET): 08:00 CET is 07:00 UTC.
        (PARIS, utc(2024, 10, 26, 23, 0), utc(2024, 10, 27, 7, 0)),
        # Inside the window: no wait. 12:00 New York, 12:00 Paris.
        (NY, utc(2024, 3, 10, 16, 0), None),
        (PARIS, utc(2024, 10, 27, 11, 0), None),
        # Edges: 20:59 local sends, 21:00 waits, 08:00 sends.
        (PARIS, utc(2024, 7, 1, 18, 59), None),
        (PARIS, utc(2024, 7, 1, 19, 0), utc(2024, 7, 2, 6, 0)),
        (PARIS, utc(2024, 7, 2, 6, 0), None),
    ],
)
def test_quiet_hours_across_dst(zone, moment, opens):
    assert quiet_until(moment, [zone], NINE_PM, EIGHT_AM) == opens


def test_recipient_zone_from_the_number_else_the_workspace():
    assert [z.key for z in recipient_zones("+33612345678", "UTC")] == ["Europe/Paris"]
    assert [z.key for z in recipient_zones("+12125550123", "UTC")] == ["America/New_York"]
    assert [z.key for z in recipient_zones("whatsapp:+33612345678", "UTC")] == ["Europe/Paris"]
    assert [z.key for z in recipient_zones("not a number", "Asia/Tokyo")] == ["Asia/Tokyo"]


def test_a_number_spanning_zones_waits_until_open_in_all():
    la = ZoneInfo("America/Los_Angeles")
    # 07:00 in New York is 04:00 in Los Angeles: open only at 08:00 Los Angeles.
    moment = utc(2024, 7, 1, 11, 0)
    assert quiet_until(moment, [NY, la], NINE_PM, EIGHT_AM) == utc(2024, 7, 1, 15, 0)
