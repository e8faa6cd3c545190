"""API fixtures: a workspace key per scope, a client that sends it, a small workflow."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from api.keys import api_key_create
from campaigns.models import Campaign, CampaignRecipient
from compliance.services import consent_record
from triggers.models import PhoneNumber, Trigger, TriggerEvent
from voice.models import CallSession, CallTurn, LlmConnection, VoiceAgent
from workflows.models import Run, Step, Workflow

LLM_KEY = "sk-live-do-not-leak-0123456789abcdef"
QUESTIONS = [{"id": "name", "question": "What is your name?"}]

SEND_SMS_DOC = {
    "format": "twilioflow/workflow@1",
    "name": "Confirm booking",
    "description": "Texts the patient",
    "enabled": True,
    "default_variables": {"clinic": "Acme"},
    "steps": [
        {
            "name": "text",
            "kind": "action",
            "action": "twilio/send-sms",
            "connection": "main",
            "inputs": {"To": "{{ trigger.To }}", "From": "+14155550100", "Body": "Hi from {{ vars.clinic }}"},
            "on_error": "fail",
            "max_retries": 3,
        }
    ],
}


@pytest.fixture(autouse=True)
def _no_throttle_unless_asked(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api": "100000/min"},
    }


@pytest.fixture
def make_key(db):
    def make(workspace, scope: str = "manage", **kwargs):
        _key, secret = api_key_create(workspace=workspace, name=f"{scope} key", scope=scope, **kwargs)
        return secret

    return make


@pytest.fixture
def api_as(make_key):
    def client_for(workspace, scope: str = "manage") -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key(workspace, scope)}")
        return client

    return client_for


@pytest.fixture
def api(api_as, workspace):
    return api_as(workspace)


@pytest.fixture
def simple_workflow(workspace):
    """A workflow that needs no Twilio: one set_variables step."""
    workflow = Workflow.objects.create(workspace=workspace, name="Echo")
    Step.objects.create(
        workflow=workflow,
        name="remember",
        kind="set_variables",
        inputs={"variables": {"greeting": "Hello {{ trigger.name }}"}},
    )
    return workflow


def world_of(workspace, connection, workflow, *, number: str, contact: str) -> dict[str, int]:
    """One object of every API resource in `workspace`: {resource: id}."""
    run = Run.objects.create(workflow=workflow, workspace=workspace, status="running", source="api")
    trigger = Trigger.objects.create(
        workspace=workspace,
        workflow=workflow,
        connection=connection,
        name="sms in",
        kind="twilio/incoming-sms",
    )
    phone = PhoneNumber.objects.create(
        connection=connection, sid="PN" + number[-6:].rjust(32, "0"), phone_number=number
    )
    event = TriggerEvent.objects.create(
        connection=connection,
        purpose="messages",
        kind="twilio/incoming-sms",
        dedupe_key=f"SM{number}",
        match_status="matched",
    )
    consent = consent_record(workspace=workspace, contact=contact, kind="opt_out", source="admin")
    campaign = Campaign.objects.create(
        workspace=workspace,
        name=f"{workflow.name} campaign",
        connection=connection,
        sender="+14155550100",
        body="Hi {{ first_name }}",
    )
    CampaignRecipient.objects.create(campaign=campaign, phone=contact, variables={"first_name": "Ann"})
    llm = LlmConnection.objects.create(
        workspace=workspace,
        name=f"llm-{workspace.slug}",
        base_url="https://llm.example.com/v1",
        model="m",
        api_key=LLM_KEY,
    )
    agent = VoiceAgent.objects.create(
        workspace=workspace, name=f"agent-{workspace.slug}", questions=QUESTIONS
    )
    call = CallSession.objects.create(
        workspace=workspace, connection=connection, run=run, call_sid="CA" + "1" * 32, caller=contact
    )
    CallTurn.objects.create(session=call, index=0, said=f"Welcome to {workspace.name}")
    return {
        "workspaces": workspace.pk,
        "connections": connection.pk,
        "workflows": workflow.pk,
        "runs": run.pk,
        "triggers": trigger.pk,
        "phone-numbers": phone.pk,
        "events": event.pk,
        "consent": consent.pk,
        "campaigns": campaign.pk,
        "llm-connections": llm.pk,
        "voice-agents": agent.pk,
        "call-sessions": call.pk,
    }
