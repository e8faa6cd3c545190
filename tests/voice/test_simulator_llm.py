"""LLM agents without a phone: the simulator and `manage.py simulate_agent` against the local
fake OpenAI-compatible server (tests/voice/fake_llm.py) — the same path as a live call."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tests.voice.fake_llm import FakeLlm, llm_agent_create
from voice.models import CallSession, CallTurn, VoiceAgent
from voice.simulator import simulation_say, simulation_start
from workflows.models import Run

API_KEY = "sk-sim-" + "k" * 40
PROMPT = "You are Acme support. Be brief."


@pytest.fixture
def fake_llm():
    with FakeLlm() as fake:
        yield fake


@pytest.fixture
def support(workspace, fake_llm):
    def make(**values) -> VoiceAgent:
        return llm_agent_create(
            workspace,
            fake_llm.url,
            api_key=API_KEY,
            prompt=PROMPT,
            greeting="Hi, Acme support.",
            **{"extract_fields": ["order_number"], **values},
        )

    return make


def test_the_simulator_talks_with_the_model_and_extracts_at_the_end(support, fake_llm):
    fake_llm.script = [
        {"content": "Order A17 ships tomorrow."},
        {"content": "", "end_call": "Happy to help, bye!"},
        {"content": '{"order_number": "A17"}'},
    ]
    heard = simulation_start(support())
    assert heard.said == "Hi, Acme support." and not heard.ended and fake_llm.requests == []
    heard = simulation_say(heard.session, "Where is order A17?", confidence=0.9)
    assert heard.said == "Order A17 ships tomorrow." and not heard.ended
    heard = simulation_say(heard.session, "Can you text me the tracking link?")
    assert "Happy to help, bye!" in heard.said and heard.ended
    assert heard.state["end_reason"] == "end_call" and heard.state["answers"] == {"order_number": "A17"}
    chat, ended, extraction = fake_llm.requests
    assert chat["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert chat["body"]["messages"][0] == {"role": "system", "content": PROMPT}
    assert ended["body"]["messages"][-1] == {"role": "user", "content": "Can you text me the tracking link?"}
    assert extraction["body"]["response_format"] == {"type": "json_object"}
    # Same records as a live call: the session (no connection), its turns with the model's figures.
    session = CallSession.objects.get()
    assert session.direction == "simulated" and session.connection is None
    turn = CallTurn.objects.get(session=session, index=1)
    assert turn.heard == "Where is order A17?" and turn.tokens == 52 and turn.model_ms is not None
    assert Run.objects.get().context["steps"]["agent"]["answers"] == {"order_number": "A17"}
    stored = (
        str(list(CallTurn.objects.values())) + str(CallSession.objects.values()) + str(Run.objects.values())
    )
    assert API_KEY not in stored


def test_a_failing_model_says_the_fallback_in_the_simulator(support, fake_llm):
    fake_llm.script = [{"status": 500}, {"status": 500}]
    heard = simulation_start(support(extract_fields=[]))
    heard = simulation_say(heard.session, "Hello?")
    assert "having trouble right now" in heard.said and heard.ended
    assert heard.state["end_reason"] == "model_error"
    assert "500" in CallTurn.objects.get(index=1).error and API_KEY not in CallTurn.objects.get(index=1).error


def test_simulate_agent_command_runs_an_llm_conversation(support, fake_llm):
    support(extract_fields=["order_number"])
    fake_llm.script = [
        {"content": "Let me check order B2 for you."},
        {"content": '{"order_number": "B2"}'},
    ]
    out = StringIO()
    call_command("simulate_agent", "support", "--say", "Order B2 please", "--say", "Goodbye", stdout=out)
    text = out.getvalue()
    assert "agent: Hi, Acme support." in text
    assert "caller: Order B2 please\nagent: Let me check order B2 for you." in text
    result = json.loads(text[text.index("{") :])
    assert result["ended"] is True and result["end_reason"] == "caller_goodbye"
    assert result["answers"] == {"order_number": "B2"}
    assert API_KEY not in text


@pytest.mark.django_db(transaction=True)
def test_simulate_agent_waits_for_a_slow_model_like_twilios_redirect(support, fake_llm):
    support(answer_wait=0.5, extract_fields=[])
    fake_llm.script = [{"content": "Your refund went out today.", "delay": 1.0}]
    out = StringIO()
    call_command("simulate_agent", "support", "--say", "My refund?", stdout=out)
    text = out.getvalue()
    # The filler was said on the turn the model missed; the reply came on the hold turn, once.
    assert "agent: Your refund went out today." in text and text.count("Your refund went out today.") == 1
    fillers = CallTurn.objects.filter(said__contains="One moment please.")
    assert fillers.count() == 1 and len(fake_llm.requests) == 1
