"""Schemathesis against the live schema: every operation of /api/schema/ gets generated
requests (random ids and, for object operations, the ids of a seeded workspace), sent with
that workspace's manage key through the WSGI app. No answer may be a 5xx, and every answer
must match the schema (status code, content type, headers, body).

Kept to about a minute: a fixed number of examples per operation, no shrinking."""

from __future__ import annotations

import re

import pytest
import responses as responses_lib
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import world_of

EXAMPLES_RANDOM = 12
EXAMPLES_SEEDED = 12
MIN_REQUESTS = 1000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def seeded(workspace, connection, simple_workflow, make_key):
    world = world_of(workspace, connection, simple_workflow, number="+14155550100", contact="+14155550111")
    return {"key": make_key(workspace, "manage"), "ids": {f"/{name}/": pk for name, pk in world.items()}}


@pytest.mark.django_db(transaction=True)
def test_generated_requests_get_no_server_error_and_match_the_schema(seeded, settings_override=None):
    from django.conf import settings as django_settings

    django_settings.API_MAX_WAIT_SECONDS = 0  # no worker here: never hold a request
    app = get_wsgi_application()
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
    headers = {"Authorization": f"Api-Key {seeded['key']}"}
    sent = {"count": 0, "by_status": {}}
    failures: list[str] = []

    def exercise(operation, strategy, examples):
        @given(case=strategy)
        @settings(
            max_examples=examples,
            deadline=None,
            phases=[Phase.generate],
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call(headers=headers)
            sent["count"] += 1
            sent["by_status"][response.status_code] = sent["by_status"].get(response.status_code, 0) + 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except BaseException as exc:  # collect every failure, report them together
                failure = f"{operation.method.upper()} {operation.path}: {str(exc)[:700]}"
                if failure not in failures:
                    failures.append(failure)

        check()

    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as twilio:
        # Any Twilio request (verify, sync, an action run): "not found", never the network.
        for method in ("GET", "POST", "DELETE"):
            twilio.add(
                method,
                re.compile(r"https://[a-z.]*twilio\.com/.*"),
                json={"code": 20404, "message": "Not found", "status": 404},
                status=404,
            )
        for result in schema.get_all_operations():
            operation = result.ok()
            exercise(operation, operation.as_strategy(), EXAMPLES_RANDOM)
            seeded_id = next((v for k, v in seeded["ids"].items() if k in operation.path), None)
            if "{id}" in operation.path and seeded_id is not None:
                exercise(operation, operation.as_strategy(path_parameters={"id": seeded_id}), EXAMPLES_SEEDED)
    print(f"schemathesis: {sent['count']} requests, by status {sorted(sent['by_status'].items())}")
    assert not failures, "\n".join(failures[:10])
    assert sent["count"] >= MIN_REQUESTS
