"""The answer parsers take whatever a caller says (or Twilio transcribes) and never raise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.agents.parsing import parse_answer, parse_choice, parse_number, parse_yes_no
from voice.agents.questions import AgentSpec, agent_start, agent_turn

ANY_TEXT = st.text(max_size=200)
OPTIONS = st.lists(st.text(min_size=1, max_size=30).filter(str.strip), min_size=1, max_size=8)


@pytest.mark.parametrize(
    ("heard", "language", "expected"),
    [
        ("twenty one", "en-US", 21),
        ("I have about five years", "en-US", 5),
        ("one", "en-GB", 1),
        ("a hundred and three", "en-US", 103),
        ("12", "en-US", 12),
        ("7.5", "en-US", 7.5),
        ("zero years", "en-US", 0),
        ("None.", "en-US", 0),
        ("vingt et un", "fr-FR", 21),
        ("dreiundzwanzig", "de-DE", 23),
        ("banana", "en-US", None),
        ("", "en-US", None),
    ],
)
def test_numbers_from_digits_and_words(heard, language, expected):
    assert parse_number(heard, language) == expected


@pytest.mark.parametrize(
    ("speech", "digits", "expected"),
    [
        ("Yes please", "", True),
        ("Yeah, sure.", "", True),
        ("Of course I would", "", True),
        ("No thanks", "", False),
        ("Nope.", "", False),
        ("yes and no", "", None),
        ("purple", "", None),
        ("", "1", True),
        ("", "2", False),
        ("", "3", None),
    ],
)
def test_yes_no(speech, digits, expected):
    assert parse_yes_no(speech, digits) is expected


@given(ANY_TEXT, st.sampled_from(["en-US", "fr-FR", "de-DE", "es-ES", "xx", ""]))
@settings(max_examples=150, deadline=None)
def test_parse_number_never_raises(text, language):
    value = parse_number(text, language)
    assert value is None or isinstance(value, int | float)


@given(st.integers(min_value=0, max_value=10**9))
@settings(max_examples=100, deadline=None)
def test_digits_are_read_exactly(number):
    assert parse_number(str(number)) == number
    assert parse_answer("number", digits=str(number)).value == number


@given(ANY_TEXT, st.text(alphabet="0123456789*#", max_size=6))
@settings(max_examples=150, deadline=None)
def test_parse_yes_no_never_raises(text, digits):
    assert parse_yes_no(text, digits) in (True, False, None)


@given(ANY_TEXT, OPTIONS, st.text(alphabet="0123456789*#", max_size=3))
@settings(max_examples=150, deadline=None)
def test_a_choice_is_one_of_the_options_or_none(text, options, digits):
    assert parse_choice(text, options, digits) in [*options, None]


WORDS = ["billing", "technical", "general inquiry", "sales", "support", "returns", "opening hours", "cancel"]


@given(st.lists(st.sampled_from(WORDS), min_size=2, max_size=6, unique=True), st.data())
@settings(max_examples=100, deadline=None)
def test_an_option_said_or_keyed_is_chosen(options, data):
    option = data.draw(st.sampled_from(options))
    filler = data.draw(st.sampled_from(["", "it's about ", "um, "]))
    assert parse_choice(f"{filler}{option.upper()}.", options) == option
    assert parse_choice("", options, str(options.index(option) + 1)) == option


@given(
    st.lists(
        st.tuples(ANY_TEXT, st.text(alphabet="0123456789*#", max_size=4), st.none() | st.floats(0, 1)),
        max_size=12,
    ),
    st.sampled_from(["text", "number", "yes_no", "multiple_choice"]),
)
@settings(max_examples=80, deadline=None)
def test_any_conversation_ends_or_asks_and_never_raises(turns, kind):
    spec = AgentSpec(
        questions=[
            {
                "id": "q",
                "question": "Q?",
                "expectedAnswerType": kind,
                "options": ["red", "green"],
                "maxRetries": 1,
            },
            {"id": "r", "question": "R?", "optional": True},
        ]
    )
    state: dict = {}
    reply = agent_start(spec, state)
    for speech, digits, confidence in turns:
        if reply.ended:
            break
        reply = agent_turn(spec, state, speech=speech, digits=digits, confidence=confidence)
        assert reply.ended or reply.ask is not None
    assert set(state["answers"]) <= {"q", "r"}
