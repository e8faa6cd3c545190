"""Property-based (hypothesis): arbitrary *signed* requests never break the webhook endpoint.

Forms (POST and GET) built from Twilio's parameter names, realistic fixtures and hostile
values (NUL, lone surrogates, invalid UTF-8, 5,000-digit numbers, huge counts), and JSON
bodies with NaN/Infinity, 1e400, huge integers, surrogate escapes and deep nesting, each
signed with twilio's RequestValidator for the connection's token, go through the whole stack
(Django test client, middleware, view, services, database). Asserted for every example:
no exception escapes, the answer is 200 or (JSON that cannot be read) 400, and a 2xx stored
exactly one new event or counted exactly one duplicate. The same tests run on both CI legs.
"""

import hashlib
import json
import math
from urllib.parse import quote

import pytest
from django.db.models import Sum
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN
from tests.triggers.test_webhooks import FIXTURES
from triggers.inbound import PayloadRefused, json_parse
from triggers.kinds.base import INT_MAX, INT_MIN, MAX_MEDIA
from triggers.kinds.registry import trigger_kinds
from triggers.models import TriggerEvent

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

NAMES = [
    "MessageSid",
    "SmsSid",
    "SmsMessageSid",
    "AccountSid",
    "MessagingServiceSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "NumSegments",
    "MediaUrl0",
    "MediaContentType0",
    "MediaUrl9",
    "MessageStatus",
    "SmsStatus",
    "ErrorCode",
    "CallSid",
    "CallStatus",
    "CallDuration",
    "Duration",
    "SequenceNumber",
    "RecordingSid",
    "RecordingStatus",
    "RecordingDuration",
    "RecordingChannels",
    "ReferralNumMedia",
    "ProfileName",
    "WaId",
    "SipResponseCode",
    "Digits",
    "FromCity",
    "Timestamp",
]
HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff x",
    "9999999999999999999999999",
    "-1",
    "1e400",
    "NaN",
    "10000000",
    "9" * 5000,
    "x" * 3000,
    "whatsapp:",
    "whatsapp:+14155550123",
    "+14155550123",
    "0x10",
    "٣٠٠٠٣",
    "SM" + "0" * 32,
    "<Response/>",
    "]]>",
    "%00",
    "{{ trigger.Body }}",
]
# Every code point, surrogates included, with the ones databases choke on made frequent.
ANY_TEXT = st.text(
    st.one_of(st.sampled_from("\x00\ud800\udfff\ufffd"), st.characters(exclude_categories=())), max_size=40
)
VALUES = st.one_of(st.sampled_from(HOSTILE), ANY_TEXT, st.integers().map(str))


def _fixtures():
    found = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        data = json.loads(path.read_text())
        if path.parent.name != "new-messages" and "content_type" not in data:
            found.append({k: v for k, v in data.items() if isinstance(v, str)})
    return found


FORMS = st.tuples(
    st.sampled_from([{}, *_fixtures()]),
    st.lists(st.tuples(st.one_of(st.sampled_from(NAMES), ANY_TEXT.filter(bool)), VALUES), max_size=8),
    st.lists(st.sampled_from(NAMES), max_size=4),
)


def _encode(text: str) -> str:
    # What a client could put on the wire: UTF-8 (lone surrogates as their raw bytes, which
    # Django then decodes to U+FFFD), percent-encoded.
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _form_body(base, extra, dropped) -> str:
    pairs = [(k, v) for k, v in base.items() if k not in dropped] + list(extra)
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)


class Big:
    """A JSON number written as-is (Python could not even print a 5,000-digit int)."""

    def __init__(self, text):
        self.text = text


def _dump(value) -> str:
    if isinstance(value, Big):
        return value.text
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + _dump(v) for k, v in value.items()) + "}"
    return json.dumps(value)  # ensure_ascii: NUL and lone surrogates become \u escapes


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    ANY_TEXT,
    st.integers(min_value=19, max_value=6000).map(lambda n: Big("9" * n)),
    st.sampled_from([Big("1e400"), Big("-1e400"), Big("1e-400"), Big("-0"), Big("1" * 4301)]),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=25,
)
JSON_BODIES = st.one_of(
    JSON_VALUES.map(_dump),
    st.integers(min_value=1, max_value=100_000).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=1, max_value=5_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    ANY_TEXT.map(lambda t: t.encode("utf-8", "replace").decode("utf-8")),  # mostly not JSON
)


@pytest.fixture
def endpoint(client, connection, make_trigger):
    """Triggers of every webhook kind (so runs start), and a way to post signed requests."""
    for slug, kind in trigger_kinds().items():
        if kind.purpose not in ("poll", "webhook"):
            make_trigger(
                kind=slug,
                reply_message="Got {{ trigger.Body|default:'' }}" if kind.purpose == "messages" else "",
            )
    generic = make_trigger(kind="twilio/webhook")
    paths = {
        purpose: f"/hooks/twilio/{connection.public_id}/{purpose}"
        for purpose in ("messages", "voice", "status", "events")
    }
    paths["webhook"] = f"/hooks/twilio/{connection.public_id}/webhook/{generic.public_id}"
    return client, paths


