"""JSON-questions agents: validation with JSON paths, and Indite's three examples run end to
end from their JSON on a live call, driven by fixture-shaped Gather callbacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from tests.voice.conftest import fixture
from voice.agents.questions import questions_problems
from voice.models import CallSession, CallTurn, VoiceAgent
from workflows.models import Run, RunStatus

EXAMPLES = Path(__file__).resolve().parents[2] / "voice" / "examples"


def example(name: str) -> list:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


@pytest.fixture
def agent_call(workspace, make_workflow, live_trigger, caller):
    """An incoming call answered by a workflow whose voice_agent step runs `questions`."""

    def make(questions, **values):
        agent = VoiceAgent(workspace=workspace, name="agent", questions=questions, **values)
        agent.full_clean()
        agent.save()
        workflow = make_workflow(
            name="agent-call",
            steps=[
                dict(name="interview", kind="voice_agent", inputs={"agent": "agent"}),
                dict(
                    name="thanks", kind="say", inputs={"message": "Noted: {{ steps.interview.end_reason }}."}
                ),
            ],
        )
        live_trigger(workflow)
        call = caller()
        call.dial()
        return call

    return make


def answers() -> dict:
    return Run.objects.get().context["steps"]["interview"]["answers"]


class TestValidation:
    @pytest.mark.parametrize("name", ["customer_service", "job_interview", "satisfaction_survey"])
    def test_the_examples_are_valid(self, name):
        assert questions_problems(example(name)) == []

    def test_every_mistake_is_named_by_its_path(self):
        questions = [
            {"id": "a", "question": "Pick", "expectedAnswerType": "multiple_choice", "options": ["x"]},
            {"id": "a", "question": "", "expectedAnswerType": "date", "maxRetries": -1, "timout": 5},
            {
                "id": "c",
                "question": "Q",
                "conditionalActions": [
                    {
                        "condition": {"field": "zz", "operator": "like", "value": "1"},
                        "action": "continue_flow",
                    },
                    {"condition": {"operator": "any_other"}, "action": "end_call", "customMessage": 7},
                    "nope",
                ],
            },
        ]
        assert questions_problems(questions) == [
            ("questions[1].id", "Duplicate id 'a'."),
            ("questions[0].options", "multiple_choice needs a list of at least two options."),
            ("questions[1].timout", "Unknown key."),
            ("questions[1].question", "Required: the text to say."),
            ("questions[1].expectedAnswerType", "One of: text, number, yes_no, multiple_choice."),
            ("questions[1].maxRetries", "An integer from 0 to 10."),
            (
                "questions[2].conditionalActions[0].condition.operator",
                "One of: equals, contains, not_equals, any_other.",
            ),
            ("questions[2].conditionalActions[0].condition.field", "The id of a question of this agent."),
            ("questions[2].conditionalActions[0].nextQuestionId", "The id of a question of this agent."),
            ("questions[2].conditionalActions[1].customMessage", "Expected a string."),
            ("questions[2].conditionalActions[2]", "Expected an object."),
        ]

    @pytest.mark.parametrize("bad", [None, {}, [], "[]", [1]])
    def test_invalid_agent_json_never_saves(self, workspace, bad):
        agent = VoiceAgent(workspace=workspace, name="bad", questions=bad)
        with pytest.raises(ValidationError) as error:
            agent.full_clean()
        assert "questions" in error.value.message_dict


class TestCustomerService:
    def test_billing_by_a_shortened_word(self, agent_call):
        call = agent_call(example("customer_service"), greeting="Thanks for calling Acme.")
        assert "Thanks for calling Acme." in call.answer
        assert 'hints="billing, technical, general inquiry"' in call.answer and 'numDigits="1"' in call.answer
        answer = call.respond(SpeechResult="It's about my bill.", Confidence="0.93")
        assert "Please describe your billing concern in detail." in answer
        answer = call.respond(SpeechResult="I was charged twice in March.", Confidence="0.88")
        # A sibling branch's question is not asked: the agent ends and the workflow goes on.
        assert "technical problem" not in answer
        assert "Thank you. Goodbye." in answer and "Noted: completed." in answer and "<Hangup />" in answer
        assert answers() == {"issue_type": "billing", "billing_details": "I was charged twice in March."}
        assert Run.objects.get().status == RunStatus.SUCCEEDED

    def test_keypad_picks_the_option_by_position(self, agent_call):
        call = agent_call(example("customer_service"))
        assert "What technical problem" in call.respond(Digits="2")
        call.respond(SpeechResult="The app crashes", Confidence="0.9")
        assert answers() == {"issue_type": "technical", "technical_details": "The app crashes"}


class TestJobInterview:
    def test_numbers_in_words_are_typed(self, agent_call):
        call = agent_call(example("job_interview"))
        call.respond(SpeechResult="Ada Lovelace", Confidence="0.95")
        answer = call.respond(SpeechResult="about twenty one years", Confidence="0.9")
        assert "When would you be available to start?" in answer
        call.respond(SpeechResult="Next Monday", Confidence="0.9")
        assert answers() == {"name": "Ada Lovelace", "experience": 21, "availability": "Next Monday"}

    def test_none_ends_the_call_with_the_custom_message(self, agent_call):
        call = agent_call(example("job_interview"))
        call.respond(SpeechResult="Grace Hopper", Confidence="0.95")
        answer = call.respond(SpeechResult="None.", Confidence="0.9")
        assert "We'll review entry-level positions" in answer and "<Hangup />" in answer
        output = Run.objects.get().context["steps"]["interview"]
        assert output["answers"] == {"name": "Grace Hopper", "experience": 0}
        assert output["end_reason"] == "end_call"


class TestSatisfactionSurvey:
    def test_a_nine_asks_for_a_testimonial(self, agent_call):
        call = agent_call(example("satisfaction_survey"))
        answer = call.respond(SpeechResult="nine", Confidence="0.8")
        assert "testimonial" in answer and 'hints="yes, no"' in answer
        call.respond(Digits="1")
        assert answers() == {"satisfaction_rating": 9, "testimonial_request": True}

    def test_a_low_rating_asks_what_to_improve(self, agent_call):
        call = agent_call(example("satisfaction_survey"))
        assert "What could we have done better" in call.respond(Digits="3")
        call.respond(SpeechResult="Answer the phone faster.", Confidence="0.91")
        assert answers() == {"satisfaction_rating": 3, "improvement_feedback": "Answer the phone faster."}


class TestRobustness:
    def test_low_confidence_and_nonsense_are_asked_again_then_the_agent_ends_politely(self, agent_call):
        questions = [
            {"id": "age", "question": "How old are you?", "expectedAnswerType": "number", "maxRetries": 2}
        ]
        call = agent_call(questions)
        low = fixture("gather/speech-low-confidence")  # Confidence 0.21
        answer = call.respond(SpeechResult=low["SpeechResult"], Confidence=low["Confidence"])
        assert "Sorry, I didn't catch that." in answer and "How old are you?" in answer
        assert "Sorry, I didn't catch that." in call.respond(SpeechResult="banana", Confidence="0.9")
        answer = call.respond()  # silence: the third failure, past maxRetries
        assert "Sorry, I still couldn't understand" in answer and "<Hangup />" in answer
        output = Run.objects.get().context["steps"]["interview"]
        assert output["answers"] == {} and output["end_reason"] == "no_answer"

    def test_any_other_is_followed_once_retries_are_used_up(self, agent_call):
        questions = [
            {
                "id": "ok",
                "question": "Shall we go on?",
                "expectedAnswerType": "yes_no",
                "maxRetries": 0,
                "conditionalActions": [
                    {
                        "condition": {"operator": "any_other"},
                        "action": "end_call",
                        "customMessage": "Agent soon.",
                    }
                ],
            }
        ]
        call = agent_call(questions)
        assert "Agent soon." in call.respond(SpeechResult="maybe", Confidence="0.9")

    def test_star_repeats_and_hash_skips_an_optional_question(self, agent_call):
        questions = [
            {"id": "email", "question": "Your email, or press hash to skip.", "optional": True},
            {"id": "city", "question": "Your city?"},
        ]
        call = agent_call(questions)
        answer = call.respond(Digits="*")
        assert "Your email, or press hash to skip." in answer and "didn't catch" not in answer
        assert "Your city?" in call.respond(Digits="#")
        call.respond(SpeechResult="Lyon", Confidence="0.9")
        assert answers() == {"city": "Lyon"}

    def test_the_transcript_is_one_row_per_turn(self, agent_call):
        call = agent_call(example("satisfaction_survey"))
        call.respond(SpeechResult="two", Confidence="0.77")
        call.respond(SpeechResult="Be quicker.", Confidence="0.9")
        turns = list(CallTurn.objects.order_by("index").values_list("index", "heard", "confidence"))
        assert turns == [(0, "", None), (1, "two", 0.77), (2, "Be quicker.", 0.9)]
        assert "What could we have done better" in CallTurn.objects.get(index=1).said
        assert CallSession.objects.get().agent_state["answers"] == {
            "satisfaction_rating": 2,
            "improvement_feedback": "Be quicker.",
        }

    def test_an_unknown_agent_fails_the_step_clearly(self, workspace, make_workflow, live_trigger, caller):
        workflow = make_workflow(
            name="w", steps=[dict(name="a", kind="voice_agent", inputs={"agent": "ghost"})]
        )
        live_trigger(workflow)
        call = caller()
        assert "<Hangup />" in call.dial()
        run = Run.objects.get()
        assert run.status == RunStatus.FAILED and "ghost" in run.error_message
