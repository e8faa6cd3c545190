"""One error shape everywhere, and never a 500 for bad input: parse errors, wrong content
types, huge ids, unicode the database cannot store, unknown URLs and methods."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status, code=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"code", "message", "fields"} and isinstance(body["fields"], dict)
    if code:
        assert body["code"] == code


def test_malformed_json_is_400(api, simple_workflow):
    response = api.generic(
        "POST",
        f"/api/v1/workflows/{simple_workflow.pk}/runs",
        '{"payload": ',
        content_type="application/json",
    )
    assert_error_shape(response, 400, "VALIDATION_ERROR")
    assert "body" in response.json()["fields"]


def test_wrong_content_type_is_415(api, simple_workflow):
    response = api.generic(
        "POST", f"/api/v1/workflows/{simple_workflow.pk}/runs", "a=1", content_type="text/plain"
    )
    assert_error_shape(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("pk", ["9" * 18, "9" * 19, "9" * 400, "-1", "0x10", "1e3"])
def test_huge_or_odd_ids_are_404(api, pk):
    for resource in ("workflows", "runs", "connections", "triggers", "events", "phone-numbers", "consent"):
        assert_error_shape(api.get(f"/api/v1/{resource}/{pk}"), 404, "NOT_FOUND")


@pytest.mark.parametrize("value", ["\x00", "a\x00b", "\ud800"])
def test_unstorable_unicode_is_400(api, simple_workflow, value):
    raw = json.dumps({"payload": {"name": value}}, ensure_ascii=True)
    response = api.generic(
        "POST", f"/api/v1/workflows/{simple_workflow.pk}/runs", raw, content_type="application/json"
    )
    assert_error_shape(response, 400, "VALIDATION_ERROR")


def test_deep_nesting_is_400(api, simple_workflow):
    raw = '{"payload": ' + '{"a": ' * 2000 + "1" + "}" * 2001
    response = api.generic(
        "POST", f"/api/v1/workflows/{simple_workflow.pk}/runs", raw, content_type="application/json"
    )
    assert_error_shape(response, 400, "VALIDATION_ERROR")


def test_unknown_url_and_method(api):
    assert_error_shape(api.get("/api/v1/nothing/here"), 404, "NOT_FOUND")
    assert_error_shape(api.post("/api/v1/nothing", {}, format="json"), 404, "NOT_FOUND")
    assert_error_shape(api.patch("/api/v1/workspaces", {}, format="json"), 405, "METHOD_NOT_ALLOWED")


def test_validation_errors_name_each_field(api):
    response = api.post("/api/v1/triggers", {"name": "x" * 500, "workflow": "abc"}, format="json")
    assert_error_shape(response, 400, "VALIDATION_ERROR")
    assert {"name", "workflow", "connection", "kind"} <= set(response.json()["fields"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=json_values)
def test_any_json_document_is_answered_without_a_server_error(api, connection, document):
    for url in ("/api/v1/workflows", "/api/v1/workflows/validate", "/api/v1/triggers", "/api/v1/consent"):
        response = api.post(url, document, format="json")
        assert response.status_code < 500, (url, document, response.content)
        if response.status_code >= 400:
            assert set(response.json()) >= {"code", "message", "fields"}


def test_a_huge_body_is_413_without_reading_it_all(api, simple_workflow, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    raw = '{"payload": {"a": "' + "x" * 50_000 + '"}}'
    response = api.generic(
        "POST", f"/api/v1/workflows/{simple_workflow.pk}/runs", raw, content_type="application/json"
    )
    assert_error_shape(response, 413, "REQUEST_TOO_LARGE")
