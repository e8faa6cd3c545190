"""/api/v1/voice-agents, /llm-connections, /call-sessions: agents with every JSON-questions
mistake under its path, LLM keys write-only (never in any answer's bytes), calls read-only
with their transcript."""

from __future__ import annotations

import pytest

from tests.api.conftest import LLM_KEY, world_of
from voice.models import CallSession, LlmConnection, VoiceAgent
from workflows.models import Run

pytestmark = pytest.mark.django_db
QUESTIONS = [
    {"id": "size", "question": "Small or large?", "expectedAnswerType": "multiple_choice", "options": ["small", "large"]},
    {"id": "confirm", "question": "Shall I book it?", "expectedAnswerType": "yes_no"},
]  # fmt: skip


@pytest.fixture
def world(workspace, connection, simple_workflow):
    return world_of(workspace, connection, simple_workflow, number="+14155550100", contact="+14155550111")


def test_agent_crud(api, workspace):
    created = api.post("/api/v1/voice-agents", {"name": "pizza", "questions": QUESTIONS}, format="json")
    assert created.status_code == 201, created.content
    agent = created.json()
    assert (agent["workspace"], agent["agent_type"], agent["questions"]) == (
        workspace.pk,
        "json_questions",
        QUESTIONS,
    )
    url = f"/api/v1/voice-agents/{agent['id']}"
    changed = api.put(url, {"name": "pizza", "questions": QUESTIONS[:1], "greeting": "Hi!"}, format="json")
    assert changed.status_code == 200 and changed.json()["greeting"] == "Hi!"
    assert VoiceAgent.objects.get(pk=agent["id"]).questions == QUESTIONS[:1]
    assert (
        api.post("/api/v1/voice-agents", {"name": "pizza", "questions": QUESTIONS}, format="json").status_code
        == 409
    )
    assert api.delete(url).status_code == 204 and not VoiceAgent.objects.exists()


def test_every_question_mistake_is_a_field_with_its_json_path(api):
    bad = [
        {"id": "a", "question": "Pick", "expectedAnswerType": "multiple_choice", "options": ["one"]},
        {"id": "a", "question": "", "expectedAnswerType": "colour", "maxRetries": 99},
    ]
    response = api.post("/api/v1/voice-agents", {"name": "bad", "questions": bad}, format="json")
    body = response.json()
    assert response.status_code == 400 and body["code"] == "VALIDATION_ERROR"
    assert {
        "questions[0].options",
        "questions[1].id",
        "questions[1].question",
        "questions[1].expectedAnswerType",
        "questions[1].maxRetries",
    } <= set(body["fields"])
    assert not VoiceAgent.objects.exists()
    empty = api.post("/api/v1/voice-agents", {"name": "empty", "questions": {}}, format="json")
    assert empty.status_code == 400 and "questions" in empty.json()["fields"]


def test_llm_agent_needs_a_connection_of_the_workspace(api, world, other_workspace):
    theirs = LlmConnection.objects.create(
        workspace=other_workspace, name="bistro-llm", base_url="https://x.example.com", model="m"
    )
    body = {"name": "talker", "agent_type": "llm", "system_prompt": "Be brief."}
    assert "llm" in api.post("/api/v1/voice-agents", body, format="json").json()["fields"]
    response = api.post("/api/v1/voice-agents", {**body, "llm": theirs.pk}, format="json")
    assert response.status_code == 400 and "llm" in response.json()["fields"]
    assert b"bistro" not in response.content
    ok = api.post("/api/v1/voice-agents", {**body, "llm": world["llm-connections"]}, format="json")
    assert ok.status_code == 201, ok.content


def test_the_llm_key_is_write_only(api, world):
    listed = api.get("/api/v1/llm-connections")
    one = api.get(f"/api/v1/llm-connections/{world['llm-connections']}")
    assert listed.status_code == one.status_code == 200
    for response in (listed, one):
        assert LLM_KEY.encode() not in response.content and LLM_KEY[-10:].encode() not in response.content
    assert one.json()["api_key_masked"] and "api_key" not in one.json()
    new_key = "sk-another-secret-value-987654321"
    created = api.post(
        "/api/v1/llm-connections",
        {
            "name": "openai",
            "base_url": "https://api.openai.com/v1",
            "model": "gpt-4o-mini",
            "api_key": new_key,
        },
        format="json",
    )
    assert created.status_code == 201 and new_key.encode() not in created.content
    url = f"/api/v1/llm-connections/{created.json()['id']}"
    kept = api.put(
        url,
        {"name": "openai", "base_url": "https://api.openai.com/v1", "model": "gpt-4o", "api_key": ""},
        format="json",
    )
    assert kept.status_code == 200 and new_key.encode() not in kept.content
    assert LlmConnection.objects.get(pk=created.json()["id"]).api_key == new_key
    VoiceAgent.objects.create(
        workspace_id=world["workspaces"], name="talker", agent_type="llm", llm_id=created.json()["id"]
    )
    assert api.delete(url).status_code == 409  # an agent uses it
    assert api.delete(f"/api/v1/llm-connections/{world['llm-connections']}").status_code == 204


def test_calls_are_read_only_with_their_transcript(api, world):
    listed = api.get("/api/v1/call-sessions").json()["results"]
    assert [c["id"] for c in listed] == [world["call-sessions"]] and "transcript" not in listed[0]
    url = f"/api/v1/call-sessions/{world['call-sessions']}"
    detail = api.get(url).json()
    assert [(t["index"], t["said"]) for t in detail["transcript"]] == [(0, "Welcome to Acme Dental")]
    assert detail["run"] == world["runs"]
    assert api.delete(url).status_code == 405 and api.put(url, {}, format="json").status_code == 405
    assert CallSession.objects.filter(pk=world["call-sessions"]).exists() and Run.objects.exists()


def test_scopes(api_as, workspace, world):
    runner = api_as(workspace, "run")
    assert runner.get("/api/v1/voice-agents").status_code == 200
    assert (
        runner.post("/api/v1/voice-agents", {"name": "x", "questions": QUESTIONS}, format="json").status_code
        == 403
    )
    assert runner.post("/api/v1/llm-connections", {"name": "x"}, format="json").status_code == 403
