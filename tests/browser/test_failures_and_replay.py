"""Issue 11's "Seeing what happened" and "Never surprised" in the browser: a for_each whose
child failed is not a green step, and Replay asks before it sends again.

Screenshots land in var/screenshots/ like the other browser tests'.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import FROM, REFUSED_NUMBER, drain_runs, log_in
from workflows.models import Run, RunStatus, Step, Workflow

pytestmark = pytest.mark.browser


def make_workflow(workspace, connection, name, steps):
    workflow = Workflow.objects.create(workspace=workspace, name=name)
    for position, spec in enumerate(steps):
        spec = dict(spec)
        if spec.get("kind", "action") == "action":
            spec.setdefault("connection", connection)
        step = Step(workflow=workflow, position=position, **spec)
        step.full_clean()
        step.save()
    return workflow


def send_to(to: str) -> dict:
    return {
        "name": "remind",
        "kind": "action",
        "action": "twilio/send-sms",
        "inputs": {"From": FROM, "To": to, "Body": "See you tomorrow."},
    }


def start_from_run_now(page, workflow) -> int:
    page.goto(f"/admin/workflows/workflow/{workflow.pk}/run-now/")
    page.click("input[name=apply]")
    page.wait_for_url(re.compile(r"/admin/workflows/run/\d+/change/"))
    return int(re.search(r"/run/(\d+)/", page.url)[1])


def test_a_failing_child_turns_the_parents_step_red(page, admin_world, fake_twilio, shoot):
    workspace, connection = admin_world
    make_workflow(workspace, connection, "remind-one", [send_to("{{ item }}")])
    parent = make_workflow(
        workspace,
        connection,
        "bulk-reminder",
        [
            {
                "name": "send_all",
                "kind": "for_each",
                "inputs": {
                    "workflow": "remind-one",
                    "items": ["+14155550101", REFUSED_NUMBER, "+14155550102"],
                },
            }
        ],
    )
    log_in(page)
    run_id = start_from_run_now(page, parent)
    drain_runs()
    page.reload()
    shoot(page, "05-failing-child")
    run = Run.objects.get(pk=run_id)
    assert Run.objects.filter(parent=run, status=RunStatus.FAILED).count() == 1
    step = page.locator("li.tf-step", has_text="send_all")
    badge = step.locator(".tf-badge").first.inner_text()
    assert badge.strip().lower() != "succeeded"  # the step follows on_error "fail"
    assert run.status == RunStatus.FAILED
    assert re.search(r"2 sent, 1 failed", page.inner_text("#content"))


def test_replay_asks_before_sending_again(page, admin_world, fake_twilio, shoot):
    workspace, connection = admin_world
    workflow = make_workflow(workspace, connection, "notify", [send_to("+14155550101")])
    log_in(page)
    run_id = start_from_run_now(page, workflow)
    drain_runs()
    page.reload()
    assert len(fake_twilio.sends) == 1

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("input[type=submit][value=Replay]")
    page.wait_for_load_state()
    asked = " ".join(dialogs) + " " + page.inner_text("body")
    shoot(page, "06-replay-confirmation")
    assert re.search(r"will send 1 SMS to \+1415", asked)
    assert Run.objects.filter(replay_of_id=run_id).count() == 0  # nothing until confirmed
    assert len(fake_twilio.sends) == 1
