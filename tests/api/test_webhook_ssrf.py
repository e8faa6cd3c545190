"""Run-end webhooks never reach into our own network (SSRF): a URL naming localhost, a
private, link-local, loopback, multicast or reserved address, or plain http, is refused
when it is saved (API and admin alike); at delivery the host is resolved again and a name
that now points inside (DNS rebinding) is refused and recorded on the delivery, with
nothing sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.models import RunWebhook, RunWebhookDelivery
from api.notifications import run_webhooks_dispatch, target_problem
from connections.webhook_urls import address_problem
from twilioflow.core import clock
from workflows.models import Run

pytestmark = pytest.mark.django_db
INTERNAL = [
    "https://localhost/h",
    "https://app.localhost/h",
    "https://127.0.0.1/h",
    "https://127.1.2.3:8443/h",
    "https://10.0.0.5/h",
    "https://172.16.3.4/h",
    "https://192.168.1.1/h",
    "https://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
    "https://[::1]/h",
    "https://[fe80::1]/h",
    "https://[fd00::1]/h",
    "https://[::ffff:127.0.0.1]/h",  # IPv4-mapped loopback
    "https://224.0.0.1/h",  # multicast
    "https://240.0.0.1/h",  # reserved
    "https://0.0.0.0/h",
    "https://100.64.0.1/h",  # carrier-grade NAT
    "https://metadata.internal/h",
    "https://router/h",
    "http://crm.example.com/h",  # plain http
]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_targets_are_refused_at_save(api, simple_workflow, url):
    response = api.put(f"/api/v1/workflows/{simple_workflow.pk}/webhook", {"url": url}, format="json")
    assert response.status_code == 400, url
    assert response.json()["code"] == "VALIDATION_ERROR" and "url" in response.json()["fields"]
    assert not RunWebhook.objects.exists()


def test_a_public_https_url_is_taken(api, simple_workflow):
    url = "https://crm.example.com/hooks"
    response = api.put(f"/api/v1/workflows/{simple_workflow.pk}/webhook", {"url": url}, format="json")
    assert response.status_code == 200 and RunWebhook.objects.get().url == url


def test_settings_may_allow_http_or_a_private_receiver(settings):
    assert target_problem("http://crm.example.com/h")
    settings.RUN_WEBHOOK_ALLOW_HTTP = True
    assert target_problem("http://crm.example.com/h") is None
    assert target_problem("http://10.0.0.5/h")  # still private
    settings.RUN_WEBHOOK_ALLOW_PRIVATE = True
    assert target_problem("http://10.0.0.5/h") is None


def test_the_admin_refuses_an_internal_url_too(admin_client, simple_workflow):
    hook = RunWebhook.objects.create(
        workflow=simple_workflow, url="https://crm.example.com/h", secret="whsec_x", created_at=clock.now()
    )
    response = admin_client.post(
        f"/admin/api/runwebhook/{hook.pk}/change/", {"url": "https://169.254.169.254/x", "enabled": "on"}
    )
    assert response.status_code == 200 and b"Refused" in response.content
    hook.refresh_from_db()
    assert hook.url == "https://crm.example.com/h"


@pytest.mark.parametrize(
    "resolved", [["127.0.0.1"], ["93.184.215.14", "10.1.2.3"], ["::1"], ["169.254.169.254"]]
)
def test_a_name_resolving_inside_is_refused_at_delivery(simple_workflow, monkeypatch, twilio, resolved):
    hook = RunWebhook.objects.create(
        workflow=simple_workflow,
        url="https://rebind.example.com/h",
        secret="whsec_" + "A" * 44,
        created_at=clock.now(),
    )
    monkeypatch.setattr("api.notifications.resolve_host", lambda host, port: resolved)
    Run.objects.create(
        workflow=simple_workflow,
        workspace=simple_workflow.workspace,
        status="succeeded",
        finished_at=clock.now() + timedelta(seconds=1),
    )
    result = run_webhooks_dispatch(now=clock.now() + timedelta(seconds=2))
    assert (result["sent"], result["failed"]) == (0, 1)
    assert len(twilio.calls) == 0  # nothing left this server
    delivery = RunWebhookDelivery.objects.get(webhook=hook)
    assert delivery.last_error.startswith("REFUSED: rebind.example.com resolves to")
    assert delivery.status == "pending" and delivery.last_status_code is None


def test_a_name_that_does_not_resolve_is_recorded(simple_workflow, monkeypatch, twilio):
    RunWebhook.objects.create(
        workflow=simple_workflow,
        url="https://gone.example.com/h",
        secret="whsec_" + "A" * 44,
        created_at=clock.now(),
    )

    def fail(host, port):
        raise OSError("Name or service not known")

    monkeypatch.setattr("api.notifications.resolve_host", fail)
    Run.objects.create(
        workflow=simple_workflow, workspace=simple_workflow.workspace, status="failed",
        finished_at=clock.now() + timedelta(seconds=1),
    )  # fmt: skip
    run_webhooks_dispatch(now=clock.now() + timedelta(seconds=2))
    assert RunWebhookDelivery.objects.get().last_error.startswith(
        "REFUSED: gone.example.com does not resolve"
    )


@settings(max_examples=200, deadline=None)
@given(st.ip_addresses())
def test_every_non_global_address_is_refused(address):
    refused = address_problem(str(address)) is not None
    mapped = getattr(address, "ipv4_mapped", None) or address
    assert refused == (not mapped.is_global or mapped.is_multicast or mapped.is_reserved)


def test_the_connection_itself_refuses_an_internal_peer():
    """Even when DNS changes between our lookup and the connection's own, the socket's peer
    is checked before a byte of the request is sent."""
    import socket

    import requests

    from api.notifications import PEER_REFUSED, delivery_session

    listener = socket.socket()
    listener.bind(("127.0.0.1", 9731))
    listener.listen(1)
    try:
        with pytest.raises(requests.ConnectionError, match=PEER_REFUSED), delivery_session() as session:
            session.post("http://127.0.0.1:9731/h", data=b"x", timeout=2)
        listener.settimeout(0.5)
        accepted, _ = listener.accept()  # the TCP handshake happened; nothing was sent on it
        accepted.settimeout(0.5)
        assert accepted.recv(100) == b""
        accepted.close()
    finally:
        listener.close()
