"""Starting runs (idempotency keys, concurrency, ?wait), the runs list (filters, cursor
pages), a run's timeline, replay and cancel."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections as db_connections
from rest_framework.test import APIClient

from api.models import IdempotencyRecord
from workflows.models import Run, RunStatus, StepRun
from workflows.services import run_execute_inline


def start(api, workflow, body=None, key=None, wait=None):
    url = f"/api/v1/workflows/{workflow.pk}/runs" + (f"?wait={wait}" if wait is not None else "")
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(url, {} if body is None else body, format="json", **headers)


@pytest.mark.django_db
class TestStart:
    def test_202_with_the_run_url_and_payload(self, api, simple_workflow):
        response = start(api, simple_workflow, {"payload": {"name": "Ann"}, "variables": {"v": 1}})
        assert response.status_code == 202
        run = Run.objects.get()
        assert response["Location"].endswith(f"/api/v1/runs/{run.pk}")
        body = response.json()
        assert body["url"] == response["Location"] and body["status"] == "pending"
        assert (run.source, run.trigger_payload, run.context["vars"]) == ("api", {"name": "Ann"}, {"v": 1})

    def test_same_key_same_body_is_the_same_run(self, api, simple_workflow):
        first = start(api, simple_workflow, {"payload": {"a": 1}}, key="order-17")
        again = start(api, simple_workflow, {"payload": {"a": 1}}, key="order-17")
        assert first.json()["id"] == again.json()["id"] and Run.objects.count() == 1
        assert again["Idempotent-Replayed"] == "true"

    def test_same_key_other_body_is_422(self, api, simple_workflow):
        start(api, simple_workflow, {"payload": {"a": 1}}, key="order-17")
        response = start(api, simple_workflow, {"payload": {"a": 2}}, key="order-17")
        assert response.status_code == 422 and response.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
        assert Run.objects.count() == 1

    def test_keys_are_per_workspace_and_expire_after_24_hours(
        self, api, api_as, other_workspace, simple_workflow
    ):
        start(api, simple_workflow, {}, key="k")
        IdempotencyRecord.objects.update(
            created_at=IdempotencyRecord.objects.get().created_at - timedelta(hours=25)
        )
        assert start(api, simple_workflow, {}, key="k").json()["id"] != Run.objects.order_by("id").first().pk
        assert Run.objects.count() == 2

    def test_a_disabled_workflow_is_409(self, api, simple_workflow):
        simple_workflow.enabled = False
        simple_workflow.save()
        response = start(api, simple_workflow)
        assert response.status_code == 409 and response.json()["code"] == "CONFLICT"

    @pytest.mark.parametrize(
        "body", [[], "x", {"payload": []}, {"variables": "v"}, {"payload": {"a": "\x00"}}]
    )
    def test_bad_bodies_are_400_and_start_nothing(self, api, simple_workflow, body):
        response = start(api, simple_workflow, body)
        assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
        assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_identical_posts_make_one_run(workspace, simple_workflow, make_key):
    secret = make_key(workspace, "run")
    barrier = threading.Barrier(10)
    answers: list[tuple[int, int]] = []

    def post():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
            barrier.wait()
            response = start(client, simple_workflow, {"payload": {"order": 17}}, key="order-17")
            answers.append((response.status_code, response.json()["id"]))
        finally:
            db_connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Run.objects.count() == 1
    assert answers == [(202, Run.objects.get().pk)] * 10


@pytest.mark.django_db(transaction=True)
class TestWait:
    def test_wait_returns_the_finished_run_with_its_result(self, api, simple_workflow):
        def worker():  # a qcluster worker, half a second late
            try:
                time.sleep(0.5)
                for run_id in Run.objects.filter(status="pending").values_list("id", flat=True):
                    run_execute_inline(run_id)
            finally:
                db_connections.close_all()

        thread = threading.Thread(target=worker)
        thread.start()
        began = time.monotonic()
        response = start(api, simple_workflow, {"payload": {"name": "Ann"}}, wait=10)
        thread.join()
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == "succeeded" and time.monotonic() - began < 5
        assert body["steps"][0]["step_name"] == "remember" and body["steps"][0]["status"] == "succeeded"
        assert body["variables"]["greeting"] == "Hello Ann"

    def test_wait_running_out_is_202_with_the_run_so_far(self, api, simple_workflow, settings):
        settings.API_MAX_WAIT_SECONDS = 1  # and the cap applies: wait=30 holds one second
        began = time.monotonic()
        response = start(api, simple_workflow, wait=30)
        assert response.status_code == 202 and response.json()["status"] == "pending"
        assert 0.9 < time.monotonic() - began < 5


@pytest.fixture
def runs(simple_workflow, workspace):
    made = []
    for index in range(7):
        made.append(
            Run.objects.create(
                workflow=simple_workflow,
                workspace=workspace,
                status=RunStatus.SUCCEEDED if index % 2 else RunStatus.FAILED,
                source="api" if index < 4 else "trigger",
                search_text=f"+1415555010{index} SM{index:032d}",
            )
        )
    child = Run.objects.create(
        workflow=simple_workflow, workspace=workspace, parent=made[0], source="for_each"
    )
    return made, child


@pytest.mark.django_db
class TestList:
    def test_filters(self, api, runs):
        made, child = runs

        def ids(**params):
            response = api.get("/api/v1/runs", params)
            assert response.status_code == 200, response.content
            return {row["id"] for row in response.json()["results"]}

        assert ids(status="failed") == {r.pk for r in made if r.status == "failed"}
        assert ids(source="trigger") == {r.pk for r in made[4:]}
        assert ids(phone_number="+14155550103") == {made[3].pk}
        assert ids(twilio_sid=f"SM{5:032d}") == {made[5].pk}
        assert child.pk in ids() and child.pk not in ids(top_level="true")
        assert ids(created_after="2000-01-01T00:00:00Z", created_before="2000-01-02T00:00:00Z") == set()
        step_run = StepRun.objects.create(
            run=made[6], sequence=1, step_name="s", kind="action", twilio_sid="SM" + "f" * 32
        )
        assert ids(twilio_sid=step_run.twilio_sid) == {made[6].pk}

    @pytest.mark.parametrize(
        "params",
        [
            {"status": "nope"},
            {"workflow": "x"},
            {"workflow": "9" * 30},
            {"created_after": "yesterday"},
            {"cursor": "zz"},
        ],
    )
    def test_bad_filters_are_400_or_404_never_500(self, api, runs, params):
        response = api.get("/api/v1/runs", params)
        assert response.status_code in (400, 404)
        assert set(response.json()) >= {"code", "message", "fields"}

    def test_cursor_pages_cover_every_run_once(self, api, runs):
        seen, url = [], "/api/v1/runs?page_size=3"
        while url:
            page = api.get(url).json()
            seen += [row["id"] for row in page["results"]]
            url = page["next"]
        assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 8


@pytest.mark.django_db
class TestOneRun:
    def test_detail_has_the_timeline_with_secrets_redacted(self, api, simple_workflow, workspace):
        run = Run.objects.create(workflow=simple_workflow, workspace=workspace, status="failed")
        StepRun.objects.create(
            run=run,
            sequence=1,
            step_name="check",
            kind="action",
            action="twilio/check-verification",
            status="failed",
            inputs={"To": "+14155550100", "Code": "123456", "password": "hunter2-secret"},
            twilio_sid="VE" + "a" * 32,
            error_code="PROVIDER_ERROR",
        )
        response = api.get(f"/api/v1/runs/{run.pk}")
        step = response.json()["steps"][0]
        assert step["twilio_sid"] == "VE" + "a" * 32 and step["error_code"] == "PROVIDER_ERROR"
        assert b"hunter2-secret" not in response.content

    def test_replay_and_cancel(self, api, simple_workflow, workspace):
        run = Run.objects.create(
            workflow=simple_workflow, workspace=workspace, status="succeeded", trigger_payload={"a": 1}
        )
        replay = api.post(f"/api/v1/runs/{run.pk}/replay")
        assert replay.status_code == 202
        new = Run.objects.get(pk=replay.json()["id"])
        assert (new.replay_of_id, new.trigger_payload, new.source) == (run.pk, {"a": 1}, "api")
        cancel = api.post(f"/api/v1/runs/{new.pk}/cancel")
        assert cancel.status_code == 200 and cancel.json()["status"] == "canceled"
        again = api.post(f"/api/v1/runs/{new.pk}/cancel")
        assert again.status_code == 409 and again.json()["code"] == "CONFLICT"


@pytest.mark.django_db(transaction=True)
def test_a_curl_only_developer_journey(workspace, make_key):
    """Create a workflow from JSON, start it with an idempotency key, wait for its result,
    page through its runs: one workspace key, nothing else."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key(workspace, 'manage')}")
    document = {
        "format": "twilioflow/workflow@1",
        "name": "Greeter",
        "steps": [
            {
                "name": "greet",
                "kind": "set_variables",
                "inputs": {"variables": {"hi": "Hi {{ trigger.name }}"}},
            }
        ],
    }
    created = client.post("/api/v1/workflows", document, format="json")
    assert created.status_code == 201, created.content
    workflow_id = created.json()["id"]

    stop = threading.Event()

    def worker():
        try:
            while not stop.is_set():
                for run_id in Run.objects.filter(status="pending").values_list("id", flat=True):
                    run_execute_inline(run_id)
                time.sleep(0.05)
        finally:
            db_connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        url = f"/api/v1/workflows/{workflow_id}/runs?wait=10"
        finished = []
        for name in ("Ann", "Bob", "Cy"):
            response = client.post(
                url, {"payload": {"name": name}}, format="json", HTTP_IDEMPOTENCY_KEY=f"greet-{name}"
            )
            assert response.status_code == 200, response.content
            finished.append(response.json())
        again = client.post(
            url, {"payload": {"name": "Ann"}}, format="json", HTTP_IDEMPOTENCY_KEY="greet-Ann"
        )
    finally:
        stop.set()
        thread.join()
    assert [run["variables"]["hi"] for run in finished] == ["Hi Ann", "Hi Bob", "Hi Cy"]
    assert again.json()["id"] == finished[0]["id"]
    seen, page_url = [], f"/api/v1/runs?workflow={workflow_id}&page_size=2"
    while page_url:
        page = client.get(page_url).json()
        seen += [row["id"] for row in page["results"]]
        page_url = page["next"]
    assert seen == [run["id"] for run in reversed(finished)]
