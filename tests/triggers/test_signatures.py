"""`triggers.signatures`: requests signed with the official SDK, verified as Django sees them.

Every signature here comes from `twilio.request_validator.RequestValidator.compute_signature`
(or a published test vector), never from the code under test.
"""

import hashlib
import json
from urllib.parse import urlencode, urlsplit

import pytest
from django.http import QueryDict
from django.test import RequestFactory
from twilio.request_validator import RequestValidator

from triggers.signatures import public_url, verify

TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OTHER_TOKEN = "ffffffffffffffffffffffffffffffff"
FORM = "application/x-www-form-urlencoded"
HOOK = "https://flow.example.com/hooks/sms/3f2a"
INBOUND = {
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "From": "+14155550100",
    "To": "+14155550199",
    "Body": "Hello",
    "NumMedia": "0",
}

rf = RequestFactory()


@pytest.fixture(autouse=True)
def _no_proxy_no_base_url(settings):
    """A known baseline, whatever the environment running the tests exports."""
    settings.PUBLIC_BASE_URL = ""
    settings.TRUST_PROXY_HEADERS = False
    settings.SECURE_PROXY_SSL_HEADER = None
    settings.USE_X_FORWARDED_HOST = False
    settings.USE_X_FORWARDED_PORT = False
    settings.ALLOWED_HOSTS = ["flow.example.com", "mycompany.com", "example.com", "app", "localhost"]


@pytest.fixture
def trust_proxy(settings):
    """What settings.py does when TRUST_PROXY_HEADERS=true."""
    settings.TRUST_PROXY_HEADERS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    settings.USE_X_FORWARDED_PORT = True


def sign(url, params=None, token=TOKEN):
    return RequestValidator(token).compute_signature(url, params if params is not None else {})


def _target(url, extra):
    """RequestFactory kwargs that make Django see `url` as the URL requested."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    kwargs = {"secure": parts.scheme == "https", "HTTP_HOST": parts.netloc}
    kwargs.update(extra)
    return path, kwargs


def form_post(url, params, signature, **extra):
    """A form POST to `url`; `params` is a dict or a list of pairs (repeated keys)."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    path, kwargs = _target(url, extra)
    if signature is not None:
        kwargs["HTTP_X_TWILIO_SIGNATURE"] = signature
    return rf.post(path, urlencode(pairs), content_type=FORM, **kwargs)


def get(url, signature, **extra):
    path, kwargs = _target(url, extra)
    if signature is not None:
        kwargs["HTTP_X_TWILIO_SIGNATURE"] = signature
    return rf.get(path, **kwargs)


def json_post(url, body, signature, content_type="application/json", **extra):
    path, kwargs = _target(url, extra)
    kwargs["HTTP_X_TWILIO_SIGNATURE"] = signature
    return rf.generic("POST", path, body, content_type=content_type, **kwargs)


def with_body_hash(url, body: bytes) -> str:
    sep = "&" if urlsplit(url).query else "?"
    return f"{url}{sep}bodySHA256={hashlib.sha256(body).hexdigest()}"


# --- The harness against the published vectors ------------------------------------------------

VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def test_known_answer_vector_from_the_sdk_test_suite():
    assert RequestValidator("12345").compute_signature(VECTOR_URL, VECTOR_PARAMS) == (
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


def test_known_answer_vector_verifies_through_django():
    request = form_post(VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert public_url(request) == VECTOR_URL
    assert verify(request, "12345") is True
    assert verify(request, "12346") is False


def test_known_answer_vector_signed_with_port_443():
    request = form_post(VECTOR_URL, VECTOR_PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=")
    assert verify(request, "12345") is True


def test_known_answer_vector_repeated_keys():
    pairs = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    pairs.append(("Digits", "1234"))
    request = form_post(VECTOR_URL, pairs, "IK+Dwps556ElfBT0I3Rgjkr1wJU=")
    assert verify(request, "12345") is True


def test_known_answer_vector_json_body():
    body = b'{"property": "value", "boolean": true}'
    url = with_body_hash(VECTOR_URL, body)
    assert url.endswith("bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620")
    request = json_post(url, body, "a9nBmqA0ju/hNViExpshrM61xv4=")
    assert verify(request, "12345") is True


# --- Scheme, host and port --------------------------------------------------------------------


def test_https_default_port():
    request = form_post(HOOK, INBOUND, sign(HOOK, INBOUND))
    assert public_url(request) == HOOK
    assert verify(request, TOKEN) is True


def test_https_signature_over_explicit_443_also_accepted():
    sig = sign("https://flow.example.com:443/hooks/sms/3f2a", INBOUND)
    assert verify(form_post(HOOK, INBOUND, sig), TOKEN) is True


def test_explicit_non_default_port():
    url = "https://flow.example.com:8443/hooks/sms/3f2a"
    request = form_post(url, INBOUND, sign(url, INBOUND))
    assert public_url(request) == url
    assert verify(request, TOKEN) is True


def test_explicit_port_signature_without_port_also_accepted():
    # The SDK tries both forms ("back end is inconsistent"): the port is not authenticated.
    request = form_post("https://flow.example.com:8443/hooks/sms/3f2a", INBOUND, sign(HOOK, INBOUND))
    assert verify(request, TOKEN) is True


@pytest.mark.parametrize(
    "signed_url", ["http://flow.example.com/hooks/x", "http://flow.example.com:80/hooks/x"]
)
@pytest.mark.parametrize("host", ["flow.example.com", "flow.example.com:80"])
def test_plain_http_with_and_without_port_80(signed_url, host):
    request = form_post("http://flow.example.com/hooks/x", INBOUND, sign(signed_url, INBOUND), HTTP_HOST=host)
    assert verify(request, TOKEN) is True


def test_scheme_is_signed():
    request = form_post("http://flow.example.com/hooks/sms/3f2a", INBOUND, sign(HOOK, INBOUND))
    assert verify(request, TOKEN) is False


def test_host_is_signed():
    request = form_post("https://example.com/hooks/sms/3f2a", INBOUND, sign(HOOK, INBOUND))
    assert verify(request, TOKEN) is False


def test_path_is_signed():
    request = form_post(HOOK + "b", INBOUND, sign(HOOK, INBOUND))
    assert verify(request, TOKEN) is False


# --- Behind a TLS-terminating proxy -----------------------------------------------------------


def proxied(params, signature, **extra):
    """Twilio called https://flow.example.com/...; the proxy forwards http://app/... ."""
    headers = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "flow.example.com"}
    headers.update(extra)
    return form_post("http://app/hooks/sms/3f2a", params, signature, **headers)


def test_proxy_headers_honoured_when_trusted(trust_proxy):
    request = proxied(INBOUND, sign(HOOK, INBOUND))
    assert public_url(request) == HOOK
    assert verify(request, TOKEN) is True


def test_proxy_headers_ignored_when_not_trusted():
    request = proxied(INBOUND, sign(HOOK, INBOUND))
    assert public_url(request) == "http://app/hooks/sms/3f2a"
    assert verify(request, TOKEN) is False


def test_forged_forwarded_headers_cannot_choose_the_url():
    # A client signs a URL of its choosing and claims it via X-Forwarded-*; with the proxy
    # settings off, the URL checked is still the one the request really reached.
    forged = "https://evil.example.net/hooks/sms/3f2a"
    request = proxied(
        INBOUND, sign(forged, INBOUND), HTTP_X_FORWARDED_HOST="evil.example.net", HTTP_X_FORWARDED_PORT="443"
    )
    assert public_url(request) == "http://app/hooks/sms/3f2a"
    assert verify(request, TOKEN) is False


def test_forwarded_proto_alone_ignored_when_not_trusted():
    request = form_post(
        "http://flow.example.com/hooks/sms/3f2a", INBOUND, sign(HOOK, INBOUND), HTTP_X_FORWARDED_PROTO="https"
    )
    assert public_url(request) == "http://flow.example.com/hooks/sms/3f2a"
    assert verify(request, TOKEN) is False


def test_public_base_url_wins_without_proxy_headers(settings):
    settings.PUBLIC_BASE_URL = "https://flow.example.com"
    request = form_post("http://app:8000/hooks/sms/3f2a", INBOUND, sign(HOOK, INBOUND))
    assert public_url(request) == HOOK
    assert verify(request, TOKEN) is True


def test_public_base_url_ignores_forged_forwarded_headers(settings, trust_proxy):
    settings.PUBLIC_BASE_URL = "https://flow.example.com"
    request = proxied(INBOUND, sign(HOOK, INBOUND), HTTP_X_FORWARDED_HOST="evil.example.net")
    assert public_url(request) == HOOK
    assert verify(request, TOKEN) is True


def test_public_base_url_trailing_slash_is_ignored(settings):
    settings.PUBLIC_BASE_URL = "https://flow.example.com/"
    request = form_post("http://app/hooks/sms/3f2a", INBOUND, sign(HOOK, INBOUND))
    assert public_url(request) == HOOK


def test_public_base_url_with_path_prefix_behind_stripping_proxy(settings):
    # Proxy maps https://example.com/tf/* to Django's /*.
    settings.PUBLIC_BASE_URL = "https://example.com/tf"
    signed = "https://example.com/tf/hooks/sms/3f2a?ws=acme"
    request = form_post("http://app/hooks/sms/3f2a?ws=acme", INBOUND, sign(signed, INBOUND))
    assert public_url(request) == signed
    assert verify(request, TOKEN) is True


def test_public_base_url_with_path_prefix_and_script_name_is_not_doubled(settings):
    # Django itself mounted at /tf (SCRIPT_NAME): get_full_path() already starts with /tf.
    settings.PUBLIC_BASE_URL = "https://example.com/tf"
    signed = "https://example.com/tf/hooks/sms/3f2a"
    request = form_post("http://app/hooks/sms/3f2a", INBOUND, sign(signed, INBOUND), SCRIPT_NAME="/tf")
    assert request.get_full_path() == "/tf/hooks/sms/3f2a"
    assert public_url(request) == signed
    assert verify(request, TOKEN) is True


def test_script_name_kept_without_public_base_url(settings):
    signed = "https://example.com/tf/hooks/sms/3f2a"
    request = form_post(
        "https://example.com/hooks/sms/3f2a", INBOUND, sign(signed, INBOUND), SCRIPT_NAME="/tf"
    )
    assert public_url(request) == signed
    assert verify(request, TOKEN) is True


def test_script_name_with_host_only_public_base_url(settings):
    settings.PUBLIC_BASE_URL = "https://example.com"
    signed = "https://example.com/tf/hooks/sms/3f2a"
    request = form_post("http://app/hooks/sms/3f2a", INBOUND, sign(signed, INBOUND), SCRIPT_NAME="/tf")
    assert public_url(request) == signed
    assert verify(request, TOKEN) is True


# --- Query strings ----------------------------------------------------------------------------


def test_query_string_is_part_of_the_signature():
    url = HOOK + "?ws=acme&purpose=inbound"
    request = form_post(url, INBOUND, sign(url, INBOUND))
    assert public_url(request) == url
    assert verify(request, TOKEN) is True
    assert verify(form_post(HOOK + "?ws=bistro&purpose=inbound", INBOUND, sign(url, INBOUND)), TOKEN) is False
    assert verify(form_post(HOOK, INBOUND, sign(url, INBOUND)), TOKEN) is False


@pytest.mark.parametrize(
    "query",
    [
        "to=%2B14155550100&note=hello%20world",
        "note=hello+world",
        "name=Gr%C3%BC%C3%9Fe&emoji=%F0%9F%91%8B",
        "x=%2b%2f",  # lowercase hex is kept as sent
        "a=1&a=2&empty=",
    ],
)
def test_percent_encoded_query_is_used_exactly(query):
    url = f"{HOOK}?{query}"
    request = form_post(url, INBOUND, sign(url, INBOUND))
    assert public_url(request) == url
    assert verify(request, TOKEN) is True


@pytest.mark.parametrize(
    ("signed_query", "requested_query"),
    [
        ("note=hello+world", "note=hello%20world"),
        ("x=%2B", "x=%2b"),
        ("x=%2B", "x=+"),
        ("name=Gr%C3%BC%C3%9Fe", "name=Grüße"),
    ],
)
def test_signature_is_over_the_exact_encoding(signed_query, requested_query):
    sig = sign(f"{HOOK}?{signed_query}", INBOUND)
    request = form_post(f"{HOOK}?{requested_query}", INBOUND, sig)
    assert verify(request, TOKEN) is False


def test_percent_encoded_utf8_path():
    url = "https://flow.example.com/hooks/gr%C3%BC%C3%9Fe"
    request = form_post(url, INBOUND, sign(url, INBOUND))
    assert public_url(request) == url
    assert verify(request, TOKEN) is True


# --- Form parameters --------------------------------------------------------------------------


def test_repeated_keys_media_url():
    pairs = [
        *INBOUND.items(),
        ("MediaUrl", "https://api.twilio.com/media/ME1"),
        ("MediaUrl", "https://api.twilio.com/media/ME2"),
    ]
    request = form_post(HOOK, pairs, sign(HOOK, QueryDict(urlencode(pairs))))
    assert request.POST.getlist("MediaUrl") == [
        "https://api.twilio.com/media/ME1",
        "https://api.twilio.com/media/ME2",
    ]
    assert verify(request, TOKEN) is True
    # Signed with only one of the two values: the other one is unauthenticated.
    single = {**INBOUND, "MediaUrl": "https://api.twilio.com/media/ME1"}
    assert verify(form_post(HOOK, pairs, sign(HOOK, single)), TOKEN) is False


def test_repeated_keys_digits_order_and_duplicates_do_not_matter():
    signed = [("Digits", "1234"), ("Digits", "5678")]
    sig = sign(HOOK, QueryDict(urlencode(signed)))
    received = [("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
    assert verify(form_post(HOOK, received, sig), TOKEN) is True
    assert verify(form_post(HOOK, [("Digits", "1234")], sig), TOKEN) is False


def test_empty_value_is_signed():
    params = {**INBOUND, "Body": ""}
    request = form_post(HOOK, params, sign(HOOK, params))
    assert verify(request, TOKEN) is True
    # Dropping the empty field changes the signed string ("Body" is no longer in it).
    without = {k: v for k, v in INBOUND.items() if k != "Body"}
    assert verify(form_post(HOOK, without, sign(HOOK, params)), TOKEN) is False


def test_whitespace_in_values_is_signed_verbatim():
    params = {**INBOUND, "Body": "  padded \n"}
    assert verify(form_post(HOOK, params, sign(HOOK, params)), TOKEN) is True
    trimmed = {**INBOUND, "Body": "padded"}
    assert verify(form_post(HOOK, trimmed, sign(HOOK, params)), TOKEN) is False


@pytest.mark.parametrize("body", ["Grüße 👋", "日本語", "emoji only 🎉🎉", 'quote " & = + % ?'])
def test_non_ascii_and_special_character_bodies(body):
    params = {**INBOUND, "Body": body}
    request = form_post(HOOK, params, sign(HOOK, params))
    assert request.POST["Body"] == body
    assert verify(request, TOKEN) is True


def test_form_charset_parameter_is_fine():
    sig = sign(HOOK, INBOUND)
    path, kwargs = _target(HOOK, {"HTTP_X_TWILIO_SIGNATURE": sig})
    request = rf.post(path, urlencode(INBOUND), content_type=FORM + "; charset=utf-8", **kwargs)
    assert verify(request, TOKEN) is True


def test_form_body_not_utf8_is_false_not_an_error():
    sig = sign(HOOK, INBOUND)
    path, kwargs = _target(HOOK, {"HTTP_X_TWILIO_SIGNATURE": sig})
    request = rf.post(path, b"Body=%FF%FE&From=\xff", content_type=FORM, **kwargs)
    assert verify(request, TOKEN) is False


# --- Tampering, tokens, the header ------------------------------------------------------------


def test_tampered_body_value():
    sig = sign(HOOK, INBOUND)
    assert verify(form_post(HOOK, {**INBOUND, "Body": "Hello!"}, sig), TOKEN) is False


def test_extra_param():
    sig = sign(HOOK, INBOUND)
    assert verify(form_post(HOOK, {**INBOUND, "Extra": "1"}, sig), TOKEN) is False


def test_removed_param():
    sig = sign(HOOK, INBOUND)
    params = {k: v for k, v in INBOUND.items() if k != "From"}
    assert verify(form_post(HOOK, params, sig), TOKEN) is False


def test_value_moved_between_keys():
    sig = sign(HOOK, {"From": "+14155550100", "To": "+14155550199"})
    assert verify(form_post(HOOK, {"From": "+14155550199", "To": "+14155550100"}, sig), TOKEN) is False


def test_wrong_token():
    request = form_post(HOOK, INBOUND, sign(HOOK, INBOUND, token=OTHER_TOKEN))
    assert verify(request, TOKEN) is False
    assert verify(request, OTHER_TOKEN) is True


def test_empty_token_never_verifies():
    # An HMAC under an empty key is forgeable by anyone; an unconfigured token must fail.
    request = form_post(HOOK, INBOUND, sign(HOOK, INBOUND, token=""))
    assert verify(request, "") is False
    assert verify(request, None) is False


def test_missing_header():
    assert verify(form_post(HOOK, INBOUND, None), TOKEN) is False
    assert verify(get(HOOK, None), TOKEN) is False


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "not base64 !!", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "é" * 28, "\x00" * 28],
)
def test_garbage_header(header):
    assert verify(form_post(HOOK, INBOUND, header), TOKEN) is False


def test_signature_with_surrounding_whitespace_is_rejected():
    assert verify(form_post(HOOK, INBOUND, " " + sign(HOOK, INBOUND)), TOKEN) is False


# --- GET webhooks -----------------------------------------------------------------------------


def test_get_webhook_params_only_in_query():
    url = HOOK + "?" + urlencode({**INBOUND, "Body": "Grüße 👋"})
    request = get(url, sign(url, {}))
    assert public_url(request) == url
    assert verify(request, TOKEN) is True


def test_get_webhook_params_are_not_signed_twice():
    # Passing request.GET to the SDK would append the query params again: Twilio doesn't.
    url = HOOK + "?" + urlencode(INBOUND)
    assert verify(get(url, sign(url, INBOUND)), TOKEN) is False


def test_get_webhook_tampered_query():
    url = HOOK + "?" + urlencode(INBOUND)
    tampered = HOOK + "?" + urlencode({**INBOUND, "Body": "Bye"})
    assert verify(get(tampered, sign(url, {})), TOKEN) is False


# --- JSON webhooks ----------------------------------------------------------------------------

EVENT = {"specversion": "1.0", "type": "com.twilio.messaging.message.delivered", "data": {"Body": "Grüße 👋"}}


def event_body(payload=EVENT) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def test_json_body_with_body_sha256():
    body = event_body()
    url = with_body_hash(HOOK + "?ws=acme", body)
    request = json_post(url, body, sign(url, {}))
    assert public_url(request) == url
    assert verify(request, TOKEN) is True


def test_json_content_type_with_charset():
    body = event_body()
    url = with_body_hash(HOOK, body)
    request = json_post(url, body, sign(url, {}), content_type="application/json; charset=utf-8")
    assert verify(request, TOKEN) is True


def test_json_tampered_body():
    body = event_body()
    url = with_body_hash(HOOK, body)
    tampered = event_body({**EVENT, "type": "com.twilio.messaging.message.failed"})
    assert verify(json_post(url, tampered, sign(url, {})), TOKEN) is False


def test_json_tampered_body_with_recomputed_hash():
    body = event_body()
    url = with_body_hash(HOOK, body)
    tampered = event_body({**EVENT, "data": {"Body": "evil"}})
    assert verify(json_post(with_body_hash(HOOK, tampered), tampered, sign(url, {})), TOKEN) is False


def test_json_without_body_sha256_is_rejected():
    body = event_body()
    # Even a signature that does cover the URL: the body itself would be unauthenticated.
    assert verify(json_post(HOOK, body, sign(HOOK, {})), TOKEN) is False
    assert verify(json_post(HOOK + "?bodySHA256=", body, sign(HOOK + "?bodySHA256=", {})), TOKEN) is False


def test_json_body_not_utf8_is_false_not_an_error():
    body = b'{"Body": "\xff\xfe"}'
    url = with_body_hash(HOOK, body)
    assert verify(json_post(url, body, sign(url, {})), TOKEN) is False


# --- Bodies a signature would not cover, malformed requests -----------------------------------


def test_multipart_post_is_rejected():
    sig = sign(HOOK, INBOUND)
    path, kwargs = _target(HOOK, {"HTTP_X_TWILIO_SIGNATURE": sig})
    request = rf.post(path, INBOUND, **kwargs)  # RequestFactory's default is multipart
    assert request.content_type == "multipart/form-data"
    assert verify(request, TOKEN) is False


def test_form_body_on_put_is_rejected():
    # Django only parses POST bodies, so the signature would cover the URL alone.
    path, kwargs = _target(HOOK, {"HTTP_X_TWILIO_SIGNATURE": sign(HOOK, {})})
    request = rf.generic("PUT", path, urlencode(INBOUND), content_type=FORM, **kwargs)
    assert verify(request, TOKEN) is False


def test_text_body_is_rejected():
    path, kwargs = _target(HOOK, {"HTTP_X_TWILIO_SIGNATURE": sign(HOOK, {})})
    request = rf.generic("POST", path, b"Body=Hello", content_type="text/plain", **kwargs)
    assert verify(request, TOKEN) is False


def test_empty_post_verifies_over_url_only():
    url = HOOK + "?CallSid=CA1"
    path, kwargs = _target(url, {"HTTP_X_TWILIO_SIGNATURE": sign(url, {})})
    assert verify(rf.generic("POST", path, b"", content_type=FORM, **kwargs), TOKEN) is True


def test_disallowed_host_is_false_not_an_error():
    url = "https://attacker.example.net/hooks/sms/3f2a"
    assert verify(form_post(url, INBOUND, sign(url, INBOUND)), TOKEN) is False


@pytest.mark.parametrize("host", ["flow.example.com:99999", "flow.example.com:0"])
def test_out_of_range_port_is_false_not_an_error(host):
    # Django accepts any digits as a port; urllib raises on .port > 65535.
    request = form_post(HOOK, INBOUND, sign(HOOK, INBOUND), HTTP_HOST=host)
    assert verify(request, TOKEN) is False


def test_too_many_fields_is_false_not_an_error(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    assert verify(form_post(HOOK, INBOUND, sign(HOOK, INBOUND)), TOKEN) is False


def test_oversized_body_is_false_not_an_error(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    params = {**INBOUND, "Body": "x" * 200}
    assert verify(form_post(HOOK, params, sign(HOOK, params)), TOKEN) is False
    body = event_body({"data": "x" * 200})
    url = with_body_hash(HOOK, body)
    assert verify(json_post(url, body, sign(url, {})), TOKEN) is False


def test_malformed_public_base_url_is_false_not_an_error(settings):
    settings.PUBLIC_BASE_URL = "https://[flow.example.com"
    assert verify(form_post(HOOK, INBOUND, sign(HOOK, INBOUND)), TOKEN) is False


# --- Proxy chains and non-standard public ports (TRUST_PROXY_HEADERS) -------------------------

PORTED = "https://flow.example.com:8443/hooks/sms/3f2a"


@pytest.mark.parametrize(
    "extra",
    [
        # nginx: X-Forwarded-Host without the port, X-Forwarded-Port separately.
        {"HTTP_X_FORWARDED_PORT": "8443"},
        # A chain of proxies appends to every header; the first value is the client's.
        {"HTTP_X_FORWARDED_PORT": "8443, 443", "HTTP_X_FORWARDED_PROTO": "https, http"},
        # No X-Forwarded-Host: the Host header plus the forwarded port.
        {"HTTP_X_FORWARDED_HOST": "", "HTTP_HOST": "flow.example.com", "HTTP_X_FORWARDED_PORT": "8443"},
        # The forwarded host already carries the port: kept as is.
        {"HTTP_X_FORWARDED_HOST": "flow.example.com:8443", "HTTP_X_FORWARDED_PORT": "8443"},
    ],
)
def test_forwarded_port_is_honoured_with_a_host_header(trust_proxy, extra):
    request = proxied(INBOUND, sign(PORTED, INBOUND), **extra)
    assert public_url(request) == PORTED
    assert verify(request, TOKEN) is True


def test_forwarded_default_port_is_left_out(trust_proxy):
    request = proxied(INBOUND, sign(HOOK, INBOUND), HTTP_X_FORWARDED_PORT="443")
    assert public_url(request) == HOOK
    assert verify(request, TOKEN) is True


def test_forwarded_port_ignored_when_not_trusted():
    request = proxied(INBOUND, sign(PORTED, INBOUND), HTTP_X_FORWARDED_PORT="8443")
    assert public_url(request) == "http://app/hooks/sms/3f2a"
    assert verify(request, TOKEN) is False


@pytest.mark.parametrize("port", ["abc", "99999", "0", "-1", "٨٤٤٣"])
def test_garbage_forwarded_port_is_ignored(trust_proxy, port):
    request = proxied(INBOUND, sign(HOOK, INBOUND), HTTP_X_FORWARDED_PORT=port)
    assert public_url(request) == HOOK


@pytest.mark.parametrize(
    "forwarded_host", ["flow.example.com, 10.0.0.5", "flow.example.com,10.0.0.5, app", " flow.example.com "]
)
def test_forwarded_host_chain_uses_the_first_value(trust_proxy, forwarded_host):
    request = proxied(INBOUND, sign(HOOK, INBOUND), HTTP_X_FORWARDED_HOST=forwarded_host)
    assert public_url(request) == HOOK
    assert verify(request, TOKEN) is True


def test_forwarded_host_chain_with_port(trust_proxy):
    request = proxied(
        INBOUND,
        sign(PORTED, INBOUND),
        HTTP_X_FORWARDED_HOST="flow.example.com, 10.0.0.5",
        HTTP_X_FORWARDED_PORT="8443, 80",
    )
    assert public_url(request) == PORTED
    assert verify(request, TOKEN) is True


def test_forwarded_host_chain_first_value_must_still_be_allowed(trust_proxy):
    from django.core.exceptions import DisallowedHost

    request = proxied(
        INBOUND, sign(HOOK, INBOUND), HTTP_X_FORWARDED_HOST="evil.example.net, flow.example.com"
    )
    with pytest.raises(DisallowedHost):
        public_url(request)
    assert verify(request, TOKEN) is False


class TestThroughTheMiddleware:
    """The whole stack (middleware included): CommonMiddleware calls get_host() first, so a
    proxy chain must not be a 400 before the view runs."""

    @pytest.fixture
    def hook(self, connection, settings, trust_proxy):
        settings.ALLOWED_HOSTS = ["flow.example.com"]
        return f"/hooks/twilio/{connection.public_id}/messages"

    def _post(self, client, path, signed_url, **headers):
        return client.post(
            path,
            data=urlencode(INBOUND),
            content_type=FORM,
            HTTP_X_TWILIO_SIGNATURE=sign(signed_url, INBOUND, "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
            **headers,
        )

    def test_proxy_chain_host(self, client, hook):
        response = self._post(
            client,
            hook,
            f"https://flow.example.com{hook}",
            HTTP_HOST="10.0.0.9",
            HTTP_X_FORWARDED_HOST="flow.example.com, 10.0.0.5",
            HTTP_X_FORWARDED_PROTO="https",
        )
        assert response.status_code == 200

    def test_public_port(self, client, hook):
        response = self._post(
            client,
            hook,
            f"https://flow.example.com:8443{hook}",
            HTTP_HOST="flow.example.com",
            HTTP_X_FORWARDED_PORT="8443",
            HTTP_X_FORWARDED_PROTO="https",
        )
        assert response.status_code == 200

    def test_public_port_signed_without_it_is_refused(self, client, hook):
        # Twilio includes a non-default port in the URL it signs; a signature over another
        # port than the one the proxy reports does not verify.
        response = self._post(
            client,
            hook,
            f"https://flow.example.com:9443{hook}",
            HTTP_HOST="flow.example.com",
            HTTP_X_FORWARDED_PORT="8443",
            HTTP_X_FORWARDED_PROTO="https",
        )
        assert response.status_code == 403
