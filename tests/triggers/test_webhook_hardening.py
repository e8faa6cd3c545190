"""Issue 8: replayed webhooks, invalid signed requests and signed requests that used to crash
the server. Every request here passes its signature (computed with twilio's own
RequestValidator for the connection's token); the rule under test is: 2xx and exactly one
stored event, or a 4xx with a stable code, never an exception. Runs on both CI legs."""

import base64
import hashlib
import json
import time
from urllib.parse import quote, urlencode

import pytest
from django.http import QueryDict
from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN
from tests.triggers.test_webhooks import fixture, signed_post
from triggers.inbound import MAX_JSON_DEPTH, clean_json, json_parse
from triggers.kinds.base import MAX_MEDIA, media_of, to_count, to_int
from triggers.kinds.registry import trigger_kind_get
from triggers.models import MatchStatus, TriggerEvent
from workflows.models import ReplyWait, Run, RunStatus, StepRun, WaitingFor
from workflows.services import run_create, run_execute_inline

FORM = "application/x-www-form-urlencoded"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def hook(connection, purpose):
    return f"/hooks/twilio/{connection.public_id}/{purpose}"


def post_form_body(client, path, body: str, signed_params, *, headers=None, signature_params=None):
    """POST an exact form `body`, signed over `signed_params` (what Django will parse)."""
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        f"http://testserver{path}", signature_params if signature_params is not None else signed_params
    )
    return client.post(
        path, data=body, content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature, headers=headers or {}
    )


def post_json(client, path, body: bytes | str, *, headers=None):
    body = body.encode("utf-8") if isinstance(body, str) else body
    path = f"{path}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://testserver{path}", {})
    return client.generic(
        "POST",
        path,
        body,
        content_type="application/json",
        HTTP_X_TWILIO_SIGNATURE=signature,
        headers=headers or {},
    )


def signed_get(client, path, query: str):
    full = f"{path}?{query}" if query else path
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://testserver{full}", {})
    return client.get(full, HTTP_X_TWILIO_SIGNATURE=signature)


def assert_one_event_per_2xx(response, before: int) -> TriggerEvent | None:
    assert 200 <= response.status_code < 300 or 400 <= response.status_code < 500, response.status_code
    if response.status_code < 300:
        assert TriggerEvent.objects.count() == before + 1
        return TriggerEvent.objects.latest("id")
    assert TriggerEvent.objects.count() == before
    return None


