import json
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests
import responses
from urllib3.exceptions import NewConnectionError

from connections.client import RetryPolicy, TwilioClient, encode_form, parse_retry_after
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError

MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@pytest.fixture
def waits():
    return []


@pytest.fixture
def client(waits):
    return TwilioClient(
        account_sid=ACCOUNT_SID, username=ACCOUNT_SID, password=AUTH_TOKEN, sleep=waits.append
    )


def twilio_error(status: int, code: int = 20001, message: str = "boom", **headers):
    return dict(
        status=status,
        json={
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        headers=headers,
    )


class TestErrorMapping:
    @pytest.mark.parametrize(
        ("status", "code", "retry_idempotent", "retry_create"),
        [
            (400, errors.VALIDATION_ERROR, False, False),
            (401, errors.AUTH_EXPIRED, False, False),
            (403, errors.UPSTREAM_REQUEST_FAILED, False, False),
            (404, errors.NOT_FOUND, False, False),
            (409, errors.UPSTREAM_REQUEST_FAILED, False, False),
            (429, errors.RATE_LIMITED, True, True),
            (500, errors.PROVIDER_ERROR, True, False),
            (503, errors.PROVIDER_ERROR, True, False),
        ],
    )
    def test_each_status_maps_to_a_code_and_retryability(
        self, twilio, client, status, code, retry_idempotent, retry_create
    ):
        twilio.add(responses.GET, MESSAGES, **twilio_error(status, code=21211, message="Bad To"))
        twilio.add(responses.POST, MESSAGES, **twilio_error(status, code=21211, message="Bad To"))

        with pytest.raises(TwilioFlowError) as read:
            client.get(client.account_path("Messages.json"))
        with pytest.raises(TwilioFlowError) as create:
            client.post(client.account_path("Messages.json"), data={"To": "+15551230000"})

        assert (read.value.code, read.value.retryable) == (code, retry_idempotent)
        assert (create.value.code, create.value.retryable) == (code, retry_create)
        assert create.value.twilio_code == 21211
        assert create.value.message == "Bad To"
        assert create.value.more_info == "https://www.twilio.com/docs/errors/21211"
        assert create.value.http_status == status
        # a 5xx on a create may have sent the message: the engine must reconcile first
        assert create.value.outcome_unknown is (status >= 500)
        assert read.value.outcome_unknown is False

    def test_rfc9457_problem_body_keeps_code_and_detail(self, twilio, client):
        twilio.add(
            responses.POST,
            MESSAGES,
            status=400,
            json={
                "type": "https://www.twilio.com/docs/errors/60200",
                "title": "Invalid parameter",
                "status": 400,
                "code": 60200,
                "detail": "Channel is not valid",
                "instance": "/v2/Services",
            },
            content_type="application/problem+json",
        )
        with pytest.raises(TwilioFlowError) as caught:
            client.post(client.account_path("Messages.json"), data={"To": "+1"})
        assert caught.value.code == errors.VALIDATION_ERROR
        assert caught.value.twilio_code == 60200
        assert caught.value.message == "Channel is not valid"
        assert caught.value.more_info == "https://www.twilio.com/docs/errors/60200"
        assert caught.value.details["title"] == "Invalid parameter"

    def test_non_json_error_body_still_gives_a_message(self, twilio, client):
        twilio.add(responses.GET, MESSAGES, status=502, body="<html>Bad gateway</html>")
        with pytest.raises(TwilioFlowError) as caught:
            client.get(client.account_path("Messages.json"))
        assert caught.value.code == errors.PROVIDER_ERROR
        assert "Bad gateway" in caught.value.message

    def test_auth_failure_calls_the_hook(self, twilio, waits):
        seen = []
        client = TwilioClient(
            account_sid=ACCOUNT_SID,
            username=ACCOUNT_SID,
            password=AUTH_TOKEN,
            on_auth_failure=seen.append,
            sleep=waits.append,
        )
        twilio.add(responses.GET, MESSAGES, **twilio_error(401, code=20003, message="Authenticate"))
        with pytest.raises(TwilioFlowError):
            client.get(client.account_path("Messages.json"))
        assert [e.code for e in seen] == [errors.AUTH_EXPIRED]


class TestTransportFailures:
    def test_connect_failure_means_nothing_was_sent(self, twilio, client):
        twilio.add(responses.POST, MESSAGES, body=requests.ConnectTimeout("connect timed out"))
        with pytest.raises(TwilioFlowError) as caught:
            client.post(client.account_path("Messages.json"), data={"To": "+15551230000"})
        assert caught.value.code == errors.CONNECTION_FAILED
        assert caught.value.retryable is True
        assert caught.value.outcome_unknown is False

    def test_refused_connection_is_also_nothing_sent(self, twilio, client):
        refused = requests.ConnectionError(NewConnectionError(None, "Connection refused"))
        twilio.add(responses.POST, MESSAGES, body=refused)
        with pytest.raises(TwilioFlowError) as caught:
            client.post(client.account_path("Messages.json"), data={"To": "+15551230000"})
        assert caught.value.code == errors.CONNECTION_FAILED

    def test_read_timeout_on_a_create_is_an_unknown_outcome(self, twilio, client):
        twilio.add(responses.POST, MESSAGES, body=requests.ReadTimeout("read timed out"))
        with pytest.raises(TwilioFlowError) as caught:
            client.post(client.account_path("Messages.json"), data={"To": "+15551230000"})
        assert caught.value.code == errors.TIMEOUT
        assert caught.value.retryable is False
        assert caught.value.outcome_unknown is True

    def test_read_timeout_on_a_read_is_retryable(self, twilio, client):
        twilio.add(responses.GET, MESSAGES, body=requests.ReadTimeout("read timed out"))
        with pytest.raises(TwilioFlowError) as caught:
            client.get(client.account_path("Messages.json"))
        assert (caught.value.code, caught.value.retryable) == (errors.TIMEOUT, True)

    def test_dropped_connection_after_sending_is_unknown(self, twilio, client):
        twilio.add(responses.POST, MESSAGES, body=requests.ConnectionError("Connection aborted."))
        with pytest.raises(TwilioFlowError) as caught:
            client.post(client.account_path("Messages.json"), data={"To": "+15551230000"})
        assert caught.value.outcome_unknown is True


class TestRetries:
    def test_429_is_retried_after_retry_after(self, twilio, client, waits):
        twilio.add(responses.POST, MESSAGES, **twilio_error(429, code=20429, **{"Retry-After": "3"}))
        twilio.add(responses.POST, MESSAGES, status=201, json={"sid": "SM" + "a" * 32})
        response = client.post(
            client.account_path("Messages.json"), data={"To": "+1555"}, retry=RetryPolicy(max_retries=2)
        )
        assert response.json()["sid"].startswith("SM")
        assert waits == [3.0]
        assert len(twilio.calls) == 2

    def test_429_error_carries_retry_after_for_the_engine(self, twilio, client):
        twilio.add(responses.POST, MESSAGES, **twilio_error(429, code=20429, **{"Retry-After": "120"}))
        with pytest.raises(TwilioFlowError) as caught:
            client.post(
                client.account_path("Messages.json"),
                data={"To": "+1555"},
                retry=RetryPolicy(max_retries=3, max_delay=30),
            )
        # too long to wait inside a worker: raised at once, with the hint kept
        assert caught.value.retry_after == 120.0
        assert len(twilio.calls) == 1

    def test_500_on_a_create_is_never_retried(self, twilio, client, waits):
        twilio.add(responses.POST, MESSAGES, **twilio_error(500))
        with pytest.raises(TwilioFlowError):
            client.post(
                client.account_path("Messages.json"),
                data={"To": "+1"},
                retry=RetryPolicy(max_retries=5, retry_all=True),
            )
        assert len(twilio.calls) == 1
        assert waits == []

    def test_500_on_a_read_backs_off_exponentially(self, twilio, client, waits):
        for _ in range(3):
            twilio.add(responses.GET, MESSAGES, **twilio_error(503))
        twilio.add(responses.GET, MESSAGES, json={"messages": []})
        client.get(
            client.account_path("Messages.json"),
            retry=RetryPolicy(max_retries=3, delay=1, backoff=2, jitter=False),
        )
        assert waits == [1, 2, 4]

    def test_400_is_not_retried_unless_retry_all(self, twilio, client, waits):
        twilio.add(responses.GET, MESSAGES, **twilio_error(400))
        twilio.add(responses.GET, MESSAGES, **twilio_error(400))
        twilio.add(responses.GET, MESSAGES, json={"messages": []})
        with pytest.raises(TwilioFlowError):
            client.get(client.account_path("Messages.json"), retry=RetryPolicy(max_retries=1))
        assert len(twilio.calls) == 1
        client.get(
            client.account_path("Messages.json"),
            retry=RetryPolicy(max_retries=1, retry_all=True, jitter=False),
        )
        assert len(twilio.calls) == 3

    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("5", 5.0),
            ("0.5", 0.5),
            ("string", None),
            ("", None),
            (None, None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ],
    )
    def test_parse_retry_after(self, header, expected):
        assert parse_retry_after(header) == expected


