"""A new user builds two workflows in the admin without typing JSON, previews them, runs them
against the fake Twilio and reads the results: order-shipped (a webhook trigger and a
send-sms step whose recipient is inserted from the variable browser) and bulk-reminder (a
for_each over a child workflow that branches)."""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.conftest import drain_runs, log_in
from triggers.models import Trigger
from workflows.models import Run, RunStatus, Step, Workflow

pytestmark = pytest.mark.browser

FROM = "+15017122661"
OPTED_OUT = "+14155550199"
RECIPIENTS = ["+14155550101", OPTED_OUT, "+14155550102"]


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
    page.fill(
        "#id_steps-0-ed-input__Body",
        "Hi {{ trigger.data.name }}, order {{ trigger.data.order }} has shipped.",
    )
    editor(page, 0).locator(".tf-preview-btn").click()
    preview = editor(page, 0).locator(".tf-preview-table")
    preview.wait_for()
    assert "+14155550123" in preview.inner_text()
    assert "Hi Ada Lovelace, order 1042 has shipped." in preview.inner_text()
    shoot(page, "01-order-shipped-step-editor")
    shoot(page, "readme-1-step-editor", element="#steps-0")

    # The advanced JSON toggle shows the same inputs, and back.
    with page.expect_response(re.compile(r"/step-editor/$")):
        page.click("#id_steps-0-json_mode")
    page.wait_for_selector("#id_steps-0-inputs", state="visible")
    assert json.loads(page.input_value("#id_steps-0-inputs"))["To"] == "{{ trigger.data.phone }}"
    with page.expect_response(re.compile(r"/step-editor/$")):
        page.click("#id_steps-0-json_mode")
    page.wait_for_selector("#id_steps-0-ed-input__To", state="visible")
    assert page.input_value("#id_steps-0-ed-input__To") == "{{ trigger.data.phone }}"
    assert not page.is_visible("#id_steps-0-inputs")

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

    # --- bulk-reminder: a for_each over a child that branches ------------------------------
    # The child: skip the opted-out number, text the others.
    page.goto("/admin/workflows/workflow/add/")
    page.fill("#id_name", "remind-one")
    # The send step first, then the branch, moved up above it with ▲.
    page.fill("#id_steps-0-name", "remind")
    choose(page, "#id_steps-0-connection", main)
    choose(page, "#id_steps-0-action", "twilio/send-sms")
    page.fill("#id_steps-0-ed-input__From", FROM)
    page.click("#id_steps-0-ed-input__To")
    editor(page, 0).locator("summary", has_text="Variables").click()
    editor(page, 0).locator("button.tf-var[data-var='item']").click()
    page.fill("#id_steps-0-ed-input__Body", "Acme Outdoor: your order is ready for pick-up tomorrow.")

    second = add_step(page)
    page.fill(f"#id_steps-{second}-name", "check")
    choose(page, f"#id_steps-{second}-kind", "branch")
    page.click(f"#id_steps-{second}-ed-cases-0-left")
    editor(page, second).locator("summary", has_text="Variables").click()
    editor(page, second).locator("button.tf-var[data-var='item']").click()
    page.select_option(f"#id_steps-{second}-ed-cases-0-operator", "equals")
    page.fill(f"#id_steps-{second}-ed-cases-0-right", OPTED_OUT)
    page.click(f"#id_steps-{second}-ed-cases-0-goto")  # offers the step names, next and end
    assert "remind" in page.inner_text(f"#id_steps-{second}-ed-cases-0-goto")
    page.select_option(f"#id_steps-{second}-ed-cases-0-goto", "end")
    page.click(f"#steps-{second} .tf-move[data-dir=up]")
    assert page.locator("#steps-group .inline-related:not(.empty-form)").first.get_attribute("id") == (
        f"steps-{second}"
    )
    second = 0  # the send step, now second on the page

    # The preview uses the sample's item (edited here, as a user would for a child workflow).
    editor(page, second).locator("summary", has_text="Sample data").click()
    editor(page, second).locator(".tf-sample").fill('{"trigger": {}, "item": "+14155550101"}')
    editor(page, second).locator(".tf-preview-btn").click()
    editor(page, second).locator(".tf-preview-table").wait_for()
    assert "+14155550101" in editor(page, second).locator(".tf-preview-table").inner_text()
    shoot(page, "02-remind-one-branch-and-send")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    child = Workflow.objects.get(name="remind-one")
    assert list(child.steps.order_by("position").values_list("name", "kind", "inputs")) == [
        (
            "check",
            "branch",
            {"cases": [{"left": "{{ item }}", "operator": "equals", "right": OPTED_OUT, "goto": "end"}]},
        ),
        (
            "remind",
            "action",
            {
                "From": FROM,
                "To": "{{ item }}",
                "Body": "Acme Outdoor: your order is ready for pick-up tomorrow.",
            },
        ),
    ]

    # The parent: one child run per recipient, two at a time.
    page.goto("/admin/workflows/workflow/add/")
    page.fill("#id_name", "bulk-reminder")
    page.fill("#id_steps-0-name", "send_all")
    choose(page, "#id_steps-0-kind", "for_each")
    page.select_option("#id_steps-0-ed-workflow", "remind-one")
    page.fill("#id_steps-0-ed-items", "\n".join(RECIPIENTS))
    page.fill("#id_steps-0-ed-concurrency", "2")
    editor(page, 0).locator(".tf-preview-btn").click()
    editor(page, 0).locator(".tf-preview-table").wait_for()
    shoot(page, "readme-2-for-each", element="#steps-0")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    parent = Workflow.objects.get(name="bulk-reminder")
    assert parent.steps.get().inputs == {"workflow": "remind-one", "items": RECIPIENTS, "concurrency": 2}

    page.click("text=Run now")
    page.click("input[name=apply]")
    page.wait_for_url(re.compile(r"/admin/workflows/run/\d+/change/"))
    drain_runs()
    page.reload()
    content = page.inner_text("#content")
    assert "Succeeded" in content and "3 child runs" in content
    sent = sorted(send.first("To") for send in fake_twilio.sends[1:])
    assert sent == ["+14155550101", "+14155550102"]  # the opted-out number was skipped
    shoot(page, "04-bulk-reminder-run")
    shoot(page, "readme-3-run", element="#content")
    run = Run.objects.get(workflow=parent)
    assert run.status == RunStatus.SUCCEEDED
    assert Run.objects.filter(parent=run, status=RunStatus.SUCCEEDED).count() == 3
    assert Step.objects.filter(workflow__in=[child, parent]).count() == 3
