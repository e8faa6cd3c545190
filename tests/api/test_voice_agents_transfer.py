"""The REST API carries voice agents in workflow@1 documents (tests/voice/test_transfer.py has the rules)."""

from __future__ import annotations

from tests.voice.test_transfer import API_KEY, flow_with_agents
from voice.models import VoiceAgent
from workflows.transfer import workflow_export


def test_the_api_imports_and_returns_the_agents(api, workspace, make_workflow):
    document = workflow_export(flow_with_agents(workspace, make_workflow))
    document["name"] = "front-desk-2"
    survey_entry = next(a for a in document["voice_agents"] if a["name"] == "survey")
    survey_entry["goodbye"] = "See you."
    refused = api.post("/api/v1/workflows", document, format="json")
    assert refused.status_code == 400, refused.content
    assert b"A different voice agent 'survey'" in refused.content
    created = api.post("/api/v1/workflows", {**document, "overwrite_shared": True}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert {a["name"] for a in body["voice_agents"]} == {"support", "survey"}
    assert API_KEY.encode() not in created.content and "overwrite_shared" not in body
    assert VoiceAgent.objects.get(workspace=workspace, name="survey").goodbye == "See you."