class TestEncoding:
    def test_lists_repeat_keys_booleans_lowercase_objects_as_json(self, twilio, client):
        twilio.add(responses.POST, MESSAGES, status=201, json={"sid": "SM" + "b" * 32})
        client.post(
            client.account_path("Messages.json"),
            data={
                "To": "+15551230000",
                "MediaUrl": ["https://e.x/a.png", "https://e.x/b.png"],
                "SendAsMms": True,
                "ContentVariables": {"1": "12/1", "2": "3pm"},
                "StatusCallback": None,
            },
        )
        sent = parse_qsl(twilio.calls[0].request.body)
        assert sent == [
            ("To", "+15551230000"),
            ("MediaUrl", "https://e.x/a.png"),
            ("MediaUrl", "https://e.x/b.png"),
            ("SendAsMms", "true"),
            ("ContentVariables", '{"1":"12/1","2":"3pm"}'),
        ]
        assert "MediaUrl=https%3A%2F%2Fe.x%2Fa.png&MediaUrl=" in twilio.calls[0].request.body

    def test_query_parameters_use_the_same_encoding(self):
        assert encode_form({"DateSent<": "2024-01-01T00:00:00Z", "PageSize": 20}) == [
            ("DateSent<", "2024-01-01T00:00:00Z"),
            ("PageSize", "20"),
        ]

    def test_basic_auth_and_account_sid_in_path_with_an_api_key(self, twilio):
        client = TwilioClient(account_sid=ACCOUNT_SID, username="SK" + "1" * 32, password="keysecret")
        twilio.add(responses.GET, MESSAGES, json={"messages": []})
        client.get(client.account_path("Messages.json"))
        request = twilio.calls[0].request
        assert ACCOUNT_SID in request.url
        assert request.headers["Authorization"].startswith("Basic ")

    def test_base_url_comes_from_settings(self, twilio, client, settings):
        settings.TWILIO_VERIFY_BASE = "http://127.0.0.1:4012"
        twilio.add(responses.GET, "http://127.0.0.1:4012/v2/Services", json={"services": []})
        client.get("/v2/Services", product="verify")
        assert twilio.calls[0].request.url == "http://127.0.0.1:4012/v2/Services"


