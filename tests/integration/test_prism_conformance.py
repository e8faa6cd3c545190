"""Conformance: every registered action, run against Prism serving Twilio's own OpenAPI specs.

Prism returns 422 for any request that breaks the spec (missing required parameter, SID that
does not match its pattern, wrong enum, type or date-time format), so an action passes only
when every request it sends is one the real Twilio API describes. Run with `make prism` done:

    .venv/bin/pytest tests/integration -q
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from actions.registry import action_list
from actions.services import ActionResult, action_execute
from connections.services import client_for_connection
from tests.integration.prism import undeclared_parameters
from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def sid(prefix: str) -> str:
    """A SID Prism accepts: the prefix and 32 hex digits (placeholder x's get a 422)."""
    return prefix + "0123456789abcdef" * 2


FROM = "+15017122661"  # valid for `phonenumbers` (+1 555 numbers are not)
TO = "+14155552671"
HOOK = "https://hooks.example.com/twilio"

# slug -> case name -> inputs, as a workflow author would fill them in. Every registered
# action needs an entry here (test_every_registered_action_has_inputs); entries whose
# action is not registered yet are skipped.
CASES: dict[str, dict[str, dict[str, Any]]] = {
    "twilio/send-sms": {
        "sms": {
            "From": FROM,
            "To": TO,
            "Body": "Your order has shipped.",
            "StatusCallback": f"{HOOK}/status",
        },
        "mms-via-messaging-service": {
            "From": sid("MG"),
            "To": TO,
            "Body": "Your receipt",
            "MediaUrl": ["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.png"],
        },
    },
    "twilio/send-mms": {
        "two-images": {
            "From": FROM,
            "To": TO,
            "Body": "Your receipt",
            "MediaUrl": ["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.png"],
            "StatusCallback": f"{HOOK}/status",
        },
        "media-only-via-messaging-service": {
            "From": sid("MG"),
            "To": TO,
            "MediaUrl": ["https://cdn.example.com/a.jpg"],
        },
    },
    "twilio/send-whatsapp": {
        "template": {
            "From": f"whatsapp:{FROM}",
            "To": f"whatsapp:{TO}",
            "ContentSid": sid("HX"),
            "ContentVariables": {"1": "12/1", "2": "3pm"},
            "StatusCallback": f"{HOOK}/status",
        },
        "freeform": {"From": f"whatsapp:{FROM}", "To": f"whatsapp:{TO}", "Body": "Thanks, see you tomorrow!"},
        "with-media": {
            "From": f"whatsapp:{FROM}",
            "To": f"whatsapp:{TO}",
            "Body": "Your ticket",
            "MediaUrl": ["https://cdn.example.com/ticket.pdf"],
        },
    },
    "twilio/get-message": {
        "by-sid": {"messageSid": sid("SM")},
    },
    "twilio/list-messages": {
        "filtered": {"To": TO, "From": FROM, "DateSent": "2024-01-01T00:00:00Z", "PageSize": 20},
        "date-range": {
            "DateSentAfter": "2024-01-01",
            "DateSentBefore": "2024-02-01T12:00:00Z",
            "PageSize": 1000,
        },
        "next-page": {"PageToken": "PAMMc26223853f8c46b4ab7dfaa6abba0a26", "PageSize": 50},
        "unfiltered": {},
    },
    "twilio/send-conversation-message": {
        "default": {
            "conversationSid": sid("CH"),
            "Body": "A new ticket was opened.",
            "Author": "support-bot",
        },
    },
    "twilio/make-call": {
        "twiml": {"From": FROM, "To": TO, "Twiml": "<Response><Say>Hello!</Say></Response>", "Timeout": 30},
        "url": {"From": FROM, "To": TO, "Url": f"{HOOK}/voice.xml", "StatusCallback": f"{HOOK}/call-status"},
    },
    "twilio/say-call": {
        "default": {
            "From": FROM,
            "To": TO,
            "message": "Your appointment is tomorrow at 3 pm.",
            "voice": "Polly.Joanna",
            "language": "en-US",
            "Record": True,
        },
        "all-options": {
            "From": FROM,
            "To": TO,
            "message": "Votre rendez-vous est demain.",
            "voice": "Polly.Celine",
            "language": "fr-FR",
            "Record": False,
            "Timeout": 20,
            "StatusCallback": f"{HOOK}/call-status",
        },
        "minimal": {"From": FROM, "To": TO, "message": "Hello & <welcome>"},
    },
    "twilio/get-call": {
        "by-sid": {"callSid": sid("CA")},
    },
    "twilio/list-calls": {
        "default": {},
        "filtered": {
            "To": TO,
            "From": FROM,
            "Status": "completed",
            "StartTime": "2024-01-01T00:00:00Z",
            "PageSize": 100,
        },
        "time-range": {
            "StartTimeAfter": "2024-01-01",
            "StartTimeBefore": "2024-01-31",
            "PageToken": "PAFFc26223853f8c46b4ab7dfaa6abba0a26",
        },
    },
    "twilio/list-recordings": {
        "default": {},
        "for-call": {"CallSid": sid("CA"), "DateCreated": "2024-01-01T00:00:00Z", "PageSize": 10},
        "date-range": {"DateCreatedAfter": "2024-01-01", "DateCreatedBefore": "2024-02-01"},
    },
    "twilio/list-phone-numbers": {
        "default": {},
        "filtered": {"PhoneNumber": FROM, "FriendlyName": "Front desk", "PageSize": 20},
    },
    "twilio/lookup-phone-number": {
        "basic": {"phoneNumber": TO},
        "line-type": {"phoneNumber": TO, "Fields": ["line_type_intelligence"]},
    },
    "twilio/configure-phone-number-webhooks": {
        "default": {
            "phoneNumberSid": sid("PN"),
            "SmsUrl": f"{HOOK}/sms",
            "SmsMethod": "POST",
            "VoiceUrl": f"{HOOK}/voice",
        },
        "all-options": {
            "phoneNumberSid": sid("PN"),
            "SmsUrl": f"{HOOK}/sms",
            "SmsMethod": "GET",
            "VoiceUrl": f"{HOOK}/voice",
            "VoiceMethod": "GET",
            "StatusCallback": f"{HOOK}/call-status",
            "StatusCallbackMethod": "POST",
        },
    },
    "twilio/start-verification": {
        "sms": {"serviceSid": sid("VA"), "To": TO, "Channel": "sms"},
        "call": {"serviceSid": sid("VA"), "To": TO, "Channel": "call"},
        "whatsapp": {"serviceSid": sid("VA"), "To": TO, "Channel": "whatsapp"},
        "email": {"serviceSid": sid("VA"), "To": "patient@example.com", "Channel": "email"},
    },
    "twilio/check-verification": {
        "default": {"serviceSid": sid("VA"), "To": TO, "Code": "907314"},
        "email": {"serviceSid": sid("VA"), "To": "patient@example.com", "Code": "55021"},
    },
    "twilio/raw-request": {
        "api-get": {
            "product": "api",
            "method": "GET",
            "path": "/2010-04-01/Accounts/{AccountSid}/Messages.json",
        },
        # (A raw POST to Messages.json / Calls.json is refused: sends go through the gate.)
        "api-post-form": {
            "product": "api",
            "method": "POST",
            "path": "/2010-04-01/Accounts/{AccountSid}/Queues.json",
            "formData": {"FriendlyName": "support", "MaxSize": 100},
        },
        "messaging-get": {
            "product": "messaging",
            "method": "GET",
            "path": "/v1/Services",
            "queryParams": {"PageSize": 20},
        },
        "verify-post": {
            "product": "verify",
            "method": "POST",
            "path": f"/v2/Services/{sid('VA')}/Verifications",
            "formData": {"To": TO, "Channel": "sms"},
        },
        "lookups-get": {
            "product": "lookups",
            "method": "GET",
            "path": f"/v2/PhoneNumbers/{TO}",
            "queryParams": {"Fields": "line_type_intelligence"},
        },
        "conversations-header": {
            "product": "conversations",
            "method": "POST",
            "path": f"/v1/Conversations/{sid('CH')}/Messages",
            "formData": {"Body": "hi", "Author": "bot"},
            "headers": {"X-Twilio-Webhook-Enabled": "true"},
        },
        "api-delete": {
            "product": "api",
            "method": "DELETE",
            "path": f"/2010-04-01/Accounts/{{AccountSid}}/Messages/{sid('SM')}.json",
        },
    },
}

REGISTERED = {cls.slug: cls for cls in action_list()}


def _conformance_params() -> list:
    params = []
    for slug in sorted(set(CASES) | set(REGISTERED)):
        short = slug.removeprefix("twilio/")
        if slug not in CASES:
            params.append(pytest.param(slug, None, id=f"{short}[no-inputs]"))
            continue
        marks = () if slug in REGISTERED else pytest.mark.skip(reason=f"{slug} not registered yet")
        for case, inputs in CASES[slug].items():
            params.append(pytest.param(slug, inputs, id=f"{short}[{case}]", marks=marks))
    return params


def product_of(url: str, servers) -> str | None:
    for product, server in servers.items():
        if url.startswith(server.url + "/"):
            return product
    return None


def explain(result: ActionResult) -> str:
    """The error and every exchange (Prism's validation messages are in response_body)."""
    error = result.error.as_dict() if result.error is not None else None
    return json.dumps(
        {"error": error, "exchanges": [exchange.as_dict() for exchange in result.exchanges]},
        indent=2,
        default=str,
    )


@pytest.mark.parametrize(("slug", "inputs"), _conformance_params())
def test_action_conforms_to_twilio_spec(slug, inputs, connection, prism, prism_settings):
    assert inputs is not None, f"{slug} is registered but CASES has no realistic inputs for it"

    result = action_execute(slug=slug, connection=connection, inputs=inputs)

    report = explain(result)
    if result.error is not None and result.error.code == errors.VALIDATION_ERROR:
        pytest.fail(f"{slug} rejected the test inputs (fix CASES to match its fields):\n{report}")
    rejected = [exchange for exchange in result.exchanges if exchange.status == 422]
    assert not rejected, f"Prism says {slug} broke the Twilio spec:\n{report}"
    assert result.error is None, report
    assert result.exchanges, f"{slug} made no request"
    for exchange in result.exchanges:
        assert exchange.status is not None and exchange.status < 400, report
        product = product_of(exchange.url, prism)
        assert product is not None, f"{slug} called {exchange.url}, not a Prism:\n{report}"
        form = (exchange.request_body or {}).get("form")
        problems = undeclared_parameters(product, exchange.method, exchange.url, form)
        assert not problems, f"{slug}: {'; '.join(problems)}\n{report}"


def test_clearing_a_url_breaks_the_spec_only_by_the_empty_uri(connection, prism, prism_settings):
    """Restoring previous webhooks clears a URL Twilio had empty by sending it empty (what
    Twilio's API does to remove a webhook). Twilio's OpenAPI spec types these parameters
    `format: uri` and does not describe clearing, so Prism answers 422 for exactly that; this
    test pins that this is the *only* complaint: path, method and every parameter conform."""
    inputs = {
        "phoneNumberSid": sid("PN"),
        "SmsUrl": f"{HOOK}/sms",
        "SmsMethod": "POST",
        "VoiceMethod": "POST",
        "clear": ["VoiceUrl", "StatusCallback"],
    }
    result = action_execute(
        slug="twilio/configure-phone-number-webhooks", connection=connection, inputs=inputs
    )
    report = explain(result)
    [exchange] = result.exchanges
    assert ["VoiceUrl", ""] in exchange.request_body["form"], report
    assert ["StatusCallback", ""] in exchange.request_body["form"], report
    problems = undeclared_parameters(
        product_of(exchange.url, prism), exchange.method, exchange.url, exchange.request_body["form"]
    )
    assert not problems, report
    if exchange.status == 422:
        body = exchange.response_body if isinstance(exchange.response_body, dict) else {}
        complaints = {(tuple(v.get("location") or ()), v.get("code")) for v in body.get("validation", [])}
        assert complaints == {(("body", "VoiceUrl"), "format"), (("body", "StatusCallback"), "format")}, (
            report
        )
    else:
        assert exchange.status is not None and exchange.status < 400, report


@pytest.mark.parametrize("slug", sorted(set(REGISTERED) & set(CASES)))
def test_run_action_command_succeeds_against_prism(slug, connection, prism, prism_settings, capsys):
    """The operator's path: `manage.py run_action <slug>` prints the output as JSON."""
    import json

    from django.core.management import call_command

    inputs = next(iter(CASES[slug].values()))
    call_command("run_action", slug, "--connection", connection.name, "--input", json.dumps(inputs))
    output = json.loads(capsys.readouterr().out)
    assert isinstance(output, dict) and output


def test_every_registered_action_has_inputs():
    missing = sorted(set(REGISTERED) - set(CASES))
    assert not missing, f"Add realistic inputs to CASES for: {', '.join(missing)}"


# --- Negatives: Prism really validates, so the conformance test cannot pass vacuously -------
ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"


@pytest.mark.parametrize(
    ("product", "method", "path", "kwargs", "message"),
    [
        pytest.param(
            "api",
            "POST",
            f"{ACCOUNT}/Messages.json",
            {"data": {"From": FROM, "Body": "no recipient"}},
            "must have required property 'To'",
            id="sms-without-To",
        ),
        pytest.param(
            "api",
            "GET",
            f"{ACCOUNT}/Messages.json",
            {"params": {"DateSent": "2024-01-01"}},
            "datesent must match format",
            id="date-without-time",
        ),
        pytest.param(
            "api",
            "GET",
            f"{ACCOUNT}/Messages/SM{'x' * 32}.json",
            {},
            "must match pattern",
            id="placeholder-sid",
        ),
        pytest.param(
            "api",
            "GET",
            f"{ACCOUNT}/Calls.json",
            {"params": {"PageSize": 5000}},
            "must be <= 1000",
            id="page-size-too-big",
        ),
        pytest.param(
            "verify",
            "POST",
            f"/v2/Services/{sid('VA')}/Verifications",
            {"data": {"To": TO}},
            "must have required property 'Channel'",
            id="verification-without-Channel",
        ),
        pytest.param(
            "conversations",
            "POST",
            f"/v1/Conversations/{sid('CH')}/Messages",
            {"data": {"Body": "hi"}, "headers": {"X-Twilio-Webhook-Enabled": "maybe"}},
            "must be equal to one of the allowed values",
            id="bad-header-enum",
        ),
        pytest.param(
            "messaging",
            "POST",
            "/v1/Services",
            {"data": {"UseInboundWebhookOnNumber": "x"}},
            "must have required property 'FriendlyName'",
            id="service-without-name",
        ),
    ],
)
def test_prism_rejects_requests_that_break_the_spec(
    product, method, path, kwargs, message, connection, prism_settings
):
    client = client_for_connection(connection)

    with pytest.raises(TwilioFlowError) as caught:
        client.request(method, path, product=product, **kwargs)

    assert caught.value.code == errors.UPSTREAM_REQUEST_FAILED, caught.value.as_dict()
    assert caught.value.http_status == 422, caught.value.as_dict()
    exchange = client.exchanges[-1]
    assert exchange.url.startswith(prism_settings[f"TWILIO_{product.upper()}_BASE"])
    assert message in json.dumps(exchange.response_body), exchange.as_dict()


def test_prism_accepts_a_valid_request(connection, prism_settings):
    """The same request as the first negative, with `To`: 201 and the spec's example body."""
    client = client_for_connection(connection)

    response = client.post(f"{ACCOUNT}/Messages.json", data={"From": FROM, "To": TO, "Body": "hi"})

    assert response.status == 201
    assert response.json()["sid"].startswith("SM")


@pytest.mark.parametrize(
    ("product", "method", "url", "form", "expected"),
    [
        ("api", "GET", f"http://x{ACCOUNT}/Messages.json?DateSent%3C=2024-01-01T00%3A00%3A00Z", None, []),
        (
            "api",
            "GET",
            f"http://x{ACCOUNT}/Messages.json?DateSentBefore=2024-01-01",
            None,
            ["query parameter 'DateSentBefore'"],
        ),
        (
            "api",
            "POST",
            f"http://x{ACCOUNT}/Messages.json",
            [["To", TO], ["StatusCallBack", HOOK]],
            ["form field 'StatusCallBack'"],
        ),
        ("api", "GET", f"http://x{ACCOUNT}/IncomingPhoneNumbers/Local.json?PageSize=5", None, []),
        (
            "verify",
            "POST",
            f"http://x/v2/Services/{sid('VA')}/VerificationChecks",
            [["Code", "1"]],
            ["is not an operation"],
        ),
    ],
    ids=["operator-suffix-ok", "made-up-query-name", "misspelt-form-field", "literal-path", "unknown-path"],
)
def test_undeclared_parameter_check_bites(product, method, url, form, expected, prism):
    problems = undeclared_parameters(product, method, url.replace("{AccountSid}", sid("AC")), form)

    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem
