"""Session login, the workspace switcher, roles (viewers read only) and workspace walls on
the staff pages; the runs list's filters, replay with confirmation and cancel."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.staff.conftest import ALICE, inbound, outbound
from workflows.models import Run, RunStatus
from workspaces.models import Membership, Role

pytestmark = pytest.mark.django_db
PAGES = ("staff:dashboard", "staff:inbox", "staff:runs")


def test_pages_need_a_login(client):
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_session_login_for_a_non_staff_member(client, django_user_model, workspace):
    user = django_user_model.objects.create_user("olga", password="a-long-password-1")
    Membership.objects.create(user=user, workspace=workspace, role=Role.OPERATOR)
    page = client.get(reverse("staff:login")).content.decode()
    assert 'name="username"' in page and "<label" in page
    bad = client.post(reverse("staff:login"), {"username": "olga", "password": "nope"})
    assert "didn't match" in bad.content.decode()
    response = client.post(
        reverse("staff:login"), {"username": "olga", "password": "a-long-password-1", "next": "/inbox/"}
    )
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    html = client.get("/").content.decode()
    assert "Acme Dental" in html and "olga · operator" in html
    assert ">Admin<" not in html  # not staff: no admin link


def test_a_user_without_workspace_is_told_what_to_do(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("lonely"))
    response = client.get("/")
    assert response.status_code == 403
    assert "Ask a workspace owner or admin" in response.content.decode()


def test_the_switcher_offers_only_my_workspaces(
    client, make_staff, workspace, other_workspace, django_user_model
):
    from workspaces.models import Workspace

    third = Workspace.objects.create(name="Secret Client", slug="secret")
    user = make_staff("multi", workspace, Role.VIEWER)
    Membership.objects.create(user=user, workspace=other_workspace, role=Role.OPERATOR)
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "Acme Dental" in html and "Bistro Nord" in html and "Secret Client" not in html
    assert "multi · viewer" in html
    response = client.post(
        reverse("staff:switch_workspace"), {"workspace": other_workspace.pk, "next": "/inbox/x/"}
    )
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    assert "multi · operator" in client.get("/").content.decode()
    assert client.post(reverse("staff:switch_workspace"), {"workspace": third.pk}).status_code == 404
    assert client.post(reverse("staff:switch_workspace"), {"workspace": "x"}).status_code == 404
    evil = client.post(
        reverse("staff:switch_workspace"), {"workspace": workspace.pk, "next": "//evil.example/"}
    )
    assert evil["Location"] == "/"


def test_removed_member_loses_the_workspace_at_once(client, make_staff, workspace, other_workspace):
    user = make_staff("leaver", workspace, Role.OPERATOR)
    Membership.objects.create(user=user, workspace=other_workspace, role=Role.OPERATOR)
    client.force_login(user)
    client.post(reverse("staff:switch_workspace"), {"workspace": other_workspace.pk})
    Membership.objects.filter(user=user, workspace=other_workspace).delete()
    html = client.get("/").content.decode()
    assert "Bistro Nord" not in html and "Acme Dental" in html


def test_another_workspaces_run_is_a_404(client, make_staff, connection, other_workspace):
    step = outbound(connection, body="private")
    client.force_login(make_staff("outsider", other_workspace, Role.OWNER))
    for name in ("staff:run", "staff:replay"):
        assert client.get(reverse(name, kwargs={"run_id": step.run_id})).status_code == 404
    assert client.post(reverse("staff:cancel", kwargs={"run_id": step.run_id})).status_code == 404
    assert "private" not in client.get(reverse("staff:runs")).content.decode()


def test_a_viewer_reads_runs_but_cannot_replay_or_cancel(seat_client, connection):
    client = seat_client("viewer")
    step = outbound(connection, body="hi", run_status=RunStatus.RUNNING)
    page = client.get(reverse("staff:run", kwargs={"run_id": step.run_id})).content.decode()
    assert "Replay" not in page and "Cancel run" not in page and "send-sms" in page
    assert client.get(reverse("staff:replay", kwargs={"run_id": step.run_id})).status_code == 403
    assert (
        client.post(reverse("staff:replay", kwargs={"run_id": step.run_id}), {"confirm": "yes"}).status_code
        == 403
    )
    assert client.post(reverse("staff:cancel", kwargs={"run_id": step.run_id})).status_code == 403
    assert Run.objects.count() == 1 and Run.objects.get().status == RunStatus.RUNNING


def test_replay_asks_first_then_starts_a_linked_run(seat_client, connection):
    client = seat_client("operator")
    step = outbound(connection, contact=ALICE, body="hi")
    url = reverse("staff:replay", kwargs={"run_id": step.run_id})
    page = client.get(url).content.decode()
    assert f"will send 1 SMS to {ALICE} again" in page
    assert Run.objects.count() == 1  # asking sends nothing
    response = client.post(url, {"confirm": "yes"})
    new = Run.objects.exclude(pk=step.run_id).get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "staff:run", kwargs={"run_id": new.pk}
    )
    assert (new.replay_of_id, new.source) == (step.run_id, "replay")


def test_cancel_a_live_run(seat_client, connection):
    client = seat_client("operator")
    step = outbound(connection, run_status=RunStatus.WAITING)
    page = client.get(reverse("staff:run", kwargs={"run_id": step.run_id})).content.decode()
    assert "Cancel run" in page and 'hx-trigger="every 3s"' in page  # live: it refreshes itself
    client.post(reverse("staff:cancel", kwargs={"run_id": step.run_id}))
    run = Run.objects.get(pk=step.run_id)
    assert run.status == RunStatus.CANCELED and "user-operator" in run.error_message


def test_run_list_filters(seat_client, connection):
    client = seat_client("viewer")
    ok = outbound(connection, contact=ALICE, delivery="delivered")
    bad = outbound(connection, contact="+14155550199", delivery="undelivered", delivery_error=30003)
    refused = outbound(connection, status="failed", error_code="OPTED_OUT", run_status=RunStatus.FAILED)

    def listed(**query):
        html = client.get(reverse("staff:runs"), query).content.decode()
        return {s.run_id for s in (ok, bad, refused) if f'href="/runs/{s.run_id}/"' in html}

    assert listed() == {ok.run_id, bad.run_id, refused.run_id}
    assert listed(error="30003") == {bad.run_id}
    assert listed(error="OPTED_OUT") == {refused.run_id}
    assert listed(delivery="delivered") == {ok.run_id}
    assert listed(status="failed") == {refused.run_id}
    assert listed(action="messages") == {ok.run_id, bad.run_id, refused.run_id}
    assert listed(day_from="2000-01-01", day_to="2000-01-02") == set()
    assert listed(day_from="not-a-date") == {ok.run_id, bad.run_id, refused.run_id}
    assert (
        "Unreachable destination handset"
        in client.get(reverse("staff:runs"), {"error": "30003"}).content.decode()
    )
    empty = client.get(reverse("staff:runs"), {"q": "nothing-like-this"}).content.decode()
    assert "No run matches these filters" in empty


def test_every_page_has_an_empty_state_and_the_views_chrome(seat_client):
    client = seat_client("operator")
    assert "No conversations yet" in client.get(reverse("staff:inbox")).content.decode()
    assert "No runs yet" in client.get(reverse("staff:runs")).content.decode()
    html = client.get("/").content.decode()
    assert 'name="viewport"' in html and 'href="#main"' in html and "times in" in html
    assert "htmx" in html and "https://" not in html.split("<body")[0]  # no CDN in <head>


def test_times_are_shown_in_the_viewers_zone(seat_client, connection):
    client = seat_client("operator")
    inbound(connection, body="zone test")
    client.cookies["tf_time_zone"] = "Asia/Tokyo"
    assert "times in Asia/Tokyo" in client.get(reverse("staff:inbox")).content.decode()
    client.cookies["tf_time_zone"] = "Not/AZone"
    assert "times in UTC" in client.get(reverse("staff:inbox")).content.decode()


def test_the_run_list_pages_without_counting(seat_client, connection):
    from staff.selectors.runs import PAGE_SIZE

    client = seat_client("viewer")
    for _ in range(PAGE_SIZE + 1):
        outbound(connection)
    first = client.get(reverse("staff:runs")).content.decode()
    assert "Older →" in first and "← Newer" not in first
    second = client.get(reverse("staff:runs"), {"page": 2}).content.decode()
    assert "← Newer" in second and "Older →" not in second
    assert len(re.findall(r'href="/runs/\d+/"', second)) == 1
