"""The admin's chrome (issue 11): readable badges, one stylesheet, the workspace's time zone,
the index's "Getting started" panel and app order, and "View site"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from twilioflow.core.admin_display import (
    BADGE_TEXT_COLOUR,
    DEFAULT_BADGE_COLOUR,
    STATUS_COLOURS,
    contrast_ratio,
    status_badge,
)
from workspaces.models import Role

INDEX = reverse("admin:index")


def test_contrast_ratio_matches_wcag_reference_values():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("status", [*STATUS_COLOURS, "something-new"])
def test_every_badge_is_readable_wcag_aa(status):
    background = STATUS_COLOURS.get(status, DEFAULT_BADGE_COLOUR)
    assert contrast_ratio(BADGE_TEXT_COLOUR, background) >= 4.5, (status, background)
    html = status_badge(status, "x")
    assert background in html and BADGE_TEXT_COLOUR in html


def test_every_badge_colour_that_statuses_use_is_declared():
    from connections.models import ConnectionStatus
    from triggers.models import MatchStatus
    from workflows.models import RunStatus, StepStatus

    for choices in (RunStatus, StepStatus, ConnectionStatus, MatchStatus):
        for value in choices.values:
            assert value in STATUS_COLOURS, value


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    return client


def test_one_stylesheet_on_every_admin_page(superuser_client, workspace):
    for url in (
        INDEX,
        reverse("admin:workflows_run_changelist"),
        reverse("admin:workspaces_workspace_changelist"),
    ):
        html = superuser_client.get(url).content.decode()
        assert "twilioflow/admin.css" in html, url
        assert "<style" not in html, url


def test_view_site_goes_to_the_staff_dashboard(superuser_client, workspace):
    html = superuser_client.get(INDEX).content.decode()
    assert '<a href="/">View site</a>' in html


class TestTimeZone:
    def test_times_are_in_the_workspace_zone(self, client, make_staff, workspace, make_workflow):
        from workflows.models import Run
        from workflows.services import run_create

        workspace.time_zone = "America/New_York"
        workspace.save()
        run = run_create(
            workflow=make_workflow("flow", [dict(name="bye", kind="end", inputs={})]),
            payload={},
            enqueue=False,
        )
        Run.objects.filter(pk=run.pk).update(created_at=datetime(2025, 1, 15, 17, 30, tzinfo=UTC))
        client.force_login(make_staff("otto", workspace, Role.OPERATOR))
        html = client.get(reverse("admin:workflows_run_change", args=[run.pk])).content.decode()
        assert "12:30" in html and "America/New_York" in html

    def test_several_zones_fall_back_to_the_browser_zone(
        self, client, make_staff, workspace, other_workspace
    ):
        from workspaces.middleware import admin_time_zone
        from workspaces.models import Membership

        other_workspace.time_zone = "Europe/Berlin"
        other_workspace.save()
        user = make_staff("both", workspace)
        Membership.objects.create(user=user, workspace=other_workspace, role=Role.VIEWER)
        assert admin_time_zone(user, "Asia/Tokyo") == "Asia/Tokyo"
        assert admin_time_zone(user, "Not/AZone") is None
        assert admin_time_zone(user, None) is None


class TestIndex:
    def test_getting_started_ticks_what_is_done(self, superuser_client, workspace, connection):
        html = superuser_client.get(INDEX).content.decode()
        assert "Getting started (2 of 6 done)" in html
        panel = html[html.index('id="tf-getting-started"') : html.index('id="tf-recent"')]
        assert panel.count("tf-done") == 2 and panel.count("tf-todo") == 4
        assert "send_test_webhook" in panel

    def test_recent_runs_and_failures(self, superuser_client, make_workflow):
        from workflows.models import Run, RunStatus
        from workflows.services import run_create

        run = run_create(
            workflow=make_workflow("flow", [dict(name="bye", kind="end", inputs={})]),
            payload={},
            enqueue=False,
        )
        from twilioflow.core import clock

        Run.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, error_code="BOOM", finished_at=clock.now()
        )
        html = superuser_client.get(INDEX).content.decode()
        recent = html[html.index('id="tf-recent"') :]
        assert reverse("admin:workflows_run_change", args=[run.pk]) in recent and "BOOM" in recent

    def test_apps_follow_the_getting_started_flow(self, superuser_client, workspace):
        apps = superuser_client.get(INDEX).context["app_list"]
        labels = [app["app_label"] for app in apps]
        assert labels[:4] == ["workspaces", "connections", "triggers", "workflows"]
        triggers = next(app for app in apps if app["app_label"] == "triggers")
        assert [m["object_name"] for m in triggers["models"]] == ["PhoneNumber", "Trigger", "TriggerEvent"]
