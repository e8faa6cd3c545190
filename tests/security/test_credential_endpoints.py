"""Raw requests that read or change credentials: which paths (after every normalisation
trick), who may configure them (owners, admins, superusers), enforced by the engine at run
time and by the admin forms at save time."""

import json

import pytest
import responses
from django.urls import reverse

from actions.twilio.raw_request import credential_path_reason
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, account_body, account_url
from tests.workflows.test_admin import form_data, inline_formset
from twilioflow.core.errors import FORBIDDEN_ENDPOINT
from workflows.models import Run, RunStatus, Step, StepRun, Workflow
from workflows.services import run_create, run_execute_inline
from workspaces.models import Membership, Role

S = "$TWILIO_ACCOUNT_SID"


@pytest.mark.parametrize(
    "path",
    [
        f"/2010-04-01/Accounts/{S}.json",
        f"/2010-04-01/Accounts/{ACCOUNT_SID}.json",
        f"/2010-04-01/Accounts/{ACCOUNT_SID}",
        "/2010-04-01/Accounts.json",
        "/2010-04-01/Accounts",
        f"/Accounts/{S}.json",
        f"/2010-04-01/accounts/{ACCOUNT_SID.lower()}.JSON",
        f"/2010-04-01//Accounts//{S}.json",
        f"/2010-04-01/Accounts/{S}/",
        f"/2010-04-01/Accounts/{S}.json?PageSize=1",
        f"/2010-04-01/Accounts/{S}.json#x",
        f"/2010-04-01/Accounts%2F{S}.json",
        f"/2010-04-01/Accounts%252F{S}.json",
        f"/2010-04-01/Accounts/{S}/Messages/%2e%2e.json",
        f"/2010-04-01/Accounts/{S}/Messages/../Keys.json",
        f"/2010-04-01/Accounts/{S}/./Keys.json",
        f"/2010-04-01/Accounts/{S}/Keys.json",
        f"/2010-04-01/Accounts/{S}/keys/SK123.json",
        f"/2010-04-01/Accounts/{S}/Keys.json;jsessionid=1",
        f"/2010-04-01/Accounts/{S}/%4Beys.json",
        f"/2010-04-01/Accounts/{S}\\Keys.json",
        f"/2010-04-01/Accounts/{S}/SigningKeys.json",
        f"/2010-04-01/Accounts/{S}/SIP/CredentialLists/CL1/Credentials.json",
        f"/2010-04-01/Accounts/{S}/Tokens.json",
        "/v1/Credentials",
        "/v2/Services/VA1/Entities/e1/Factors",
        "/v2/Services/VA1/AccessTokens",
    ],
)
def test_credential_bearing_paths(path):
    assert credential_path_reason(path)


@pytest.mark.parametrize(
    "path",
    [
        f"/2010-04-01/Accounts/{S}/Messages.json",
        f"/2010-04-01/Accounts/{S}/Calls/CA1.json",
        f"/2010-04-01/Accounts/{S}/IncomingPhoneNumbers.json?FriendlyName=Keys",
        "/v2/Services",
        "/v1/Conversations",
        "/v2/PhoneNumbers/+14155552671",
    ],
)
def test_ordinary_paths(path):
    assert credential_path_reason(path) is None


# --- the engine ------------------------------------------------------------------------------
@pytest.fixture
def raw_workflow(make_workflow):
    def make(path=f"/2010-04-01/Accounts/{S}.json", user=None, **inputs):
        workflow = make_workflow(
            f"raw-{Workflow.objects.count()}",
            [dict(name="fetch", action="twilio/raw-request", inputs={"path": path, **inputs})],
        )
        # Written around the admin's forms, as an import or the shell would.
        Step.objects.filter(workflow=workflow).update(updated_by=user)
        return workflow

    return make


def run_it(workflow, payload=None) -> Run:
    return run_execute_inline(run_create(workflow=workflow, payload=payload or {}, enqueue=False).pk)


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_engine_refuses_a_step_last_edited_by_a_non_manager(
    raw_workflow, make_staff, workspace, twilio, role
):
    twilio.add(responses.GET, account_url(), json=account_body(auth_token=AUTH_TOKEN))
    workflow = raw_workflow(user=make_staff("otto", workspace, role))
    run = run_it(workflow)
    assert run.status == RunStatus.FAILED and run.error_code == FORBIDDEN_ENDPOINT
    step_run = StepRun.objects.get(run=run)
    assert step_run.error_code == FORBIDDEN_ENDPOINT and step_run.attempt == 1  # not retried
    assert step_run.exchanges == [] and len(twilio.calls) == 0  # nothing was sent


def test_engine_refuses_a_step_nobody_approved(raw_workflow, twilio):
    run = run_it(raw_workflow(user=None))
    assert run.error_code == FORBIDDEN_ENDPOINT and len(twilio.calls) == 0