# --- Replay and dedupe -------------------------------------------------------------------------
class TestReplay:
    def test_new_idempotency_tokens_do_not_replay_a_message(self, client, connection, make_trigger):
        make_trigger()
        make_trigger()
        params = fixture("incoming-sms", "plain")
        for n in range(10):
            response = signed_post(
                client, connection, "messages", params, headers={"I-Twilio-Idempotency-Token": f"tok-{n}"}
            )
            assert response.status_code == 200
        event = TriggerEvent.objects.get()
        assert event.dedupe_key == f"key:{params['MessageSid']}"
        assert (event.duplicates, Run.objects.count()) == (9, 2)

    def test_dropping_the_token_does_not_replay_either(self, client, connection, make_trigger):
        make_trigger()
        params = fixture("incoming-sms", "plain")
        signed_post(client, connection, "messages", params, headers={"I-Twilio-Idempotency-Token": "tok-1"})
        signed_post(client, connection, "messages", params)
        assert (TriggerEvent.objects.count(), Run.objects.count()) == (1, 1)

    @pytest.mark.parametrize(
        ("kind", "name", "purpose"),
        [
            ("message-status", "delivered", "status"),
            ("call-status", "completed", "status"),
            ("recording-status", "completed", "status"),
            ("incoming-call", "inbound", "voice"),
            ("incoming-whatsapp", "text", "messages"),
        ],
    )
    def test_every_kind_with_an_identity_ignores_the_token(self, client, connection, kind, name, purpose):
        params = fixture(kind, name)
        for n in range(3):
            signed_post(client, connection, purpose, params, headers={"I-Twilio-Idempotency-Token": f"t{n}"})
        event = TriggerEvent.objects.get()
        assert event.dedupe_key == "key:" + trigger_kind_get(f"twilio/{kind}").dedupe_key(params)
        assert event.duplicates == 2

    def test_call_status_sequence_numbers_are_separate_events(self, client, connection):
        params = fixture("call-status", "ringing")
        signed_post(client, connection, "status", params)
        signed_post(client, connection, "status", {**params, "SequenceNumber": "2"})
        assert TriggerEvent.objects.count() == 2

    def test_a_request_without_identity_is_keyed_by_its_signed_content(
        self, client, connection, make_trigger
    ):
        trigger = make_trigger(kind="twilio/webhook")
        path = f"/hooks/twilio/{connection.public_id}/webhook/{trigger.public_id}"
        params = {"name": "Ada", "order": "1042"}
        for n in range(4):
            signed_post(
                client, connection, None, params, path=path, headers={"I-Twilio-Idempotency-Token": f"t{n}"}
            )
        event = TriggerEvent.objects.get()
        assert event.dedupe_key.startswith("sig:") and event.duplicates == 3
        assert Run.objects.count() == 1
        signed_post(client, connection, None, {**params, "order": "1043"}, path=path)
        assert (TriggerEvent.objects.count(), Run.objects.count()) == (2, 2)

    def test_json_events_without_identity_dedupe_on_the_body(self, client, connection):
        body = json.dumps({"event": "x", "n": 1})
        for n in range(3):
            post_json(
                client, hook(connection, "events"), body, headers={"I-Twilio-Idempotency-Token": f"t{n}"}
            )
        assert TriggerEvent.objects.get().duplicates == 2
        post_json(client, hook(connection, "events"), json.dumps({"event": "x", "n": 2}))
        assert TriggerEvent.objects.count() == 2

    def test_resplitting_signed_params_is_the_same_request(self, client, connection, make_trigger):
        # twilio's signature concatenates sorted names and values without separators, so
        # "MessageStatus=delivered&MessagingServiceSid=MG…" and
        # "MessageStatus=deliveredMessagingServiceSidMG…" verify under one signature. The
        # second must not be a new event (its status and key differ after parsing).
        make_trigger(kind="twilio/message-status")
        params = fixture("message-status", "delivered")
        path = hook(connection, "status")
        post_form_body(client, path, urlencode(params), params)
        forged = {k: v for k, v in params.items() if k != "MessagingServiceSid"}
        forged["MessageStatus"] = (
            params["MessageStatus"] + "MessagingServiceSid" + params["MessagingServiceSid"]
        )
        response = post_form_body(client, path, urlencode(forged), forged, signature_params=params)
        assert response.status_code == 200
        assert TriggerEvent.objects.get().duplicates == 1
        assert Run.objects.count() == 1

    def test_repeating_a_signed_value_is_the_same_request(self, client, connection, make_trigger):
        trigger = make_trigger(kind="twilio/webhook")
        path = f"/hooks/twilio/{connection.public_id}/webhook/{trigger.public_id}"
        post_form_body(client, path, "a=1", {"a": "1"})
        response = post_form_body(client, path, "a=1&a=1", {"a": "1"})
        assert response.status_code == 200
        assert (TriggerEvent.objects.count(), Run.objects.count()) == (1, 1)


