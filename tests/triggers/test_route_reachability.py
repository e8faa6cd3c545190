""" "Route to TwilioFlow" refuses a PUBLIC_BASE_URL Twilio cannot reach (issue 11), with a
message about PUBLIC_BASE_URL and tunnels; a superuser may override explicitly."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connections.webhook_urls import unreachable_reason
from triggers.models import PhoneNumber
from workflows.models import Run
from workspaces.models import Role

NUMBERS = reverse("admin:triggers_phonenumber_changelist")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8000", "local or private"),
        ("https://localhost:8000", "local name"),
        ("https://10.1.2.3", "local or private"),
        ("https://192.168.1.20", "local or private"),
        ("https://172.16.0.9", "local or private"),
        ("https://[::1]:8000", "local or private"),
        ("https://169.254.1.1", "local or private"),
        ("https://flow.internal", "local name"),
        ("https://myserver", "not a public domain"),
        ("http://flow.example.com", "plain http"),
    ],
)
def test_unreachable_urls_say_why(url, why):
    assert why in (unreachable_reason(url) or "")


@pytest.mark.parametrize(
    "url", ["https://flow.example.com", "https://abc123.ngrok-free.app", "https://8.8.8.8:8443/prefix"]
)
def test_public_https_urls_pass(url):
    assert unreachable_reason(url) is None


@pytest.fixture
def number(connection):
    return PhoneNumber.objects.create(connection=connection, sid="PN" + "1" * 32, phone_number="+15017122661")


def test_route_refuses_a_local_public_base_url(client, make_staff, workspace, number, settings, twilio):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    client.force_login(make_staff("owen", workspace, Role.OWNER))
    page = client.post(NUMBERS, {"action": "route_numbers", "_selected_action": [number.pk]}, follow=True)
    html = page.content.decode()
    assert "Twilio cannot reach http://127.0.0.1:8000" in html
    assert "PUBLIC_BASE_URL" in html and "ngrok" in html
    assert not Run.objects.exists() and len(twilio.calls) == 0
    assert "route_numbers_anyway" not in client.get(NUMBERS).content.decode()  # not for owners


def test_a_superuser_may_override(client, django_user_model, number, settings, twilio):
    settings.PUBLIC_BASE_URL = "https://10.0.0.5"
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    assert "route_numbers_anyway" in client.get(NUMBERS).content.decode()
    refused = client.post(NUMBERS, {"action": "route_numbers", "_selected_action": [number.pk]}, follow=True)
    assert "Twilio cannot reach" in refused.content.decode() and not Run.objects.exists()
    client.post(NUMBERS, {"action": "route_numbers_anyway", "_selected_action": [number.pk]})
    run = Run.objects.get()
    assert run.adhoc_steps[0]["inputs"]["SmsUrl"].startswith("https://10.0.0.5/hooks/twilio/")