def test_a_template_cannot_hide_the_path(raw_workflow, make_staff, workspace, twilio):
    workflow = raw_workflow(path="{{ trigger.p }}", user=make_staff("otto", workspace, Role.OPERATOR))
    run = run_it(workflow, {"p": f"/2010-04-01/Accounts/{S}/%4Beys.json"})
    assert run.error_code == FORBIDDEN_ENDPOINT and len(twilio.calls) == 0


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, "superuser"])
def test_owners_admins_and_superusers_may(
    raw_workflow, make_staff, django_user_model, workspace, twilio, role
):
    if role == "superuser":
        user = django_user_model.objects.create_superuser("root", password="pw")
    else:
        user = make_staff("olga", workspace, role)
    twilio.add(responses.GET, account_url(), json=account_body(auth_token=AUTH_TOKEN))
    run = run_it(raw_workflow(user=user))
    assert run.status == RunStatus.SUCCEEDED, run.error_message
    # ... and the output is redacted for them too.
    assert StepRun.objects.get(run=run).output["data"]["auth_token"] == "********"


def test_a_demoted_or_deactivated_author_no_longer_may(raw_workflow, make_staff, workspace, twilio):
    twilio.add(responses.GET, account_url(), json=account_body())
    owner = make_staff("olga", workspace, Role.OWNER)
    workflow = raw_workflow(user=owner)
    assert run_it(workflow).status == RunStatus.SUCCEEDED
    Membership.objects.filter(user=owner).update(role=Role.OPERATOR)
    assert run_it(workflow).error_code == FORBIDDEN_ENDPOINT
    Membership.objects.filter(user=owner).update(role=Role.OWNER)
    owner.is_active = False
    owner.save()
    assert run_it(workflow).error_code == FORBIDDEN_ENDPOINT


def test_an_owner_of_another_workspace_does_not_count(raw_workflow, make_staff, other_workspace, twilio):
    run = run_it(raw_workflow(user=make_staff("olga", other_workspace, Role.OWNER)))
    assert run.error_code == FORBIDDEN_ENDPOINT and len(twilio.calls) == 0


def test_ordinary_raw_requests_are_for_operators_too(raw_workflow, make_staff, workspace, twilio):
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    twilio.add(responses.GET, url, json={"messages": []})
    workflow = raw_workflow(
        path=f"/2010-04-01/Accounts/{S}/Messages.json", user=make_staff("otto", workspace, Role.OPERATOR)
    )
    assert run_it(workflow).status == RunStatus.SUCCEEDED


# --- the admin forms -----------------------------------------------------------------------------
RAW_FORM = {
    "input__product": "api",
    "input__path": f"/2010-04-01/Accounts/{S}.json",
    "input__method": "GET",
    "input__responseType": "json",
    "input__maxRetries": "0",
    "input__retryDelay": "1",
    "inputs_json": "{}",
    "on_error": "fail",
    "max_retries": "0",
}


@pytest.fixture
def raw_step(raw_workflow, make_staff, workspace):
    workflow = raw_workflow(
        path=f"/2010-04-01/Accounts/{S}/Messages.json", user=make_staff("olga", workspace, Role.OWNER)
    )
    return workflow.steps.get()


def test_operator_gets_a_field_error_and_nothing_is_saved(client, make_staff, workspace, raw_step):
    client.force_login(make_staff("otto", workspace, Role.OPERATOR))
    response = client.post(reverse("admin:workflows_step_change", args=[raw_step.pk]), RAW_FORM)
    assert response.status_code == 200
    assert "input__path" in response.context["adminform"].form.errors
    raw_step.refresh_from_db()
    assert raw_step.inputs["path"].endswith("/Messages.json")


def test_owner_saves_and_becomes_the_author(client, make_staff, workspace, raw_step):
    owner = make_staff("oscar", workspace, Role.OWNER)
    client.force_login(owner)
    response = client.post(reverse("admin:workflows_step_change", args=[raw_step.pk]), RAW_FORM)
    assert response.status_code == 302
    raw_step.refresh_from_db()
    assert raw_step.inputs["path"] == RAW_FORM["input__path"] and raw_step.updated_by == owner


def test_operator_editing_an_ordinary_step_becomes_its_author(client, make_staff, workspace, raw_step):
    operator = make_staff("otto", workspace, Role.OPERATOR)
    client.force_login(operator)
    data = {**RAW_FORM, "input__path": f"/2010-04-01/Accounts/{S}/Calls.json"}
    assert client.post(reverse("admin:workflows_step_change", args=[raw_step.pk]), data).status_code == 302
    raw_step.refresh_from_db()
    assert raw_step.updated_by == operator


@pytest.mark.parametrize(("role", "saved"), [(Role.OPERATOR, False), (Role.ADMIN, True)])
def test_inline_steps_on_the_workflow_page(client, make_staff, workspace, connection, role, saved):
    user = make_staff("someone", workspace, role)
    client.force_login(user)
    step = dict(
        name="fetch",
        action="twilio/raw-request",
        connection=connection,
        inputs={"path": "/2010-04-01/Accounts.json"},
    )
    response = client.post(reverse("admin:workflows_workflow_add"), form_data(workspace, [step]))
    if saved:
        assert response.status_code == 302
        assert Step.objects.get().updated_by == user
    else:
        assert response.status_code == 200
        assert "credentials" in json.dumps(inline_formset(response).errors)
        assert not Step.objects.exists()