# --- Invalid signed requests -------------------------------------------------------------------
class TestInvalid:
    @pytest.mark.parametrize("drop", [("From",), ("To",), ("MessageSid", "SmsMessageSid", "SmsSid"), "all"])
    def test_message_without_from_to_or_sid_is_stored_invalid(self, client, connection, make_trigger, drop):
        make_trigger(reply_message="Thanks")
        params = fixture("incoming-sms", "plain")
        params = {} if drop == "all" else {k: v for k, v in params.items() if k not in drop}
        response = signed_post(client, connection, "messages", params)
        assert response.status_code == 200 and response.content.decode() == EMPTY_TWIML
        event = TriggerEvent.objects.get()
        assert (event.match_status, event.invalid_code, event.runs_started) == (
            MatchStatus.INVALID,
            "MISSING_FIELDS",
            0,
        )
        assert Run.objects.count() == 0
        # Twilio retries it: still one event.
        signed_post(client, connection, "messages", params)
        assert TriggerEvent.objects.count() == 1

    def test_blank_values_are_missing(self, client, connection, make_trigger):
        make_trigger()
        signed_post(client, connection, "messages", {**fixture("incoming-sms", "plain"), "From": "  "})
        assert TriggerEvent.objects.get().match_status == MatchStatus.INVALID
        assert Run.objects.count() == 0

    def test_invalid_message_resumes_no_waiting_run(self, client, connection, make_workflow):
        survey = make_workflow(
            name="survey",
            steps=[
                dict(
                    name="ask",
                    kind="wait_for_reply",
                    inputs={
                        "contact": "{{ trigger.phone }}",
                        "number": "+15017122661",
                        "timeout_seconds": 3600,
                    },
                ),
                dict(name="done", kind="end", inputs={"output": {}}),
            ],
        )
        run = run_execute_inline(
            run_create(workflow=survey, payload={"phone": "+14155550123"}, enqueue=False).pk
        )
        assert run.waiting_for == WaitingFor.REPLY
        params = {
            k: v
            for k, v in fixture("incoming-sms", "plain").items()
            if k not in ("MessageSid", "SmsMessageSid", "SmsSid")
        }
        signed_post(client, connection, "messages", params)
        run.refresh_from_db()
        assert run.status == RunStatus.WAITING
        assert ReplyWait.objects.get().status == "open"

    @pytest.mark.parametrize(
        ("kind", "name", "purpose", "drop"),
        [
            ("incoming-call", "inbound", "voice", "From"),
            ("incoming-call", "inbound", "voice", "CallSid"),
            ("call-status", "completed", "status", "CallSid"),
            ("recording-status", "completed", "status", "RecordingSid"),
        ],
    )
    def test_calls_and_statuses_missing_their_identity(
        self, client, connection, make_trigger, kind, name, purpose, drop
    ):
        make_trigger(kind=f"twilio/{kind}")
        params = {k: v for k, v in fixture(kind, name).items() if k != drop}
        response = signed_post(client, connection, purpose, params)
        assert response.status_code == 200
        event = TriggerEvent.objects.get()
        assert (event.kind, event.match_status) == (f"twilio/{kind}", MatchStatus.INVALID)
        assert drop in event.invalid_reason and Run.objects.count() == 0

    @pytest.mark.parametrize(
        ("purpose", "params"),
        [
            ("status", {"AccountSid": "AC" + "0" * 32}),
            ("status", {}),
        ],
    )
    def test_unrecognised_requests_are_stored_too(self, client, connection, purpose, params):
        response = signed_post(client, connection, purpose, params)
        assert response.status_code == 200
        event = TriggerEvent.objects.get()
        assert (event.kind, event.match_status, event.invalid_code) == (
            "unrecognised",
            "invalid",
            "UNRECOGNISED",
        )
        assert event.params == {k: [v] for k, v in params.items()}

    def test_a_get_without_parameters(self, client, connection):
        response = signed_get(client, hook(connection, "messages"), "")
        assert response.status_code == 200
        assert TriggerEvent.objects.get().match_status == MatchStatus.INVALID


