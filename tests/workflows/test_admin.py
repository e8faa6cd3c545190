"""Workflows, steps and runs in the admin: inline steps, generated input forms, Run now,
duplicate, the read-only run log with its timeline, replay/cancel, scoping and search."""

import json
from datetime import timedelta

import pytest
import requests
import responses
from django.urls import reverse
from django.utils import timezone

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from workflows.admin import UNKNOWN_BANNER
from workflows.models import Run, RunStatus, Step, StepRun, StepStatus, Workflow
from workflows.services import run_create
from workspaces.models import Role

WORKFLOWS = reverse("admin:workflows_workflow_changelist")
ADD_URL = reverse("admin:workflows_workflow_add")
RUNS = reverse("admin:workflows_run_changelist")
NUMBERS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"
FROM = "+15017122661"
TO = "+14155552671"
SM = "SM" + "b" * 32


def workflow_url(workflow):
    return reverse("admin:workflows_workflow_change", args=[workflow.pk])


def step_url(step):
    return reverse("admin:workflows_step_change", args=[step.pk])


def run_url(run):
    return reverse("admin:workflows_run_change", args=[run.pk])


def text(response) -> str:
    return response.content.decode()


def sms(name="notify", connection=None, **inputs):
    step = dict(
        name=name,
        kind="action",
        action="twilio/send-sms",
        inputs={"From": FROM, "To": "{{ trigger.From }}", "Body": "Hi {{ trigger.name }}", **inputs},
    )
    if connection is not None:
        step["connection"] = connection
    return step


BRANCH = dict(
    name="check",
    kind="branch",
    inputs={"cases": [{"left": "{{ trigger.Body }}", "operator": "equals", "right": "STOP", "goto": "bye"}]},
)
END = dict(name="bye", kind="end", inputs={"status": "succeeded"})


def form_data(workspace, steps=(), *, initial=0, **workflow_values):
    """The POST of the workflow page: its fields plus the Step inline's management form."""
    data = {
        "workspace": workspace.pk,
        "name": "Order shipped",
        "description": "",
        "enabled": "on",
        "default_variables": "{}",
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": str(initial),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
    }
    data.update(workflow_values)
    for index, step in enumerate(steps):
        step = dict(step)
        prefix = f"steps-{index}-"
        inputs = step.pop("inputs", {})
        values = {
            "position": index,
            "kind": "action",
            "action": "",
            "connection": "",
            "on_error": "fail",
            "max_retries": 3,
            **step,
        }
        values["inputs"] = inputs if isinstance(inputs, str) else json.dumps(inputs)
        if values.get("connection") is None:
            values["connection"] = ""
        elif hasattr(values["connection"], "pk"):
            values["connection"] = values["connection"].pk
        if values.pop("DELETE", False):
            values["DELETE"] = "on"
        for key, value in values.items():
            data[prefix + key] = "" if value is None else value
    return data


def inline_formset(response):
    return response.context["inline_admin_formsets"][0].formset


