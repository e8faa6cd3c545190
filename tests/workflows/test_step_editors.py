"""The step editors (a form per step kind) against the JSON format, the workflow page's
editor requests, and the save-time check of undefined variables."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from triggers.models import Trigger
from workflows.step_editors import EDITORS, EditorContext, editor_round_trip
from workflows.transfer import FORMAT, workflow_export, workflow_import
from workflows.variables import StepInfo, WorkflowInfo, undefined_variable_problems, used_variables

FROM = "+15017122661"
ADD_URL = reverse("admin:workflows_workflow_add")
EDITOR_URL = reverse("admin:workflows_workflow_step_editor")

# One document with every step kind, in the format of workflows/transfer.py.
EVERY_KIND = {
    "format": FORMAT,
    "name": "every-kind",
    "description": "",
    "enabled": True,
    "default_variables": {"shop": "Acme Outdoor"},
    "steps": [
        {
            "name": "check",
            "kind": "branch",
            "action": "",
            "connection": None,
            "on_error": "fail",
            "max_retries": 3,
            "inputs": {
                "cases": [
                    {"left": "{{ trigger.confirmed }}", "operator": "equals", "right": "yes", "goto": "bye"},
                    {"left": "{{ trigger.phone }}", "operator": "is_empty", "goto": "end"},
                ],
                "default": "next",
            },
        },
        {
            "name": "remember",
            "kind": "set_variables",
            "action": "",
            "connection": None,
            "on_error": "fail",
            "max_retries": 3,
            "inputs": {"variables": {"greeting": "Hi {{ trigger.name|default:'there' }}"}},
        },
        {
            "name": "notify",
            "kind": "action",
            "action": "twilio/send-sms",
            "connection": "main",
            "on_error": "retry",
            "max_retries": 5,
            "inputs": {
                "From": FROM,
                "To": "{{ trigger.phone|e164 }}",
                "Body": "{{ vars.greeting }}, {{ vars.shop }} here.",
                "MediaUrl": ["https://example.com/a.png", "https://example.com/b.png"],
            },
        },
        {
            "name": "pause",
            "kind": "delay",
            "action": "",
            "connection": None,
            "on_error": "fail",
            "max_retries": 3,
            "inputs": {"seconds": 90},
        },
        {
            "name": "answer",
            "kind": "wait_for_reply",
            "action": "",
            "connection": None,
            "on_error": "fail",
            "max_retries": 3,
            "inputs": {"timeout_seconds": 3600, "on_reply": "bye", "no_reply": "end"},
        },
        {
            "name": "child",
            "kind": "run_workflow",
            "action": "",
            "connection": None,
            "on_error": "continue",
            "max_retries": 3,
            "inputs": {"workflow": "every-kind", "inputs": {"phone": "{{ trigger.phone }}"}},
        },
        {
            "name": "fan_out",
            "kind": "for_each",
            "action": "",
            "connection": None,
            "on_error": "fail",
            "max_retries": 3,
            "inputs": {
                "workflow": "every-kind",
                "items": "{{ trigger.recipients }}",
                "concurrency": 2,
                "rate_per_second": 0.5,
                "wait": False,
            },
        },
        {
            "name": "bye",
            "kind": "end",
            "action": "",
            "connection": None,
            "on_error": "fail",
            "max_retries": 3,
            "inputs": {"status": "succeeded", "message": "done", "output": {"sid": "{{ steps.notify.sid }}"}},
        },
    ],
}


def test_every_kind_has_an_editor():
    from workflows.models import StepKind

    assert set(EDITORS) == set(StepKind.values)


def test_each_editor_round_trips_an_exported_workflow(workspace, connection):
    workflow = workflow_import(workspace=workspace, document=EVERY_KIND)
    exported = workflow_export(workflow)
    ctx = EditorContext(step_names=[s["name"] for s in exported["steps"]], workflow_names=["every-kind"])
    rebuilt = json.loads(json.dumps(exported))
    for step in rebuilt["steps"]:
        step["inputs"] = editor_round_trip(step["kind"], step["inputs"], action=step["action"], ctx=ctx)
    assert rebuilt == exported == EVERY_KIND
    again = workflow_import(workspace=workspace, document=rebuilt, replace=True)
    assert workflow_export(again) == EVERY_KIND


@pytest.mark.parametrize(
    ("kind", "inputs"),
    [
        ("branch", {"cases": [{"left": 1, "operator": "equals", "right": "x", "goto": "end"}]}),  # not text
        ("set_variables", {"variables": {"count": 2}}),
        ("delay", {"seconds": "60"}),  # a string where a number goes
        ("delay", {"until": "{{ trigger.when }}"}),
        ("end", {}),
        ("end", {"status": "failed", "output": ["a", {"b": None}]}),
        ("run_workflow", {"workflow": "x", "inputs": {}}),
        ("for_each", {"workflow": "x", "items": ["+14155550101", "+14155550102"], "wait": True}),
        ("for_each", {"workflow": "x", "items": [{"phone": "+1"}], "concurrency": "{{ vars.n }}"}),
        ("wait_for_reply", {"channel": "whatsapp", "contact": "{{ trigger.From }}"}),
        ("wait_for_reply", {"channel": "{{ vars.channel }}"}),
    ],
)
def test_what_a_form_cannot_express_survives(kind, inputs):
    assert editor_round_trip(kind, inputs, ctx=EditorContext(workflow_names=["x"])) == inputs


def test_action_keys_the_form_does_not_know_survive():
    inputs = {"From": FROM, "To": "+14155552671", "Nonsense": {"x": 1}, "ProvideFeedback": "{{ vars.yes }}"}
    assert editor_round_trip("action", inputs, action="twilio/send-sms") == inputs


# --- the save-time check of undefined variables ----------------------------------------------
def info(*steps, kinds=("twilio/incoming-sms",), variables=None):
    return WorkflowInfo(steps=list(steps), trigger_kinds=list(kinds), default_variables=variables or {})


def test_used_variables_skip_defaults_conditions_and_loop_names():
    text = (
        "{{ trigger.Body }} {{ trigger.X|default:'' }} {% if trigger.Y %}y{% endif %}"
        "{% for m in trigger.media %}{{ m.url }}{% endfor %} {{ now|date:vars.fmt }}"
    )
    assert used_variables(text) == ["trigger.Body", "now", "vars.fmt"]


def test_a_misspelt_trigger_field_is_named_with_the_existing_one():
    step = StepInfo("notify", "action", "twilio/send-sms", {"Body": "You said {{ trigger.Boddy }}"})
    problems = undefined_variable_problems(info(step))
    assert list(problems) == ["steps.notify.inputs.Body"]
    assert "did you mean trigger.Body?" in problems["steps.notify.inputs.Body"][0]


def test_optional_trigger_fields_steps_outputs_and_roots():
    first = StepInfo("notify", "action", "twilio/send-sms", {"Body": "{{ trigger.FromCity }}"})
    second = StepInfo(
        "later",
        "action",
        "twilio/send-sms",
        {
            "Body": "{{ steps.notify.sid }} {{ steps.notify.sidd }} {{ steps.nope.sid }} {{ trigerr.From }} "
            "{{ item.phone }} {{ workspace.name }} {{ run.id }}",
        },
    )
    problems = undefined_variable_problems(info(first, second))
    messages = " | ".join(problems["steps.later.inputs.Body"])
    assert "steps.notify.inputs.Body" not in problems  # a geo field: optional, but known
    assert (
        'undefined variable "steps.notify.sidd"' in messages and "did you mean steps.notify.sid" in messages
    )
    assert "no step called nope" in messages
    assert 'undefined variable "trigerr.From"; did you mean trigger?' in messages
    assert "item.phone" not in messages and "workspace.name" not in messages


def test_without_a_trigger_the_payload_is_free_and_webhook_data_is_open():
    manual = StepInfo("notify", "action", "twilio/send-sms", {"Body": "{{ trigger.order }}"})
    assert undefined_variable_problems(info(manual, kinds=())) == {}
    hook = StepInfo("notify", "action", "twilio/send-sms", {"Body": "{{ trigger.data.anything.at.all }}"})
    assert undefined_variable_problems(info(hook, kinds=("twilio/webhook",))) == {}


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    return client


def page_data(workspace, connection, *, body, trigger_kind="twilio/incoming-sms"):
    """The workflow page as the browser posts it: editor fields, no JSON."""
    return {
        "workspace": workspace.pk,
        "name": "reply",
        "description": "",
        "enabled": "on",
        "default_variables": "{}",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-position": "0",
        "steps-0-name": "notify",
        "steps-0-kind": "action",
        "steps-0-action": "twilio/send-sms",
        "steps-0-connection": connection.pk,
        "steps-0-inputs": "{}",
        "steps-0-on_error": "fail",
        "steps-0-max_retries": "3",
        "steps-0-ed-extra": "",
        "steps-0-ed-input__From": FROM,
        "steps-0-ed-input__To": "{{ trigger.From }}",
        "steps-0-ed-input__Body": body,
        "triggers-TOTAL_FORMS": "1",
        "triggers-INITIAL_FORMS": "0",
        "triggers-MIN_NUM_FORMS": "0",
        "triggers-MAX_NUM_FORMS": "1000",
        "triggers-0-kind": trigger_kind,
        "triggers-0-connection": connection.pk,
        "triggers-0-enabled": "on",
        "triggers-0-name": "",
        "triggers-0-numbers_pick": [],
        "triggers-0-numbers_other": "+15017122661",
        "triggers-0-from_pattern": "",
        "triggers-0-keywords": "",
        "triggers-0-reply_message": "",
        "triggers-0-voice_answer": "",
    }


def test_the_page_saves_steps_and_triggers_from_the_editor(superuser_client, workspace, connection):
    response = superuser_client.post(
        ADD_URL, page_data(workspace, connection, body="Got: {{ trigger.Body }}")
    )
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    trigger = Trigger.objects.get()
    assert (trigger.kind, trigger.name, trigger.numbers, trigger.workspace_id) == (
        "twilio/incoming-sms",
        "Incoming SMS/MMS",
        ["+15017122661"],
        workspace.pk,
    )
    assert trigger.workflow.steps.get().inputs == {
        "From": FROM,
        "To": "{{ trigger.From }}",
        "Body": "Got: {{ trigger.Body }}",
    }


def test_trigger_numbers_are_picked_from_the_synced_ones_or_typed(
    superuser_client, workspace, connection, other_workspace, make_connection
):
    from triggers.models import PhoneNumber

    PhoneNumber.objects.create(connection=connection, sid="PN" + "1" * 32, phone_number="+15017122662")
    theirs = make_connection(workspace=other_workspace, name="theirs")
    PhoneNumber.objects.create(connection=theirs, sid="PN" + "2" * 32, phone_number="+4930123456")
    page = superuser_client.get(ADD_URL + f"?workspace={workspace.pk}").content.decode()
    assert "+15017122662" in page and "+4930123456" not in page  # this workspace's numbers only
    data = page_data(workspace, connection, body="Got: {{ trigger.Body }}")
    data["triggers-0-numbers_pick"] = ["+15017122662"]
    assert superuser_client.post(ADD_URL, data).status_code == 302
    assert Trigger.objects.get().numbers == ["+15017122662", "+15017122661"]


def test_an_undefined_variable_is_refused_at_save(superuser_client, workspace, connection):
    response = superuser_client.post(
        ADD_URL, page_data(workspace, connection, body="Got: {{ trigger.Boddy }}")
    )
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.forms[0].errors["editor"]
    assert errors == [
        'Body: undefined variable "trigger.Boddy": no trigger of this workflow sends Boddy; '
        "did you mean trigger.Body?"
    ]
    assert not Trigger.objects.exists()


def test_the_add_page_needs_no_json_and_preselects_the_workspace(superuser_client, workspace):
    html = superuser_client.get(ADD_URL).content.decode()
    assert "null" not in html.split('name="default_variables"')[1].split("</textarea>")[0]
    assert f'<option value="{workspace.pk}" selected>' in html
    assert "workflow_editor.js" in html and 'name="triggers-TOTAL_FORMS"' in html


def test_editor_requests_render_toggle_and_preview(superuser_client, workspace, connection):
    data = page_data(workspace, connection, body="Got: {{ trigger.Body }}")
    data.update({"_editor_prefix": "steps-0", "_editor_op": "json"})
    answer = superuser_client.post(EDITOR_URL, data).json()
    assert json.loads(answer["json"]) == {
        "From": FROM,
        "To": "{{ trigger.From }}",
        "Body": "Got: {{ trigger.Body }}",
    }

    data.update(
        {
            "_editor_op": "form",
            "steps-0-json_mode": "on",
            "steps-0-inputs": json.dumps({"From": FROM, "Body": "{{ trigger.Bdy }}"}),
        }
    )
    html = superuser_client.post(EDITOR_URL, data).json()["html"]
    assert 'value="{{ trigger.Bdy }}"' in html or "{{ trigger.Bdy }}</textarea>" in html
    assert 'data-var="trigger.Body"' in html  # the variable browser

    data.pop("steps-0-json_mode")
    data.update(
        {
            "_editor_op": "preview",
            "steps-0-ed-input__Body": "Hi {{ trigger.Bdy }}",
            "_sample": json.dumps({"trigger": {"From": "+14155550123", "Body": "hello"}}),
        }
    )
    answer = superuser_client.post(EDITOR_URL, data).json()
    assert not answer["ok"]
    assert "+14155550123" in answer["html"]
    assert "Step &quot;notify&quot;, field &quot;Body&quot;: undefined variable" in answer["html"]

    data.update(
        {
            "_editor_op": "render",
            "steps-0-kind": "branch",
            "_from_kind": "action",
            "_from_action": "twilio/send-sms",
        }
    )
    html = superuser_client.post(EDITOR_URL, data).json()["html"]
    assert 'name="steps-0-ed-cases-0-left"' in html and 'data-kind="branch"' in html


def test_editor_requests_are_scoped(client, make_staff, workspace, other_workspace, connection):
    from workspaces.models import Role

    client.force_login(make_staff("vera", workspace, Role.VIEWER))
    data = page_data(workspace, connection, body="x")
    data.update({"_editor_prefix": "steps-0", "_editor_op": "json"})
    assert client.post(EDITOR_URL, data).status_code == 403
    assert client.get(EDITOR_URL).status_code == 405


def test_run_now_is_prefilled_with_the_trigger_kinds_sample(superuser_client, workspace, connection):
    superuser_client.post(ADD_URL, page_data(workspace, connection, body="Got: {{ trigger.Body }}"))
    workflow = Trigger.objects.get().workflow
    page = superuser_client.get(reverse("admin:workflows_workflow_run_now", args=[workflow.pk]))
    assert json.loads(page.context["form"].initial["payload"])["Body"] == "Hours today?"