# --- Signed requests that used to crash the server ----------------------------------------------
JSON_BODIES = {
    "nan": '{"a": NaN, "b": [Infinity, -Infinity]}',
    "overflowing float": '{"a": 1e400, "b": -1e400}',
    "5000-digit integer": '{"a": ' + "9" * 5000 + ', "b": -' + "1" * 5000 + "}",
    "64-bit bounds": '{"a": 9223372036854775807, "b": 9223372036854775808}',
    "nul": '{"a": "x\\u0000y", "\\u0000": 1}',
    "lone surrogates": '{"a": "\\ud800", "b": "\\udfff x", "\\udc00": ["\\ud83d"]}',
    "a real surrogate pair": '{"a": "\\ud83d\\ude00"}',
    "scalar": "12",
    "empty": "",
    "max depth": "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH,
}


class TestUnbreakable:
    @pytest.mark.parametrize("name", list(JSON_BODIES))
    def test_json_is_stored_sanitised_with_the_original(self, client, connection, name):
        body = JSON_BODIES[name]
        response = post_json(client, hook(connection, "events"), body)
        event = assert_one_event_per_2xx(response, 0)
        assert response.status_code == 200 and event is not None
        assert (event.raw_body, event.raw_body_encoding) == (body, "")
        stored = json.dumps(event.payload, ensure_ascii=False)
        assert "\x00" not in stored and not any(0xD800 <= ord(c) <= 0xDFFF for c in stored)
        assert "NaN" not in stored.replace('"NaN"', "")
        assert "\U0001f600" in stored or name != "a real surrogate pair"

    def test_sanitised_values(self):
        assert json_parse(JSON_BODIES["nan"].encode()) == {"a": "NaN", "b": ["Infinity", "-Infinity"]}
        assert json_parse(JSON_BODIES["overflowing float"].encode()) == {"a": "1e400", "b": "-1e400"}
        assert json_parse(JSON_BODIES["5000-digit integer"].encode()) == {
            "a": "9" * 5000,
            "b": "-" + "1" * 5000,
        }
        assert json_parse(JSON_BODIES["64-bit bounds"].encode()) == {"a": 2**63 - 1, "b": str(2**63)}
        assert json_parse(JSON_BODIES["nul"].encode()) == {"a": "x\ufffdy", "\ufffd": 1}
        assert json_parse(JSON_BODIES["lone surrogates"].encode()) == {
            "a": "\ufffd",
            "b": "\ufffd x",
            "\ufffd": ["\ufffd"],
        }
        assert clean_json({"x": float("nan"), "y": 10**5000}) == {"x": "nan", "y": "<integer of 16610 bits>"}

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            ("[" * 100_000 + "]" * 100_000, "JSON_TOO_DEEP"),
            ('{"a":' * 100_000 + "1" + "}" * 100_000, "JSON_TOO_DEEP"),
            ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "JSON_TOO_DEEP"),
            ("[" * 100_000, "JSON_TOO_DEEP"),
            ("{not json", "NOT_JSON"),
            ('{"a": "\x00"}', "NOT_JSON"),  # a raw control character is not JSON
        ],
    )
    def test_unreadable_json_is_a_clear_400(self, client, connection, body, reason):
        response = post_json(client, hook(connection, "events"), body)
        assert response.status_code == 400
        assert response.json()["code"] == "VALIDATION_ERROR" and response.json()["reason"] == reason
        assert TriggerEvent.objects.count() == 0

    def test_json_that_is_not_utf8_fails_closed(self, client, connection):
        # The SDK hashes the body as text: bytes that are not UTF-8 cannot be verified (403).
        response = post_json(client, hook(connection, "events"), b'{"a": "\xff"}')
        assert response.status_code == 403 and TriggerEvent.objects.count() == 0

    @pytest.mark.parametrize("field", ["Body", "From", "To", "MessageSid", "ProfileName"])
    def test_nul_in_form_fields(self, client, connection, make_trigger, field):
        make_trigger(reply_message="You said {{ trigger.Body }}")
        params = {**fixture("incoming-sms", "plain"), field: "a\x00b"}
        response = signed_post(client, connection, "messages", params)
        event = assert_one_event_per_2xx(response, 0)
        assert "\x00" not in json.dumps(event.params) + json.dumps(event.payload) + event.response_body
        assert "a%00b" in event.raw_body
        assert event.params[field] == ["a\ufffdb"]

    def test_invalid_utf8_in_a_form_body(self, client, connection):
        params = fixture("incoming-sms", "plain")
        body = urlencode({**params, "Body": "x"}).replace("Body=x", "Body=%ED%A0%80%FF%00")
        signed = {**params, "Body": "\ufffd\ufffd\ufffd\ufffd\x00"}
        response = post_form_body(client, hook(connection, "messages"), body, signed)
        event = assert_one_event_per_2xx(response, 0)
        assert event.raw_body == body and event.payload["Body"].count("\ufffd") == 5

    def test_raw_bytes_in_a_form_body_are_kept_as_base64(self, client, connection):
        params = fixture("incoming-sms", "plain")
        body = urlencode(params).encode() + b"&Note=\xff\xfe"
        signed = QueryDict(body)  # Django falls back to Latin-1 for a body that is not UTF-8
        response = post_form_body(client, hook(connection, "messages"), body, signed)
        event = assert_one_event_per_2xx(response, 0)
        assert event.raw_body_encoding == "base64" and base64.b64decode(event.raw_body) == body

    @pytest.mark.parametrize(
        "code",
        [
            "9999999999999999999999999",
            "-9999999999999999999999999",
            "2147483648",
            "1" * 5000,
            "1e10",
            "0x10",
            "٣٠٠٠٣",
        ],
    )
    def test_status_callback_with_an_absurd_error_code(self, client, connection, make_workflow, code):
        run = run_create(workflow=make_workflow(name="w"), payload={}, enqueue=False)
        params = {**fixture("message-status", "undelivered_30003"), "ErrorCode": code}
        step_run = StepRun.objects.create(
            run=run,
            sequence=1,
            step_name="send",
            kind="action",
            twilio_sid=params["MessageSid"],
            status="succeeded",
        )
        response = signed_post(client, connection, "status", params)
        event = assert_one_event_per_2xx(response, 0)
        assert event.payload["ErrorCode"] is None and event.params["ErrorCode"] == [code]
        step_run.refresh_from_db()
        assert (step_run.delivery_status, step_run.delivery_error_code) == ("undelivered", None)
        # The key keeps the code as sent: a long one is hashed, and a retry still dedupes.
        assert len(event.dedupe_key) <= 200
        signed_post(client, connection, "status", params)
        assert TriggerEvent.objects.get().duplicates == 1

    @pytest.mark.parametrize(
        ("field", "size"),
        [
            ("From", 5000),
            ("To", 5000),
            ("MessageSid", 5000),
            ("Body", 200_000),
            ("AccountSid", 5000),
            ("FromCity", 5000),
        ],
    )
    def test_huge_fields(self, client, connection, make_trigger, field, size):
        make_trigger()
        params = {**fixture("incoming-sms", "plain"), field: "x" * size}
        response = signed_post(client, connection, "messages", params)
        event = assert_one_event_per_2xx(response, 0)
        assert len(event.sid) <= 34 and len(event.from_number) <= 64 and len(event.to_number) <= 64
        assert len(event.dedupe_key) <= 200
        signed_post(client, connection, "messages", params)
        assert TriggerEvent.objects.count() == 1

    def test_huge_idempotency_token_header(self, client, connection):
        response = signed_post(
            client,
            connection,
            "messages",
            fixture("incoming-sms", "plain"),
            headers={"I-Twilio-Idempotency-Token": "t" * 10_000},
        )
        event = assert_one_event_per_2xx(response, 0)
        assert len(event.headers["I-Twilio-Idempotency-Token"]) == 500

    @pytest.mark.parametrize("count", ["10000000", "1" + "0" * 30, "-5", "11", "1e9"])
    def test_num_media_is_bounded(self, client, connection, count):
        params = {
            **fixture("incoming-sms", "plain"),
            "NumMedia": count,
            **{f"MediaUrl{i}": f"https://m/{i}" for i in range(20)},
        }
        started = time.monotonic()
        response = signed_post(client, connection, "messages", params)
        assert time.monotonic() - started < 2
        event = assert_one_event_per_2xx(response, 0)
        assert len(event.payload["media"]) <= MAX_MEDIA and event.payload["NumMedia"] <= MAX_MEDIA

    def test_whatsapp_referral_media_count_is_bounded(self, client, connection):
        params = {**fixture("incoming-whatsapp", "text"), "ReferralNumMedia": "99999999999999999999999"}
        event = assert_one_event_per_2xx(signed_post(client, connection, "messages", params), 0)
        assert event.payload["ReferralNumMedia"] == MAX_MEDIA

    def test_content_the_database_refuses_is_still_stored(self, client, connection, monkeypatch):
        # Whatever slips past sanitising: stored as UNSTORABLE with the raw body, 2xx.
        from triggers import events

        store = events._insert_once

        def refuse(insert):  # the database refuses the parsed content, as PostgreSQL does NUL
            if insert.obj.payload:
                raise ValueError("A string literal cannot contain NUL (0x00) characters.")
            return store(insert)

        monkeypatch.setattr("triggers.events._insert_once", refuse)
        params = fixture("incoming-sms", "plain")
        response = signed_post(client, connection, "messages", params)
        event = assert_one_event_per_2xx(response, 0)
        assert (event.match_status, event.invalid_code, event.payload) == ("invalid", "UNSTORABLE", {})
        assert base64.b64decode(event.raw_body).decode() == urlencode(params)
        assert Run.objects.count() == 0
        signed_post(client, connection, "messages", params)
        assert TriggerEvent.objects.get().duplicates == 1


