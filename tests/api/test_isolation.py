"""Workspaces are walls: a key of workspace A sees none of B's objects. Every B id answers
404 (the same answer as an id that does not exist), every list leaves B out, and nothing
of B can be referenced from A's writes."""

from __future__ import annotations

import pytest

from connections.services import connection_create
from tests.api.conftest import world_of
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from workflows.models import Run, Step, Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def b_world(other_workspace):
    connection = connection_create(
        workspace=other_workspace, name="bistro main", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    )
    workflow = Workflow.objects.create(workspace=other_workspace, name="Bistro secret flow")
    Step.objects.create(workflow=workflow, name="s", kind="set_variables", inputs={"variables": {}})
    return world_of(other_workspace, connection, workflow, number="+4930123456", contact="+4915112345678")


def test_every_b_object_is_a_404_like_a_missing_one(api, b_world):
    for resource, pk in b_world.items():
        missing = api.get(f"/api/v1/{resource}/{pk + 10_000}")
        response = api.get(f"/api/v1/{resource}/{pk}")
        assert response.status_code == 404, resource
        assert response.json() == missing.json(), resource


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("post", "workflows/{workflows}/runs", {}),
        ("post", "workflows/{workflows}/enable", None),
        ("post", "workflows/{workflows}/disable", None),
        ("put", "workflows/{workflows}", {"format": "twilioflow/workflow@1", "name": "x", "steps": []}),
        ("delete", "workflows/{workflows}", None),
        ("get", "workflows/{workflows}/webhook", None),
        ("put", "workflows/{workflows}/webhook", {"url": "https://example.com/h"}),
        ("delete", "workflows/{workflows}/webhook", None),
        ("post", "runs/{runs}/cancel", None),
        ("post", "runs/{runs}/replay", None),
        ("post", "connections/{connections}/verify", None),
        ("delete", "connections/{connections}", None),
        ("put", "triggers/{triggers}", {"name": "x"}),
        ("delete", "triggers/{triggers}", None),
        ("post", "phone-numbers/{phone-numbers}/route", None),
        ("post", "phone-numbers/{phone-numbers}/restore", None),
    ],
)
def test_no_write_reaches_b(api, b_world, method, suffix, body):
    url = "/api/v1/" + suffix.format(**b_world)
    response = getattr(api, method)(url, body, format="json")
    assert response.status_code == 404
    assert Run.objects.filter(workspace_id=b_world["workspaces"]).count() == 1
    assert Workflow.objects.get(pk=b_world["workflows"]).enabled


def test_lists_leave_b_out(api, b_world, simple_workflow):
    for resource in b_world:
        response = api.get(f"/api/v1/{resource}")
        assert response.status_code == 200
        assert b"Bistro" not in response.content and b"bistro" not in response.content, resource
    ids = [row["id"] for row in api.get("/api/v1/workflows").json()["results"]]
    assert ids == [simple_workflow.pk]


def test_b_ids_cannot_be_referenced_from_a(api, b_world, simple_workflow, connection):
    response = api.post(
        "/api/v1/triggers",
        {
            "workflow": simple_workflow.pk,
            "connection": b_world["connections"],
            "name": "x",
            "kind": "twilio/incoming-sms",
        },
        format="json",
    )
    assert response.status_code == 400 and "connection" in response.json()["fields"]
    response = api.post("/api/v1/phone-numbers/sync", {"connection": b_world["connections"]}, format="json")
    assert response.status_code == 400
    response = api.post(
        "/api/v1/actions/twilio/send-sms/run",
        {"connection": b_world["connections"], "inputs": {"To": "+14155550123", "Body": "x"}},
        format="json",
    )
    assert response.status_code == 400
    response = api.get("/api/v1/runs", {"workflow": b_world["workflows"]})
    assert response.json()["results"] == []


def test_a_key_cannot_create_in_another_workspace(api, b_world):
    response = api.post(
        "/api/v1/consent",
        {"workspace": b_world["workspaces"], "contact": "+14155550123", "kind": "opt_out"},
        format="json",
    )
    assert response.status_code == 400 and "workspace" in response.json()["fields"]


def test_staff_see_only_their_workspaces(client, make_staff, workspace, b_world):
    client.force_login(make_staff("otto", workspace))
    for resource, pk in b_world.items():
        assert client.get(f"/api/v1/{resource}/{pk}").status_code == 404
        assert b"istro" not in client.get(f"/api/v1/{resource}").content
