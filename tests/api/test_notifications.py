"""Run-end webhooks: set per workflow through the API, one signed delivery per ended run
(Standard Webhooks), retried with backoff, never twice, every delivery recorded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from api.models import DeliveryStatus, RunWebhookDelivery
from api.notifications import BACKOFF, run_webhooks_dispatch
from twilioflow.core import clock
from workflows.models import Run

pytestmark = pytest.mark.django_db
HOOK = "https://crm.example.com/hooks/twilioflow"


@pytest.fixture(autouse=True)
def _public_dns(monkeypatch):
    """The hook's host resolves to a public address (no test touches DNS)."""
    monkeypatch.setattr("api.notifications.resolve_host", lambda host, port: ["93.184.215.14"])


def set_hook(api, workflow, **extra):
    return api.put(f"/api/v1/workflows/{workflow.pk}/webhook", {"url": HOOK, **extra}, format="json")


def ended_run(workflow, status="succeeded", **extra):
    return Run.objects.create(
        workflow=workflow,
        workspace=workflow.workspace,
        status=status,
        finished_at=clock.now() + timedelta(seconds=1),
        result={"booked": True},
        **extra,
    )


def test_the_secret_is_shown_once(api, simple_workflow):
    created = set_hook(api, simple_workflow)
    assert created.status_code == 200, created.content
    secret = created.json()["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    read = api.get(f"/api/v1/workflows/{simple_workflow.pk}/webhook")
    assert secret.encode() not in read.content and read.json()["url"] == HOOK
    assert secret.encode() not in set_hook(api, simple_workflow, enabled=False).content
    rotated = set_hook(api, simple_workflow, rotate_secret=True).json()["secret"]
    assert rotated.startswith("whsec_") and rotated != secret


def test_needs_manage_scope(api_as, workspace, simple_workflow):
    assert set_hook(api_as(workspace, "run"), simple_workflow).status_code == 403


def test_one_signed_delivery_per_ended_run(api, simple_workflow, twilio):
    secret = set_hook(api, simple_workflow).json()["secret"]
    Run.objects.create(workflow=simple_workflow, workspace=simple_workflow.workspace, status="running")
    run = ended_run(simple_workflow)
    child = ended_run(simple_workflow, parent=run)
    twilio.post(HOOK, status=204)
    assert run_webhooks_dispatch(now=clock.now() + timedelta(seconds=2)) == {
        "recorded": 1,
        "sent": 1,
        "failed": 0,
    }
    request = twilio.calls[0].request
    body = json.loads(request.body)
    assert (
        body["type"] == "run.succeeded"
        and body["data"]["id"] == run.pk
        and body["data"]["result"] == {"booked": True}
    )
    msg_id, timestamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + request.body, hashlib.sha256).digest()
    ).decode()
    assert request.headers["webhook-signature"] == f"v1,{expected}"
    # Never twice: the next dispatch finds nothing new (the child run is not announced).
    assert run_webhooks_dispatch(now=clock.now() + timedelta(minutes=5))["sent"] == 0
    delivery = RunWebhookDelivery.objects.get()
    assert (delivery.run_id, delivery.status, delivery.last_status_code) == (run.pk, "delivered", 204)
    assert not RunWebhookDelivery.objects.filter(run=child).exists()


def test_failures_retry_with_backoff_then_give_up(api, simple_workflow, twilio):
    set_hook(api, simple_workflow)
    ended_run(simple_workflow, status="failed")
    twilio.post(HOOK, status=500)
    now = clock.now() + timedelta(seconds=2)
    run_webhooks_dispatch(now=now)
    delivery = RunWebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 500")
    assert delivery.next_attempt_at == now + timedelta(seconds=BACKOFF[0])
    assert run_webhooks_dispatch(now=now + timedelta(seconds=1))["failed"] == 0  # not due yet
    for wait in BACKOFF:
        now += timedelta(seconds=wait)
        run_webhooks_dispatch(now=now)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, len(BACKOFF) + 1)


def test_runs_that_ended_before_the_webhook_are_not_announced(api, simple_workflow, twilio):
    Run.objects.create(
        workflow=simple_workflow,
        workspace=simple_workflow.workspace,
        status="succeeded",
        finished_at=clock.now() - timedelta(days=1),
    )
    set_hook(api, simple_workflow)
    assert run_webhooks_dispatch()["recorded"] == 0