# --- Parsers alone ------------------------------------------------------------------------------
def test_to_int_is_bounded():
    assert [to_int(v) for v in ("2147483647", "2147483648", "-2147483648", "-2147483649")] == [
        2147483647,
        None,
        -2147483648,
        None,
    ]
    assert to_int("9" * 5000) is None and to_int("1_000") is None and to_int("٣") is None
    assert to_int("+7") == 7 and to_int("5", low=0, high=3) is None


def test_to_count_clamps():
    assert [to_count(v, 10) for v in ("3", "10", "11", "1" + "0" * 30, "-1", "x", None)] == [
        3,
        10,
        10,
        10,
        None,
        None,
        None,
    ]


def test_media_of_never_reads_past_ten():
    params = {"NumMedia": ["10000000"], **{f"MediaUrl{i}": [f"https://m/{i}"] for i in range(12)}}
    assert [m["url"] for m in media_of(params)] == [f"https://m/{i}" for i in range(10)]


def test_quote_helper_roundtrip():
    # The form bodies above are built by hand; make sure %00 really reaches Django as NUL.
    assert QueryDict("Body=" + quote("a\x00b"))["Body"] == "a\x00b"


def test_gather_input_is_sanitised_and_odd_run_ids_are_harmless(
    client, connection, make_trigger, make_workflow
):
    workflow = make_workflow(
        name="ivr", steps=[dict(name="n", kind="set_variables", inputs={"variables": {}})]
    )
    make_trigger(
        kind="twilio/incoming-call", workflow=workflow, voice_answer={"action": "gather", "message": "Hi"}
    )
    signed_post(client, connection, "voice", fixture("incoming-call", "inbound"))
    run = Run.objects.get()
    path = f"/hooks/twilio/{connection.public_id}/voice/gather/{run.pk}"
    response = signed_post(client, connection, None, {"Digits": "1\x00", "SpeechResult": "a\x00"}, path=path)
    assert response.status_code == 200
    run.refresh_from_db()
    assert run.trigger_payload["gather"]["Digits"] == "1\ufffd"
    huge = f"/hooks/twilio/{connection.public_id}/voice/gather/{'9' * 30}"
    assert signed_post(client, connection, None, {"Digits": "1"}, path=huge).status_code == 200