class TestPagination:
    def test_2010_relative_next_page_uri_across_three_pages(self, twilio, client):
        base = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        pages = [
            {"messages": [{"sid": "SM1"}], "next_page_uri": f"{base}?PageSize=1&Page=1&PageToken=PA1"},
            {"messages": [{"sid": "SM2"}], "next_page_uri": f"{base}?PageSize=1&Page=2&PageToken=PA2"},
            {"messages": [{"sid": "SM3"}], "next_page_uri": None},
        ]
        for page in pages:
            twilio.add(responses.GET, MESSAGES, json=page)
        records = client.list_records(base, "messages", params={"PageSize": 1, "To": "+1555"})
        assert [r["sid"] for r in records] == ["SM1", "SM2", "SM3"]
        queries = [parse_qs(urlsplit(c.request.url).query) for c in twilio.calls]
        assert queries[0] == {"PageSize": ["1"], "To": ["+1555"]}
        assert queries[1]["PageToken"] == ["PA1"]
        assert queries[2]["PageToken"] == ["PA2"]

    def test_v2_absolute_next_page_url_is_rebased_onto_the_configured_host(self, twilio, client, settings):
        settings.TWILIO_VERIFY_BASE = "http://127.0.0.1:4012"
        local = "http://127.0.0.1:4012/v2/Services"
        real = "https://verify.twilio.com/v2/Services"
        bodies = [
            {
                "services": [{"sid": "VA1"}],
                "meta": {"key": "services", "next_page_url": f"{real}?PageSize=1&Page=1&PageToken=PT1"},
            },
            {
                "services": [{"sid": "VA2"}],
                "meta": {"key": "services", "next_page_url": f"{real}?PageSize=1&Page=2&PageToken=PT2"},
            },
            {"services": [{"sid": "VA3"}], "meta": {"key": "services", "next_page_url": None}},
        ]
        for body in bodies:
            twilio.add(responses.GET, local, json=body)
        records = client.list_records("/v2/Services", product="verify", params={"PageSize": 1})
        assert [r["sid"] for r in records] == ["VA1", "VA2", "VA3"]
        assert all(c.request.url.startswith(local) for c in twilio.calls)
        assert "PageToken=PT2" in twilio.calls[2].request.url

    def test_limit_stops_paging_early(self, twilio, client):
        base = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        twilio.add(
            responses.GET,
            MESSAGES,
            json={"messages": [{"sid": "SM1"}, {"sid": "SM2"}], "next_page_uri": base + "?PageToken=PA1"},
        )
        assert len(client.list_records(base, "messages", limit=2)) == 2
        assert len(twilio.calls) == 1