def _state():
    return TriggerEvent.objects.count(), TriggerEvent.objects.aggregate(n=Sum("duplicates"))["n"] or 0


def _check(response, before, *, may_refuse: bool):
    count, duplicates = _state()
    allowed = {200, 400} if may_refuse else {200}
    assert response.status_code in allowed, (response.status_code, response.content[:300])
    if response.status_code == 200:
        assert (count, duplicates) in ((before[0] + 1, before[1]), (before[0], before[1] + 1))
        # Sanitising, not the last-resort fallback, is what makes these storable.
        assert not TriggerEvent.objects.filter(invalid_code="UNSTORABLE").exists()
    else:
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert (count, duplicates) == before


@PROPERTY
@given(
    purpose=st.sampled_from(["messages", "voice", "status", "webhook", "events"]),
    form=FORMS,
    method=st.sampled_from(["POST", "POST", "POST", "GET"]),
    token=st.one_of(st.none(), st.sampled_from(["tok-1", "tok-2", "x" * 2000])),
    repeat=st.booleans(),
)
def test_any_signed_form_is_stored_or_refused(endpoint, purpose, form, method, token, repeat):
    client, paths = endpoint
    body = _form_body(*form)
    path = paths[purpose]
    headers = {"I-Twilio-Idempotency-Token": token} if token else {}
    for _ in range(2 if repeat else 1):  # a retry must be a duplicate, not a second event
        before = _state()
        if method == "POST":
            signature = RequestValidator(AUTH_TOKEN).compute_signature(
                f"http://testserver{path}", QueryDict(body.encode())
            )  # what Django will parse
            response = client.post(
                path,
                data=body,
                content_type="application/x-www-form-urlencoded",
                HTTP_X_TWILIO_SIGNATURE=signature,
                headers=headers,
            )
        else:
            url = f"{path}?{body}" if body else path
            signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://testserver{url}", {})
            response = client.get(url, HTTP_X_TWILIO_SIGNATURE=signature, headers=headers)
        _check(response, before, may_refuse=False)
    if repeat:
        assert _state()[1] >= 1


@PROPERTY
@given(purpose=st.sampled_from(["events", "webhook"]), body=JSON_BODIES, repeat=st.booleans())
def test_any_signed_json_is_stored_or_refused(endpoint, purpose, body, repeat):
    client, paths = endpoint
    raw = body.encode("utf-8")
    path = f"{paths[purpose]}?bodySHA256={hashlib.sha256(raw).hexdigest()}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://testserver{path}", {})
    for _ in range(2 if repeat else 1):
        before = _state()
        response = client.generic(
            "POST", path, raw, content_type="application/json", HTTP_X_TWILIO_SIGNATURE=signature
        )
        _check(response, before, may_refuse=True)
        if response.status_code == 200:  # the original body is kept, once
            assert TriggerEvent.objects.filter(purpose=purpose, raw_body=body).count() == 1


def _assert_storable(value, depth=0):
    assert depth < 200
    if isinstance(value, str):
        assert "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    elif isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        assert -(2**63) <= value < 2**63
    elif isinstance(value, dict):
        for key, item in value.items():
            _assert_storable(key, depth + 1)
            _assert_storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _assert_storable(item, depth + 1)


@settings(max_examples=100, deadline=None, database=None)
@given(body=st.one_of(JSON_BODIES, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_json_parse_gives_storable_json_or_a_clear_refusal(body):
    try:
        value = json_parse(body.encode("utf-8", "surrogatepass"))
    except PayloadRefused as refused:
        assert refused.reason in ("NOT_JSON", "JSON_TOO_DEEP")
        return
    _assert_storable(value)
    json.dumps(value, allow_nan=False)


_PARAMS = st.dictionaries(
    st.one_of(st.sampled_from(NAMES), ANY_TEXT), st.lists(VALUES, max_size=3), max_size=12
)


@settings(max_examples=100, deadline=None, database=None)
@given(params=_PARAMS)
def test_every_kind_parses_anything(params):
    for kind in trigger_kinds().values():
        payload = kind.parse(params)
        kind.dedupe_key(params)
        kind.missing(params)
        if "media" in payload:
            assert len(payload["media"]) <= MAX_MEDIA and 0 <= payload["NumMedia"] <= MAX_MEDIA
        for key, value in payload.items():
            if isinstance(value, int) and not isinstance(value, bool) and key != "NumSegments":
                assert INT_MIN <= value <= INT_MAX, key
