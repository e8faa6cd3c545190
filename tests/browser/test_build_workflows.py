"""A new user builds two workflows in the admin without typing JSON, previews them, runs them
against the fake Twilio and reads the results: order-shipped (a webhook trigger and a
send-sms step whose recipient is inserted from the variable browser) and bulk-reminder (a
for_each over a child workflow that branches)."""

from __future__ import annotations

import re

import pytest


from triggers.models import PhoneNumber, Trigger
from workflows.models import Run, RunStatus, Step, Workflow
from workspaces.models import Workspace

pytestmark = pytest.mark.browser

FROM = "+15017122661"
OPTED_OUT = "+14155550199"
RECIPIENTS = ["+14155550101", OPTED_OUT, "+14155550102"]


@pytest.fixture
def admin_world(transactional_db, django_user_model, settings, live_server):
    """An empty admin: a superuser, one workspace and its connection with one synced number."""
    from connections.services import connection_create
    from tests.conftest import ACCOUNT_SID, AUTH_TOKEN

    settings.PUBLIC_BASE_URL = live_server.url
    django_user_model.objects.create_superuser("ada", password="a-long-test-password")
    workspace = Workspace.objects.create(name="Acme Outdoor", slug="acme", default_country="US")
    connection = connection_create(workspace=workspace, name="main", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    PhoneNumber.objects.create(connection=connection, sid="PN" + "a" * 32, phone_number=FROM,
                               friendly_name="Shop line")
    return workspace, connection


def drain_runs(limit: int = 40) -> None:
    """What the worker does: execute every run that can go on, until none can."""
    from workflows.engine.loop import run_execute

    for _ in range(limit):
        ready = list(
            Run.objects.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).values_list("pk", flat=True)
        )
        if not ready:
            return
        for pk in ready:
            run_execute(pk)
    raise AssertionError("runs did not settle")


def log_in(page) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def editor(page, step: int):
    return page.locator(f"#steps-{step} .tf-editor")


def choose(page, selector: str, value: str) -> None:
    """Select an option and wait for the step editor the change brings."""
    with page.expect_response(re.compile(r"/step-editor/$")):
        page.select_option(selector, value)


def add_step(page) -> int:
    page.click("#steps-group .add-row a")
    return page.locator("#steps-group .inline-related:not(.empty-form)").count() - 1


def test_build_preview_and_run_both_workflows(page, admin_world, fake_twilio, shoot):
    workspace, connection = admin_world
    main = str(connection.pk)
    log_in(page)

    # --- order-shipped: a webhook trigger and one send-sms step -------------------------
    page.goto("/admin/workflows/workflow/add/")
    assert page.input_value("#id_workspace") == str(workspace.pk)  # preselected
    assert page.input_value("#id_default_variables").strip() == "{}"  # never "null"
    page.fill("#id_name", "order-shipped")
    page.select_option("#id_triggers-0-kind", "twilio/webhook")
    page.select_option("#id_triggers-0-connection", main)
    assert not page.is_visible("#id_triggers-0-voice_answer")  # only for calls

    page.fill("#id_steps-0-name", "notify")
    choose(page, "#id_steps-0-connection", main)
    choose(page, "#id_steps-0-action", "twilio/send-sms")
    page.fill("#id_steps-0-ed-input__From", FROM)
    page.click("#id_steps-0-ed-input__To")
    editor(page, 0).locator("summary", has_text="Variables").click()
    editor(page, 0).locator("button.tf-var[data-var='trigger.data.phone']").click()
    assert page.input_value("#id_steps-0-ed-input__To") == "{{ trigger.data.phone }}"
    page.fill("#id_steps-0-ed-input__Body", "Hi {{ trigger.data.name }}, order {{ trigger.data.order }} has shipped.")
    editor(page, 0).locator(".tf-preview-btn").click()
    preview = editor(page, 0).locator(".tf-preview-table")
    preview.wait_for()
    assert "+14155550123" in preview.inner_text()
    assert "Hi Ada Lovelace, order 1042 has shipped." in preview.inner_text()
    shoot(page, "01-order-shipped-step-editor")

    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    workflow = Workflow.objects.get(name="order-shipped")
    step = workflow.steps.get()
    assert step.inputs == {
        "From": FROM,
        "To": "{{ trigger.data.phone }}",
        "Body": "Hi {{ trigger.data.name }}, order {{ trigger.data.order }} has shipped.",
    }
    assert Trigger.objects.get(workflow=workflow).kind == "twilio/webhook"
    assert "/hooks/twilio/" in page.input_value("#triggers-0 .tf-copy-url input")

    page.click("text=Run now")
    payload = page.input_value("#id_payload")
    assert "Ada Lovelace" in payload  # the trigger kind's sample
    page.click("input[name=apply]")
    page.wait_for_url(re.compile(r"/admin/workflows/run/\d+/change/"))
    drain_runs()
    page.reload()
    assert "Succeeded" in page.inner_text("#content")
    assert [send.first("To") for send in fake_twilio.sends] == ["+14155550123"]
    assert fake_twilio.sends[0].first("Body") == "Hi Ada Lovelace, order 1042 has shipped."
    shoot(page, "03-order-shipped-run")
