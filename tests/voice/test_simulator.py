"""Trying an agent without a phone: `simulate_agent` runs the live-call path minus Twilio."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

from django.core.management import call_command

from voice.models import CallSession, CallTurn, VoiceAgent
from voice.simulator import simulation_say, simulation_start

EXAMPLES = Path(__file__).resolve().parents[2] / "voice" / "examples"


def test_simulate_agent_command_runs_the_interview(workspace):
    VoiceAgent.objects.create(
        workspace=workspace,
        name="interview",
        questions=json.loads((EXAMPLES / "job_interview.json").read_text()),
    )
    out = StringIO()
    call_command(
        "simulate_agent",
        "interview",
        "--say",
        "Ada Lovelace",
        "--say",
        "twelve years",
        "--say",
        "in May",
        stdout=out,
    )
    text = out.getvalue()
    assert "agent: Please state your full name." in text
    assert "caller: twelve years" in text and "When would you be available to start?" in text
    result = json.loads(text[text.index("{") :])
    assert result["ended"] is True and result["end_reason"] == "completed"
    assert result["answers"] == {"name": "Ada Lovelace", "experience": 12, "availability": "in May"}
    session = CallSession.objects.get()
    assert session.connection is None and session.direction == "simulated"
    assert CallTurn.objects.filter(session=session).count() == 4


def test_keys_and_the_state_are_visible_between_turns(workspace):
    agent = VoiceAgent.objects.create(
        workspace=workspace,
        name="survey",
        questions=json.loads((EXAMPLES / "satisfaction_survey.json").read_text()),
    )
    heard = simulation_start(agent)
    assert "On a scale of 1 to 10" in heard.said and heard.state["question"] == "satisfaction_rating"
    heard = simulation_say(heard.session, "9")
    assert "testimonial" in heard.said and heard.state["answers"] == {"satisfaction_rating": 9}
    heard = simulation_say(heard.session, "yes of course")
    assert heard.ended and heard.state["answers"]["testimonial_request"] is True


def test_the_admin_simulator_talks_and_shows_the_transcript(workspace, other_workspace, make_staff, client):
    from workspaces.models import Role

    agent = VoiceAgent.objects.create(
        workspace=workspace,
        name="survey",
        questions=json.loads((EXAMPLES / "satisfaction_survey.json").read_text()),
    )
    hidden = VoiceAgent.objects.create(workspace=other_workspace, name="theirs", questions=agent.questions)
    client.force_login(make_staff("ed", workspace, role=Role.OPERATOR))
    url = f"/admin/voice/voiceagent/{agent.pk}/simulate/"
    page = client.post(url, {"say": ""}).content.decode()
    assert "On a scale of 1 to 10" in page
    session = CallSession.objects.get()
    page = client.post(url, {"say": "two", "session": str(session.public_id)}).content.decode()
    assert "What could we have done better" in page and "satisfaction_rating" in page
    assert client.get(f"/admin/voice/voiceagent/{hidden.pk}/simulate/").status_code in (302, 404)


def test_the_llm_key_is_write_only_in_the_admin(workspace, make_staff, client):
    from voice.models import LlmConnection
    from workspaces.models import Role

    key = "sk-live-" + "z" * 40
    llm = LlmConnection.objects.create(
        workspace=workspace,
        name="openai",
        base_url="https://api.openai.com/v1",
        model="gpt-4o-mini",
        api_key=key,
    )
    client.force_login(make_staff("own", workspace, role=Role.ADMIN))
    page = client.get(f"/admin/voice/llmconnection/{llm.pk}/change/").content.decode()
    assert key not in page and "Stored: ••••zzzz" in page