class TestExchangeRecording:
    def test_exchanges_are_recorded_without_secrets(self, twilio, client):
        verify = "https://verify.twilio.com/v2/Services/VA" + "c" * 32 + "/VerificationCheck"
        twilio.add(
            responses.POST,
            verify,
            json={"status": "approved", "valid": True, "sid": "VE" + "d" * 32},
            status=200,
            headers={"Twilio-Request-Id": "RQ123"},
        )
        client.post(
            verify.replace("https://verify.twilio.com", ""),
            product="verify",
            data={"To": "+15551230000", "Code": "123456"},
        )
        exchange = client.exchanges[0]
        recorded = json.dumps(exchange.as_dict())
        assert "Authorization" not in recorded
        assert "123456" not in recorded
        assert AUTH_TOKEN not in recorded
        assert exchange.request_body["form"] == [["To", "+15551230000"], ["Code", "********"]]
        assert exchange.status == 200
        assert exchange.response_headers["Twilio-Request-Id"] == "RQ123"
        assert exchange.response_body["status"] == "approved"
        # the real request did carry the code and the credentials
        assert "Code=123456" in twilio.calls[0].request.body
        assert twilio.calls[0].request.headers["Authorization"].startswith("Basic ")

    def test_failed_exchange_records_the_error(self, twilio, client):
        twilio.add(responses.POST, MESSAGES, body=requests.ReadTimeout("read timed out"))
        with pytest.raises(TwilioFlowError):
            client.post(client.account_path("Messages.json"), data={"To": "+1"})
        assert client.exchanges[0].error.startswith("TIMEOUT")
        assert client.exchanges[0].status is None

    def test_secret_response_fields_are_masked(self, twilio, client):
        keys = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Keys.json"
        twilio.add(
            responses.POST, keys, status=201, json={"sid": "SK" + "e" * 32, "secret": "topsecretvalue"}
        )
        response = client.post(client.account_path("Keys.json"), data={"FriendlyName": "ci"})
        assert response.json()["secret"] == "topsecretvalue"  # the caller gets it
        assert "topsecretvalue" not in json.dumps(client.exchanges[0].as_dict())  # the audit does not
