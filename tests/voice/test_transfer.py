"""Voice agents travel with workflow JSON (`twilioflow/workflow@1`): exported with the workflow
whose steps name them (an LLM agent by its LLM connection's name, never the key), imported into
the target workspace — kept when equal, created when missing, a different one refused (one
field error) unless overwritten — all or nothing."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twilioflow.core.errors import TwilioFlowError
from voice.models import AgentType, LlmConnection, VoiceAgent
from workflows.models import Workflow
from workflows.transfer import workflow_export, workflow_import

EXAMPLES = Path(__file__).resolve().parents[2] / "voice" / "examples"
API_KEY = "sk-secret-" + "z" * 30


def survey(workspace, **values) -> VoiceAgent:
    agent = VoiceAgent(
        workspace=workspace,
        name="survey",
        questions=json.loads((EXAMPLES / "satisfaction_survey.json").read_text()),
        greeting="Thanks for taking our survey.",
        **values,
    )
    agent.full_clean()
    agent.save()
    return agent


def llm_agent(workspace) -> VoiceAgent:
    llm = LlmConnection.objects.create(
        workspace=workspace,
        name="openai",
        base_url="http://127.0.0.1:9/v1",
        model="gpt-4o-mini",
        api_key=API_KEY,
    )
    agent = VoiceAgent(
        workspace=workspace,
        name="support",
        agent_type=AgentType.LLM,
        llm=llm,
        system_prompt="You are Acme support. Be brief.",
        greeting="Hi, Acme support.",
        temperature=0.3,
        extract_fields=["order_number"],
    )
    agent.full_clean()
    agent.save()
    return agent


@pytest.fixture
def call_flow(workspace, make_workflow):
    return flow_with_agents(workspace, make_workflow)


def flow_with_agents(workspace, make_workflow) -> Workflow:
    survey(workspace)
    llm_agent(workspace)
    VoiceAgent.objects.create(workspace=workspace, name="unused", questions=[{"id": "a", "question": "A?"}])
    return make_workflow(
        name="front-desk",
        steps=[
            dict(name="rate", kind="voice_agent", inputs={"agent": "survey"}),
            dict(name="help", kind="voice_agent", inputs={"agent": "support"}),
            dict(name="bye", kind="hangup", inputs={}),
        ],
    )


def test_export_carries_the_named_agents_without_the_key(call_flow):
    document = workflow_export(call_flow)
    agents = {a["name"]: a for a in document["voice_agents"]}
    assert set(agents) == {"support", "survey"}  # not "unused"
    assert agents["survey"]["questions"][0]["id"] == "satisfaction_rating"
    assert agents["survey"]["greeting"] == "Thanks for taking our survey." and agents["survey"]["llm"] is None
    assert agents["support"]["llm"] == "openai" and agents["support"]["temperature"] == 0.3
    assert agents["support"]["extract_fields"] == ["order_number"]
    text = json.dumps(document)
    assert API_KEY not in text and "api_key" not in text and "127.0.0.1:9" not in text


def test_a_workflow_without_agents_has_no_voice_agents_key(make_workflow):
    flow = make_workflow(name="plain", steps=[dict(name="bye", kind="hangup", inputs={})])
    assert "voice_agents" not in workflow_export(flow)


def test_round_trip_into_another_workspace_creates_the_agents(call_flow, other_workspace):
    document = workflow_export(call_flow)
    LlmConnection.objects.create(
        workspace=other_workspace, name="openai", base_url="http://127.0.0.1:9/v1", model="m", api_key="other"
    )
    imported = workflow_import(workspace=other_workspace, document=document)
    assert workflow_export(imported) == document
    copy = VoiceAgent.objects.get(workspace=other_workspace, name="support")
    assert copy.llm.workspace_id == other_workspace.pk and copy.llm.api_key == "other"
    assert not VoiceAgent.objects.filter(workspace=other_workspace, name="unused").exists()
    # Importing it again keeps the equal agents (no error, no duplicate).
    workflow_import(workspace=other_workspace, document=document, replace=True)
    assert VoiceAgent.objects.filter(workspace=other_workspace).count() == 2


def test_a_missing_llm_connection_is_a_field_error_and_nothing_is_saved(call_flow, other_workspace):
    document = workflow_export(call_flow)
    index = [a["name"] for a in document["voice_agents"]].index("support")
    with pytest.raises(TwilioFlowError) as caught:
        workflow_import(workspace=other_workspace, document=document)
    assert (
        "No LLM connection 'openai' in workspace bistro"
        in caught.value.fields[f"voice_agents.{index}.llm"][0]
    )
    assert not Workflow.objects.filter(workspace=other_workspace).exists()
    assert not VoiceAgent.objects.filter(workspace=other_workspace).exists()


def test_a_different_agent_of_the_same_name_is_refused_unless_overwritten(call_flow, other_workspace):
    document = workflow_export(call_flow)
    document["voice_agents"] = [a for a in document["voice_agents"] if a["name"] == "survey"]
    document["steps"] = [s for s in document["steps"] if s["name"] != "help"]
    theirs = survey(other_workspace, goodbye="Bye now.")
    with pytest.raises(TwilioFlowError) as caught:
        workflow_import(workspace=other_workspace, document=document)
    message = caught.value.fields["voice_agents.0.name"][0]
    assert "A different voice agent 'survey' exists in workspace bistro" in message and "goodbye" in message
    assert not Workflow.objects.filter(workspace=other_workspace).exists()
    theirs.refresh_from_db()
    assert theirs.goodbye == "Bye now."

    workflow_import(workspace=other_workspace, document=document, overwrite_shared=True)
    theirs.refresh_from_db()
    assert (
        theirs.goodbye == "Thank you. Goodbye."
        and VoiceAgent.objects.filter(workspace=other_workspace).count() == 1
    )


def test_invalid_agent_json_never_saves_and_names_the_path(workspace, other_workspace, make_workflow):
    survey(workspace)
    document = workflow_export(
        make_workflow(name="f", steps=[dict(name="rate", kind="voice_agent", inputs={"agent": "survey"})])
    )
    document["voice_agents"][0]["questions"][0]["expectedAnswerType"] = "colour"
    document["voice_agents"][0]["temperature"] = "hot"
    with pytest.raises(TwilioFlowError) as caught:
        workflow_import(workspace=other_workspace, document=document)
    fields = caught.value.fields
    assert "questions[0].expectedAnswerType" in fields["voice_agents.0.questions"][0]
    assert "voice_agents.0.temperature" in fields
    assert not VoiceAgent.objects.filter(workspace=other_workspace).exists()


def test_a_step_naming_an_agent_nobody_has_is_a_field_error(workspace):
    document = {
        "format": "twilioflow/workflow@1",
        "name": "f",
        "steps": [{"name": "a", "kind": "voice_agent", "inputs": {"agent": "ghost"}}],
    }
    with pytest.raises(TwilioFlowError) as caught:
        workflow_import(workspace=workspace, document=document)
    assert caught.value.fields["steps.0.inputs.agent"] == [
        "No voice agent 'ghost' in workspace acme or this document."
    ]


def test_the_command_round_trip_and_overwrite_flag(call_flow, other_workspace, tmp_path):
    out = StringIO()
    call_command("export_workflow", "front-desk", "--workspace", "acme", stdout=out)
    path = tmp_path / "flow.json"
    path.write_text(out.getvalue())
    assert API_KEY not in out.getvalue()
    LlmConnection.objects.create(
        workspace=other_workspace, name="openai", base_url="http://x.test/v1", model="m"
    )
    survey(other_workspace, goodbye="Bye now.")
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        call_command("import_workflow", str(path), "--workspace", "bistro", stderr=StringIO())
    call_command(
        "import_workflow", str(path), "--workspace", "bistro", "--overwrite-shared", stdout=StringIO()
    )
    assert VoiceAgent.objects.get(workspace=other_workspace, name="survey").goodbye == "Thank you. Goodbye."


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entries=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["name", "llm", "agent_type", "questions", "temperature", "max_turns", "x"]),
                inner,
                max_size=4,
            )
        ),
        max_leaves=8,
    )
)
def test_any_voice_agents_value_is_imported_or_refused_with_fields(workspace, entries):
    document = {"format": "twilioflow/workflow@1", "name": "fuzz", "steps": [], "voice_agents": entries}
    try:
        workflow_import(workspace=workspace, document=document, replace=True)
    except TwilioFlowError as error:
        assert error.fields