@pytest.fixture(autouse=True)
def _no_cached_pickers():
    """Picker options are cached per connection id, and ids repeat across tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    return client


@pytest.fixture
def operator_client(client, make_staff, workspace):
    client.force_login(make_staff("otto", workspace, Role.OPERATOR))
    return client


@pytest.fixture
def viewer_client(client, make_staff, workspace):
    client.force_login(make_staff("vera", workspace, Role.VIEWER))
    return client


# --- workflows and their steps ---------------------------------------------------------------
class TestWorkflowWithInlineSteps:
    def test_add_creates_the_workflow_and_its_steps(self, superuser_client, workspace, connection):
        steps = [sms(connection=connection), BRANCH, END]
        response = superuser_client.post(ADD_URL, form_data(workspace, steps))
        assert response.status_code == 302, response.context and inline_formset(response).errors
        workflow = Workflow.objects.get()
        assert workflow.workspace == workspace and workflow.enabled
        saved = list(workflow.steps.order_by("position"))
        assert [s.name for s in saved] == ["notify", "check", "bye"]
        assert saved[0].connection == connection
        assert saved[0].inputs["To"] == "{{ trigger.From }}"
        assert saved[1].inputs["cases"][0]["goto"] == "bye"

    def test_add_page_renders_with_action_choices(self, superuser_client, connection):
        page = superuser_client.get(ADD_URL)
        assert page.status_code == 200
        assert 'value="twilio/send-sms"' in text(page)
        assert 'name="steps-TOTAL_FORMS"' in text(page)

    def test_bad_to_is_shown_on_inputs_and_nothing_is_saved(self, superuser_client, workspace, connection):
        steps = [sms(connection=connection, To="not a phone number")]
        response = superuser_client.post(ADD_URL, form_data(workspace, steps))
        assert response.status_code == 200
        errors = inline_formset(response).errors[0]
        assert "inputs" in errors
        assert errors["inputs"][0].startswith("To: ")
        assert Workflow.objects.count() == 0 and Step.objects.count() == 0

    def test_template_syntax_error_is_a_field_error(self, superuser_client, workspace, connection):
        steps = [sms(connection=connection, Body="Hi {{ trigger.name|no_such_filter }}")]
        response = superuser_client.post(ADD_URL, form_data(workspace, steps))
        assert response.status_code == 200
        message = inline_formset(response).errors[0]["inputs"][0]
        assert message.startswith("Body: ") and "no_such_filter" in message
        assert Workflow.objects.count() == 0

    def test_invalid_json_and_non_objects_are_field_errors(self, superuser_client, workspace, connection):
        steps = [
            {**sms(connection=connection), "inputs": "{not json"},
            {**END, "inputs": "[1, 2]"},
        ]
        response = superuser_client.post(ADD_URL, form_data(workspace, steps))
        assert response.status_code == 200
        errors = inline_formset(response).errors
        assert "inputs" in errors[0] and "inputs" in errors[1]
        assert Workflow.objects.count() == 0

    def test_control_step_errors_name_the_sub_path(self, superuser_client, workspace):
        bad_branch = {**BRANCH, "inputs": {"cases": [{"left": "x", "operator": "nope", "right": "y"}]}}
        response = superuser_client.post(ADD_URL, form_data(workspace, [bad_branch, END]))
        messages = inline_formset(response).errors[0]["inputs"]
        assert any(m.startswith("cases.0.operator: ") for m in messages)
        assert any(m.startswith("cases.0.goto: ") for m in messages)

    def test_missing_branch_target_is_a_formset_error(self, superuser_client, workspace):
        branch = {**BRANCH, "inputs": {"cases": [{**BRANCH["inputs"]["cases"][0], "goto": "nowhere"}]}}
        response = superuser_client.post(ADD_URL, form_data(workspace, [branch, END]))
        assert response.status_code == 200
        problems = " ".join(inline_formset(response).non_form_errors())
        assert "No step called 'nowhere'" in problems and "check" in problems
        assert Workflow.objects.count() == 0

    def test_action_step_needs_a_connection_and_an_action(self, superuser_client, workspace):
        steps = [{**sms(), "connection": None}, {**sms(name="other"), "action": ""}]
        response = superuser_client.post(ADD_URL, form_data(workspace, steps))
        errors = inline_formset(response).errors
        assert "connection" in errors[0]
        assert "action" in errors[1]
        assert Workflow.objects.count() == 0

    def test_connection_of_another_workspace_is_refused(
        self, superuser_client, workspace, other_workspace, make_connection
    ):
        foreign = make_connection(workspace=other_workspace, name="theirs")
        response = superuser_client.post(ADD_URL, form_data(workspace, [sms(connection=foreign)]))
        assert "connection" in inline_formset(response).errors[0]
        assert Workflow.objects.count() == 0

    def test_duplicate_step_names_are_refused(self, superuser_client, workspace):
        response = superuser_client.post(ADD_URL, form_data(workspace, [END, {**END, "position": 1}]))
        assert response.status_code == 200
        formset = inline_formset(response)
        assert formset.non_form_errors() or any(formset.errors)
        assert Workflow.objects.count() == 0

    def test_operator_adds_only_in_their_workspace(self, operator_client, workspace, other_workspace):
        response = operator_client.post(ADD_URL, form_data(other_workspace, [END]))
        assert response.status_code == 200
        assert "workspace" in response.context["adminform"].form.errors
        assert operator_client.post(ADD_URL, form_data(workspace, [END])).status_code == 302
        assert list(Workflow.objects.values_list("workspace", flat=True)) == [workspace.pk]

    def test_deleting_a_branch_target_is_refused(self, superuser_client, make_workflow):
        workflow = make_workflow("flow", [BRANCH, END])
        check, bye = workflow.steps.order_by("position")
        steps = [{**BRANCH, "id": check.pk, "workflow": workflow.pk}, {**END, "id": bye.pk, "DELETE": True}]
        data = form_data(workflow.workspace, steps, initial=2, name="flow")
        data.pop("workspace")  # read-only once created
        response = superuser_client.post(workflow_url(workflow), data)
        assert response.status_code == 200
        assert "No step called 'bye'" in " ".join(inline_formset(response).non_form_errors())
        assert workflow.steps.count() == 2

    def test_change_page_lists_steps_in_order_and_links_the_inputs_form(
        self, superuser_client, make_workflow
    ):
        workflow = make_workflow("flow", [BRANCH, END])
        page = superuser_client.get(workflow_url(workflow))
        assert page.status_code == 200
        html = text(page)
        assert html.index('value="check"') < html.index('value="bye"')
        for step in workflow.steps.all():
            assert step_url(step) in html
        assert reverse("admin:workflows_workflow_run_now", args=[workflow.pk]) in html

    def test_new_rows_start_after_the_last_step(self, superuser_client, make_workflow):
        workflow = make_workflow("flow", [BRANCH, END])
        formset = inline_formset(superuser_client.get(workflow_url(workflow)))
        assert formset.empty_form.initial["position"] == 2

    def test_changelist_shows_counts_and_the_last_run(self, superuser_client, make_workflow):
        workflow = make_workflow("flow", [BRANCH, END])
        run = run_create(workflow=workflow, payload={}, enqueue=False)
        Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
        page = superuser_client.get(WORKFLOWS)
        assert page.status_code == 200
        row = page.context["cl"].result_list[0]
        assert row._step_count == 2 and row._last_run_status == RunStatus.FAILED
        assert run_url(run) in text(page)


# --- the generated inputs form ---------------------------------------------------------------
class TestStepInputsForm:
    @pytest.fixture
    def step(self, make_workflow):
        return make_workflow("flow", [sms()]).steps.get()

    def test_form_is_generated_with_picker_suggestions(self, superuser_client, step, twilio):
        twilio.add(
            responses.GET,
            NUMBERS,
            json={"incoming_phone_numbers": [{"phone_number": FROM, "friendly_name": "Front desk"}]},
        )
        page = superuser_client.get(step_url(step))
        assert page.status_code == 200
        form = page.context["adminform"].form
        assert {"input__From", "input__To", "input__Body", "input__MediaUrl", "inputs_json"} <= set(
            form.fields
        )
        html = text(page)
        assert '<datalist id="From-options">' in html and "Front desk (+15017122661)" in html
        assert 'value="{{ trigger.From }}"' in html

    def test_suggestions_are_cached_and_can_be_refreshed(self, superuser_client, step, twilio):
        from django.core.cache import cache

        cache.clear()
        twilio.add(
            responses.GET,
            NUMBERS,
            json={"incoming_phone_numbers": [{"phone_number": FROM, "friendly_name": "Front desk"}]},
        )
        superuser_client.get(step_url(step))
        superuser_client.get(step_url(step))
        assert len(twilio.calls) == 1  # the second page used the cache
        page = superuser_client.get(step_url(step) + "?refresh_pickers=1")
        assert len(twilio.calls) == 2
        assert "Refresh suggestions from Twilio" in text(page)

    def test_twilio_unreachable_falls_back_to_a_text_field(self, superuser_client, step, twilio):
        twilio.add(responses.GET, NUMBERS, body=requests.ConnectionError("down"))
        page = superuser_client.get(step_url(step))
        assert page.status_code == 200
        assert "<datalist" not in text(page)
        assert "Suggestions from Twilio are unavailable" in text(page)

    def test_saving_writes_the_inputs(self, superuser_client, step, twilio):
        twilio.add(responses.GET, NUMBERS, json={"incoming_phone_numbers": []})
        data = {
            "input__From": FROM,
            "input__To": "{{ trigger.From }}",
            "input__Body": "Order {{ trigger.order }} shipped",
            "input__MediaUrl": "https://example.com/a.png\nhttps://example.com/b.png",
            "input__StatusCallback": "",
            "inputs_json": "{}",
            "on_error": "retry",
            "max_retries": "2",
        }
        response = superuser_client.post(step_url(step), data)
        assert response.status_code == 302
        assert response.url == workflow_url(step.workflow)
        step.refresh_from_db()
        assert step.inputs == {
            "From": FROM,
            "To": "{{ trigger.From }}",
            "Body": "Order {{ trigger.order }} shipped",
            "MediaUrl": ["https://example.com/a.png", "https://example.com/b.png"],
        }
        assert (step.on_error, step.max_retries) == ("retry", 2)

    def test_errors_land_on_the_field_and_nothing_is_saved(self, superuser_client, step, twilio):
        twilio.add(responses.GET, NUMBERS, json={"incoming_phone_numbers": []})
        before = dict(step.inputs)
        data = {
            "input__From": FROM,
            "input__To": "12",
            "input__Body": "{{ trigger.name|no_such_filter }}",
            "inputs_json": '{"Nonsense": 1}',
            "on_error": "fail",
            "max_retries": "3",
        }
        response = superuser_client.post(step_url(step), data)
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert "input__To" in errors
        assert "no_such_filter" in errors["input__Body"][0]
        assert errors["inputs_json"][0].startswith("Nonsense: Unknown field")
        step.refresh_from_db()
        assert step.inputs == before

    def test_control_step_edits_its_json(self, superuser_client, make_workflow):
        workflow = make_workflow("flow", [BRANCH, END])
        branch = workflow.steps.get(name="check")
        page = superuser_client.get(step_url(branch))
        assert page.status_code == 200
        assert set(page.context["adminform"].form.fields) == {"inputs_json", "on_error", "max_retries"}
        bad = {"cases": [{"left": "{{ trigger.Body }}", "operator": "equals", "right": "x"}]}
        response = superuser_client.post(
            step_url(branch), {"inputs_json": json.dumps(bad), "on_error": "fail", "max_retries": "3"}
        )
        assert response.status_code == 200
        assert response.context["adminform"].form.errors["inputs_json"][0].startswith("cases.0.goto: ")
        good = {**bad, "cases": [{**bad["cases"][0], "goto": "bye"}], "default": "next"}
        response = superuser_client.post(
            step_url(branch), {"inputs_json": json.dumps(good), "on_error": "fail", "max_retries": "3"}
        )
        assert response.status_code == 302
        branch.refresh_from_db()
        assert branch.inputs == good

    def test_values_a_form_cannot_express_go_to_the_json_box(self, superuser_client, make_workflow, twilio):
        step = make_workflow(
            "flow",
            [
                dict(
                    name="ask",
                    action="twilio/raw-request",
                    inputs={"path": "/v1/x", "method": "{{ vars.method }}", "exponentialBackoff": True},
                )
            ],
        ).steps.get()
        page = superuser_client.get(step_url(step))
        assert page.status_code == 200
        form = page.context["adminform"].form
        assert form.initial["input__path"] == "/v1/x"
        assert form.initial["input__exponentialBackoff"] is True
        assert form.initial["inputs_json"] == {"method": "{{ vars.method }}"}

    def test_viewer_sees_the_inputs_read_only(self, viewer_client, step):
        page = viewer_client.get(step_url(step))
        assert page.status_code == 200
        html = text(page)
        assert 'name="_save"' not in html and 'name="input__To"' not in html
        assert "{{ trigger.From }}" in html
        response = viewer_client.post(
            step_url(step), {"inputs_json": "{}", "on_error": "fail", "max_retries": "3"}
        )
        assert response.status_code == 403
        step.refresh_from_db()
        assert step.inputs["To"] == "{{ trigger.From }}"

    def test_step_page_is_not_in_the_index(self, superuser_client, step):
        assert "/admin/workflows/step/" not in text(superuser_client.get(reverse("admin:index")))


# --- Run now, duplicate, enable/disable ------------------------------------------------------
class TestWorkflowActions:
    def test_run_now_action_asks_for_a_payload_then_starts_a_run(self, operator_client, make_workflow):
        workflow = make_workflow("flow", [END])
        select = {"action": "run_now", "_selected_action": [workflow.pk]}
        page = operator_client.post(WORKFLOWS, {**select, "index": "0"})
        assert page.status_code == 200
        assert 'name="payload"' in text(page)
        payload = {"From": TO, "Body": "hello"}
        response = operator_client.post(WORKFLOWS, {**select, "apply": "1", "payload": json.dumps(payload)})
        run = Run.objects.get()
        assert (run.workflow, run.source, run.trigger_payload) == (workflow, "admin", payload)
        assert response.status_code == 302 and response.url == run_url(run)
        assert run.current_step == "bye"
        assert TO in run.search_text

    def test_run_now_with_bad_json_shows_an_error(self, operator_client, make_workflow):
        workflow = make_workflow("flow", [END])
        select = {"action": "run_now", "_selected_action": [workflow.pk]}
        for bad in ("{oops", "[1, 2]"):
            response = operator_client.post(WORKFLOWS, {**select, "apply": "1", "payload": bad})
            assert response.status_code == 200
            assert response.context["form"].errors["payload"]
        assert Run.objects.count() == 0

    def test_run_now_button_on_the_workflow_page(self, operator_client, make_workflow):
        workflow = make_workflow("flow", [END])
        url = reverse("admin:workflows_workflow_run_now", args=[workflow.pk])
        assert operator_client.get(url).status_code == 200
        response = operator_client.post(url, {"apply": "1", "payload": ""})
        run = Run.objects.get()
        assert response.url == run_url(run)
        assert run.trigger_payload == {} and run.source == "admin"

    def test_viewer_cannot_run(self, viewer_client, make_workflow):
        workflow = make_workflow("flow", [END])
        url = reverse("admin:workflows_workflow_run_now", args=[workflow.pk])
        assert viewer_client.post(url, {"apply": "1", "payload": "{}"}).status_code == 403
        viewer_client.post(WORKFLOWS, {"action": "run_now", "_selected_action": [workflow.pk], "apply": "1"})
        assert Run.objects.count() == 0
        assert url not in text(viewer_client.get(workflow_url(workflow)))

    def test_duplicate_copies_steps_disabled_with_a_unique_name(self, operator_client, make_workflow):
        workflow = make_workflow("flow", [sms(), BRANCH, END])
        for _ in range(2):
            operator_client.post(
                WORKFLOWS, {"action": "duplicate_workflows", "_selected_action": [workflow.pk], "index": "0"}
            )
        first, second = Workflow.objects.exclude(pk=workflow.pk).order_by("pk")
        assert (first.name, second.name) == ("flow (copy)", "flow (copy 2)")
        assert not first.enabled and first.workspace == workflow.workspace
        original = list(
            workflow.steps.values_list("position", "name", "kind", "action", "connection", "inputs")
        )
        assert (
            list(first.steps.values_list("position", "name", "kind", "action", "connection", "inputs"))
            == original
        )
        assert workflow.steps.count() == 3  # untouched

    def test_enable_and_disable(self, operator_client, make_workflow):
        workflow = make_workflow("flow", [END])
        operator_client.post(
            WORKFLOWS, {"action": "disable_workflows", "_selected_action": [workflow.pk], "index": "0"}
        )
        workflow.refresh_from_db()
        assert not workflow.enabled
        operator_client.post(
            WORKFLOWS, {"action": "enable_workflows", "_selected_action": [workflow.pk], "index": "0"}
        )
        workflow.refresh_from_db()
        assert workflow.enabled


# --- runs: the read-only log and its timeline ------------------------------------------------
@pytest.fixture
def finished_run(make_workflow):
    """A run with a retried SMS step (with HTTP exchanges) and an unknown-outcome step."""
    workflow = make_workflow("flow", [sms(), sms(name="again")])
    run = run_create(workflow=workflow, payload={"From": TO, "name": "<b>Ada</b>"}, enqueue=False)
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED,
        started_at=now,
        finished_at=now + timedelta(seconds=3),
        error_code="OUTCOME_UNKNOWN",
        error_message="reconciling found no trace",
        search_text=f"{TO} {SM}",
    )
    exchange = {
        "method": "POST",
        "url": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        "request_headers": {"Accept": "application/json"},
        "request_body": {"form": [["To", TO], ["Body", "Hi <b>Ada</b>"]]},
        "status": 201,
        "response_headers": {"Twilio-Request-Id": "RQ123"},
        "response_body": {"sid": SM, "status": "queued"},
        "duration_ms": 240,
        "error": None,
    }
    StepRun.objects.create(
        run=run,
        sequence=1,
        attempt=1,
        step_name="notify",
        kind="action",
        action="twilio/send-sms",
        status=StepStatus.FAILED,
        error_code="RATE_LIMITED",
        twilio_error_code=20429,
        error_message="Too many requests",
        retry_at=now + timedelta(seconds=2),
        exchanges=[{**exchange, "status": 429, "response_body": {"code": 20429}}],
    )
    StepRun.objects.create(
        run=run,
        sequence=1,
        attempt=2,
        step_name="notify",
        kind="action",
        action="twilio/send-sms",
        status=StepStatus.SUCCEEDED,
        inputs={"From": FROM, "To": TO, "Body": "Hi <b>Ada</b>"},
        output={"sid": SM, "status": "queued"},
        twilio_sid=SM,
        exchanges=[exchange],
        duration_ms=250,
    )
    StepRun.objects.create(
        run=run,
        sequence=2,
        attempt=1,
        step_name="again",
        kind="action",
        action="twilio/send-sms",
        status=StepStatus.UNKNOWN,
        reconciled=True,
        error_code="OUTCOME_UNKNOWN",
        error_message="the request may or may not have reached Twilio",
    )
    return Run.objects.get(pk=run.pk)


class TestRunPage:
    def test_timeline_shows_every_attempt_in_order(self, superuser_client, finished_run):
        page = superuser_client.get(run_url(finished_run))
        assert page.status_code == 200
        html = text(page)
        timeline = page.context["timeline"]
        assert [(e["step_run"].sequence, e["step_run"].attempt) for e in timeline] == [(1, 1), (1, 2), (2, 1)]
        assert html.index('id="step-1-1"') < html.index('id="step-1-2"') < html.index('id="step-2-1"')
        for expected in (
            "RATE_LIMITED",
            "20429",
            "Too many requests",
            "Messages.json",
            "RQ123",
            SM,
            "240 ms",
        ):
            assert expected in html
        assert "reconciled" in html
        assert workflow_url(finished_run.workflow) in html
        assert "OUTCOME_UNKNOWN" in html and "3.0 s" in html

    def test_unknown_outcome_has_a_banner(self, superuser_client, finished_run):
        html = text(superuser_client.get(run_url(finished_run)))
        assert UNKNOWN_BANNER in html
        assert "Outcome unknown: not resent." in html

    def test_json_is_pretty_and_escaped_and_no_secret_is_shown(self, superuser_client, finished_run):
        html = text(superuser_client.get(run_url(finished_run)))
        assert "<b>Ada</b>" not in html
        assert "&lt;b&gt;Ada&lt;/b&gt;" in html
        assert "&quot;sid&quot;: &quot;" + SM in html  # indented JSON, autoescaped
        assert AUTH_TOKEN not in html

    def test_links_to_children_parent_and_replays(self, superuser_client, make_workflow):
        workflow = make_workflow("flow", [END])
        parent = run_create(workflow=workflow, payload={}, enqueue=False)
        StepRun.objects.create(run=parent, sequence=1, step_name="each", kind="for_each", status="pending")
        children = [
            run_create(workflow=workflow, parent=parent, parent_sequence=1, source="for_each", enqueue=False)
            for _ in range(3)
        ]
        Run.objects.filter(pk=children[0].pk).update(status=RunStatus.SUCCEEDED)
        replay = run_create(workflow=workflow, replay_of=parent, source="replay", enqueue=False)
        page = superuser_client.get(run_url(parent))
        html = text(page)
        assert page.context["timeline"][0]["children"]["total"] == 3
        assert "3 child runs" in html and "parent_sequence=1" in html
        assert run_url(replay) in html
        child_page = text(superuser_client.get(run_url(children[1])))
        assert run_url(parent) in child_page

    def test_changelist_filters_children_of_a_run(self, superuser_client, make_workflow):
        workflow = make_workflow("flow", [END])
        parent = run_create(workflow=workflow, payload={}, enqueue=False)
        child = run_create(workflow=workflow, parent=parent, parent_sequence=1, enqueue=False)
        page = superuser_client.get(RUNS, {"parent__id__exact": parent.pk, "parent_sequence": 1})
        assert page.status_code == 200
        assert [r.pk for r in page.context["cl"].result_list] == [child.pk]


class TestRunsAreReadOnly:
    def test_nobody_may_add_change_or_delete(self, superuser_client, finished_run):
        page = superuser_client.get(run_url(finished_run))
        assert 'name="_save"' not in text(page)
        response = superuser_client.post(run_url(finished_run), {"status": "succeeded"})
        assert response.status_code == 403
        delete_url = reverse("admin:workflows_run_delete", args=[finished_run.pk])
        assert superuser_client.get(delete_url).status_code == 403
        assert superuser_client.post(delete_url, {"post": "yes"}).status_code == 403
        assert superuser_client.get(reverse("admin:workflows_run_add")).status_code == 403
        listing = superuser_client.get(RUNS)
        assert "delete_selected" not in text(listing)
        superuser_client.post(
            RUNS, {"action": "delete_selected", "_selected_action": [finished_run.pk], "post": "yes"}
        )
        finished_run.refresh_from_db()
        assert finished_run.status == RunStatus.FAILED
        assert Run.objects.filter(pk=finished_run.pk).exists()

    def test_changelist_columns(self, superuser_client, finished_run):
        page = superuser_client.get(RUNS)
        assert page.status_code == 200
        html = text(page)
        assert "OUTCOME_UNKNOWN" in html and "3.0 s" in html and run_url(finished_run) in html


class TestReplayAndCancel:
    def test_operator_replays_from_the_changelist(self, operator_client, finished_run):
        # It sent an SMS: the first post asks (tests/workflows/test_admin_runs.py), this confirms.
        response = operator_client.post(
            RUNS,
            {"action": "replay_runs", "_selected_action": [finished_run.pk], "index": "0", "confirm": "yes"},
        )
        replay = Run.objects.get(replay_of=finished_run)
        assert replay.trigger_payload == finished_run.trigger_payload and replay.source == "replay"
        assert response.status_code == 302 and response.url == run_url(replay)

    def test_operator_cancels_a_live_run(self, operator_client, make_workflow):
        run = run_create(workflow=make_workflow("flow", [END]), payload={}, enqueue=False)
        page = text(operator_client.get(run_url(run)))
        assert 'value="cancel_runs"' in page and 'value="replay_runs"' in page
        response = operator_client.post(
            RUNS, {"action": "cancel_runs", "_selected_action": [run.pk], "index": "0", "_return_to_run": "1"}
        )
        assert response.url == run_url(run)
        run.refresh_from_db()
        assert run.status == RunStatus.CANCELED
        assert "otto" in run.error_message

    def test_viewer_may_look_but_not_replay_or_cancel(self, viewer_client, finished_run, make_workflow):
        live = run_create(workflow=finished_run.workflow, payload={}, enqueue=False)
        page = viewer_client.get(run_url(live))
        assert page.status_code == 200
        assert 'value="replay_runs"' not in text(page)
        assert "replay_runs" not in text(viewer_client.get(RUNS))
        for action in ("replay_runs", "cancel_runs"):
            viewer_client.post(
                RUNS, {"action": action, "_selected_action": [finished_run.pk, live.pk], "index": "0"}
            )
        assert Run.objects.count() == 2
        live.refresh_from_db()
        assert live.status == RunStatus.PENDING


# --- scoping and search ----------------------------------------------------------------------
class TestScoping:
    @pytest.fixture
    def theirs(self, other_workspace):
        workflow = Workflow.objects.create(workspace=other_workspace, name="their secret flow")
        Step.objects.create(workflow=workflow, name="bye", kind="end", inputs={})
        return workflow

    def test_workflows_of_other_workspaces_are_invisible(self, operator_client, make_workflow, theirs):
        ours = make_workflow("our flow", [END])
        listing = text(operator_client.get(WORKFLOWS))
        assert "our flow" in listing
        assert "their secret flow" not in listing and "Bistro Nord" not in listing
        response = operator_client.get(workflow_url(theirs))
        assert response.status_code == 302 and response.url == reverse("admin:index")
        run_now = reverse("admin:workflows_workflow_run_now", args=[theirs.pk])
        assert operator_client.post(run_now, {"apply": "1", "payload": "{}"}).status_code == 302
        step = theirs.steps.get()
        assert operator_client.get(step_url(step)).status_code == 302
        operator_client.post(
            WORKFLOWS, {"action": "duplicate_workflows", "_selected_action": [theirs.pk], "index": "0"}
        )
        assert Workflow.objects.count() == 2
        assert Run.objects.count() == 0
        assert operator_client.get(workflow_url(ours)).status_code == 200

    def test_runs_of_other_workspaces_are_invisible(self, operator_client, make_workflow, theirs):
        ours = run_create(workflow=make_workflow("our flow", [END]), payload={}, enqueue=False)
        hidden = run_create(workflow=theirs, payload={"From": TO}, enqueue=False)
        page = operator_client.get(RUNS)
        assert [r.pk for r in page.context["cl"].result_list] == [ours.pk]
        assert "their secret flow" not in text(page)
        response = operator_client.get(run_url(hidden))
        assert response.status_code == 302 and response.url == reverse("admin:index")
        operator_client.post(RUNS, {"action": "replay_runs", "_selected_action": [hidden.pk], "index": "0"})
        assert not Run.objects.filter(replay_of=hidden).exists()

    def test_connections_offered_are_the_workflows_own(
        self, operator_client, make_workflow, make_staff, other_workspace, make_connection
    ):
        from workspaces.models import Membership

        user = make_staff("both")
        Membership.objects.create(user=user, workspace=other_workspace, role=Role.OPERATOR)
        workflow = make_workflow("flow", [sms()])
        Membership.objects.create(user=user, workspace=workflow.workspace, role=Role.OPERATOR)
        make_connection(workspace=other_workspace, name="theirs")
        operator_client.force_login(user)
        page = operator_client.get(workflow_url(workflow))
        formset = inline_formset(page)
        names = {c.name for c in formset.forms[0].fields["connection"].queryset}
        assert names == {"main"}


class TestSearch:
    def test_search_by_sid_phone_or_id(self, superuser_client, finished_run, make_workflow):
        other = run_create(workflow=finished_run.workflow, payload={"From": "+4930123456"}, enqueue=False)
        for term, expected in ((SM, [finished_run.pk]), (TO, [finished_run.pk]), ("+4930123456", [other.pk])):
            page = superuser_client.get(RUNS, {"q": term})
            assert page.status_code == 200
            assert [r.pk for r in page.context["cl"].result_list] == expected, term
        by_id = superuser_client.get(RUNS, {"q": str(other.pk)}).context["cl"].result_list
        assert other.pk in [r.pk for r in by_id]

    def test_search_for_nonsense_finds_nothing_without_crashing(self, superuser_client, finished_run):
        page = superuser_client.get(RUNS, {"q": "nothing-like-this"})
        assert page.status_code == 200 and list(page.context["cl"].result_list) == []

    def test_filters_render(self, superuser_client, finished_run):
        page = superuser_client.get(RUNS, {"status__exact": "failed", "error_code": "OUTCOME_UNKNOWN"})
        assert page.status_code == 200
        assert [r.pk for r in page.context["cl"].result_list] == [finished_run.pk]
