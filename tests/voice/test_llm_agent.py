"""LLM voice agents against a local fake OpenAI-compatible server: Indite's customer-support
example end to end, end_call, 429 Retry-After, a slow model (filler + redirect, never a
double answer) and a failing model (fallback)."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError

from tests.voice.conftest import next_url, signed_post
from tests.voice.fake_llm import FakeLlm, llm_agent_create
from voice.models import AgentType, CallSession, CallTurn, VoiceAgent
from workflows.models import Run, RunStatus

API_KEY = "sk-test-" + "q" * 40
PROMPT = (
    "You are a helpful customer service representative for Acme Corp. Keep responses "
    "conversational and brief (1-2 sentences max). You can help with order status, product "
    "information, and general questions. Always be polite and professional."
)


@pytest.fixture
def fake_llm():
    with FakeLlm() as fake:
        yield fake


@pytest.fixture
def llm_call(workspace, make_workflow, live_trigger, caller, fake_llm):
    def make(**values):
        llm_agent_create(
            workspace,
            fake_llm.url,
            api_key=API_KEY,
            prompt=PROMPT,
            greeting="Hi, this is Acme support. How can I help?",
            **{
                "temperature": 0.3,
                "max_tokens": 120,
                "extract_fields": ["order_number", "resolved"],
                **values,
            },
        )
        live_trigger(
            make_workflow(
                name="support-line",
                steps=[dict(name="agent", kind="voice_agent", inputs={"agent": "support"})],
            )
        )
        call = caller()
        call.dial()
        return call

    return make


def output() -> dict:
    return Run.objects.get().context["steps"]["agent"]


def test_customer_support_end_to_end(llm_call, fake_llm):
    fake_llm.script = [
        {"content": "Order A17 ships tomorrow. Anything else?"},
        {"content": '{"order_number": "A17", "resolved": true}'},
    ]
    call = llm_call()
    assert "Hi, this is Acme support. How can I help?" in call.answer and 'input="speech"' in call.answer
    answer = call.respond(SpeechResult="Where is my order A17?", Confidence="0.93")
    assert "Order A17 ships tomorrow. Anything else?" in answer and "<Gather" in answer
    answer = call.respond(SpeechResult="No thanks, goodbye.", Confidence="0.9")
    assert "Thank you. Goodbye." in answer and "<Hangup />" in answer
    assert output()["answers"] == {"order_number": "A17", "resolved": True}
    assert output()["end_reason"] == "caller_goodbye" and Run.objects.get().status == RunStatus.SUCCEEDED
    first, extraction = fake_llm.requests
    assert (
        first["path"] == "/v1/chat/completions" and first["headers"]["Authorization"] == f"Bearer {API_KEY}"
    )
    body = first["body"]
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.3 and body["max_tokens"] == 120
    assert body["messages"][0] == {"role": "system", "content": PROMPT}
    assert body["messages"][-1] == {"role": "user", "content": "Where is my order A17?"}
    assert body["tools"][0]["function"]["name"] == "end_call"
    assert extraction["body"]["response_format"] == {"type": "json_object"}
    turn = CallTurn.objects.get(index=1)
    assert turn.tokens == 52 and turn.model_ms is not None
    # The key never lands anywhere we store or show.
    stored = (
        str(list(CallTurn.objects.values()))
        + str(Run.objects.get().context)
        + str(CallSession.objects.values())
    )
    assert API_KEY not in stored


def test_the_model_ends_the_call_with_its_tool(llm_call, fake_llm):
    fake_llm.script = [{"content": "", "end_call": "Glad I could help, bye!"}, {"content": "{}"}]
    call = llm_call()
    answer = call.respond(SpeechResult="That was all I needed", Confidence="0.9")
    assert "Glad I could help, bye!" in answer and "<Hangup />" in answer
    assert output()["end_reason"] == "end_call"


def test_429_retry_after_is_honoured(llm_call, fake_llm):
    fake_llm.script = [{"status": 429, "retry_after": "0.3"}, {"content": "Sure, one moment."}]
    call = llm_call(answer_wait=3)
    started = time.monotonic()
    answer = call.respond(SpeechResult="Can you help?", Confidence="0.9")
    assert "Sure, one moment." in answer and time.monotonic() - started >= 0.3
    assert len(fake_llm.requests) == 2


def test_a_failing_model_retries_once_then_says_the_fallback(llm_call, fake_llm):
    fake_llm.script = [{"status": 500}, {"status": 500}]
    call = llm_call()
    answer = call.respond(SpeechResult="Hello?", Confidence="0.9")
    assert "having trouble right now" in answer and "<Hangup />" in answer
    assert output()["end_reason"] == "model_error" and len(fake_llm.requests) == 2
    assert "500" in CallTurn.objects.get(index=1).error


def test_max_turns_ends_politely(llm_call, fake_llm):
    fake_llm.script = [{"content": "Reply one."}, {"content": "{}"}]
    call = llm_call(max_turns=1, extract_fields=[])
    call.respond(SpeechResult="First question", Confidence="0.9")
    answer = call.respond(SpeechResult="Second question", Confidence="0.9")
    assert "Thank you. Goodbye." in answer and output()["end_reason"] == "max_turns"


@pytest.mark.django_db(transaction=True)
def test_a_slow_model_gets_a_filler_and_a_redirect_and_its_reply_is_said_once(llm_call, fake_llm, client):
    fake_llm.script = [{"content": "Your refund was issued today.", "delay": 1.2}]
    call = llm_call(answer_wait=0.5, extract_fields=[])
    answer = call.respond(SpeechResult="What about my refund?", Confidence="0.9")
    assert "One moment please." in answer and "hold=1" in answer and "<Gather" not in answer
    hold = next_url(answer)
    session = CallSession.objects.get()
    for _ in range(100):  # the reply arrives in the background and wakes the run
        session.refresh_from_db()
        if session.late_reply:
            break
        time.sleep(0.05)
    assert session.late_reply["text"] == "Your refund was issued today."
    answer = signed_post(client, hold, {"CallSid": session.call_sid}).content.decode()
    assert answer.count("Your refund was issued today.") == 1 and "<Gather" in answer
    again = signed_post(client, hold, {"CallSid": session.call_sid}).content.decode()
    assert again == answer  # Twilio retried the hold: the stored answer, not a second one
    assert len(fake_llm.requests) == 1


def test_an_llm_agent_needs_its_connection_and_a_sane_temperature(workspace):
    agent = VoiceAgent(workspace=workspace, name="x", agent_type=AgentType.LLM, temperature=3)
    with pytest.raises(ValidationError) as error:
        agent.full_clean()
    assert {"llm", "system_prompt", "temperature"} <= set(error.value.message_dict)
