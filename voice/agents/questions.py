"""JSON-questions agents in Indite's format: validation (every mistake with its JSON path)
and the conversation as a pure state machine (`agent_start`, `agent_turn`), so the live
call, the admin simulator and `manage.py simulate_agent` share it exactly.

A question: {"id", "question", "expectedAnswerType": text | number | yes_no |
multiple_choice, "options" (Indite's examples also say "choices"), "maxRetries",
"timeout", "optional", "conditionalActions": [{"condition": {"field", "operator": equals |
contains | not_equals | any_other, "value"}, "action": continue_flow | end_call,
"nextQuestionId", "customMessage"}]}. Without a matching action the next question in the
list follows, skipping those a `continue_flow` jumps to (they are asked only when jumped
to); after the last one the agent says goodbye."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.utils import default_process

from voice.agents.parsing import ANSWER_TYPES, MULTIPLE_CHOICE, NUMBER, YES_NO, parse_answer

OPERATORS = ("equals", "contains", "not_equals", "any_other")
ACTIONS = ("continue_flow", "end_call")
QUESTION_KEYS = {
    "id", "question", "expectedAnswerType", "options", "choices", "maxRetries", "timeout",
    "optional", "conditionalActions", "hints",
}  # fmt: skip
DEFAULT_RETRIES = 2
DEFAULT_TIMEOUT = 5
SORRY = "Sorry, I didn't catch that."
GIVE_UP = "Sorry, I still couldn't understand. Thank you for calling. Goodbye."


def questions_problems(questions: Any) -> list[tuple[str, str]]:
    """(JSON path, message) for every mistake; [] when the agent can run."""
    if not isinstance(questions, list) or not questions:
        return [("questions", "Expected a non-empty list of questions.")]
    problems: list[tuple[str, str]] = []
    ids: list[str] = []
    for index, question in enumerate(questions):
        at = f"questions[{index}]"
        if not isinstance(question, dict):
            problems.append((at, "Expected an object."))
            continue
        qid = question.get("id")
        if not isinstance(qid, str) or not qid.strip():
            problems.append((f"{at}.id", "Required: a non-empty string."))
        elif qid in ids:
            problems.append((f"{at}.id", f"Duplicate id {qid!r}."))
        else:
            ids.append(qid)
    known = set(ids)
    for index, question in enumerate(questions):
        if isinstance(question, dict):
            problems += _question_problems(question, f"questions[{index}]", known)
    return problems


def _question_problems(question: dict[str, Any], at: str, ids: set[str]) -> list[tuple[str, str]]:
    problems = [(f"{at}.{key}", "Unknown key.") for key in question if key not in QUESTION_KEYS]
    if not isinstance(question.get("question"), str) or not question["question"].strip():
        problems.append((f"{at}.question", "Required: the text to say."))
    kind = question.get("expectedAnswerType", "text")
    if kind not in ANSWER_TYPES:
        problems.append((f"{at}.expectedAnswerType", f"One of: {', '.join(ANSWER_TYPES)}."))
    options = question.get("options", question.get("choices"))
    if kind == MULTIPLE_CHOICE:
        name = "options" if "options" in question else "choices"
        if not isinstance(options, list) or len(options) < 2:
            problems.append((f"{at}.{name}", "multiple_choice needs a list of at least two options."))
        else:
            problems += [
                (f"{at}.{name}[{i}]", "Expected a non-empty string.")
                for i, option in enumerate(options)
                if not isinstance(option, str) or not option.strip()
            ]
    for name, low, high in (("maxRetries", 0, 10), ("timeout", 1, 60)):
        value = question.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
        ):
            problems.append((f"{at}.{name}", f"An integer from {low} to {high}."))
    if "optional" in question and not isinstance(question["optional"], bool):
        problems.append((f"{at}.optional", "true or false."))
    actions = question.get("conditionalActions", [])
    if not isinstance(actions, list):
        return [*problems, (f"{at}.conditionalActions", "Expected a list.")]
    for i, action in enumerate(actions):
        problems += _action_problems(action, f"{at}.conditionalActions[{i}]", ids)
    return problems


def _action_problems(action: Any, at: str, ids: set[str]) -> list[tuple[str, str]]:
    if not isinstance(action, dict):
        return [(at, "Expected an object.")]
    problems = []
    condition = action.get("condition")
    if not isinstance(condition, dict):
        problems.append((f"{at}.condition", "Required: {field, operator, value}."))
    else:
        operator = condition.get("operator")
        if operator not in OPERATORS:
            problems.append((f"{at}.condition.operator", f"One of: {', '.join(OPERATORS)}."))
        if operator != "any_other":
            if condition.get("field") not in ids:
                problems.append((f"{at}.condition.field", "The id of a question of this agent."))
            if not isinstance(condition.get("value"), str | int | float) or isinstance(
                condition.get("value"), bool
            ):
                problems.append((f"{at}.condition.value", "Required: a string or number."))
    kind = action.get("action")
    if kind not in ACTIONS:
        problems.append((f"{at}.action", f"One of: {', '.join(ACTIONS)}."))
    elif kind == "continue_flow" and action.get("nextQuestionId") not in ids:
        problems.append((f"{at}.nextQuestionId", "The id of a question of this agent."))
    elif kind == "end_call" and not isinstance(action.get("customMessage", ""), str):
        problems.append((f"{at}.customMessage", "Expected a string."))
    return problems


# --- the conversation --------------------------------------------------------------------
@dataclass
class AgentSpec:
    questions: list[dict[str, Any]]
    greeting: str = ""
    goodbye: str = "Thank you. Goodbye."
    language: str = "en-US"
    min_confidence: float = 0.4

    def question(self, qid: str) -> dict[str, Any]:
        return next(q for q in self.questions if q["id"] == qid)

    def after(self, qid: str) -> str | None:
        """The next question in list order that is not a branch's target: a question some
        `continue_flow` jumps to is asked only when jumped to (so "billing_details" is not
        followed by its sibling "technical_details")."""
        targets = {
            action.get("nextQuestionId")
            for q in self.questions
            for action in q.get("conditionalActions", [])
            if action.get("action") == "continue_flow"
        }
        ids = [q["id"] for q in self.questions]
        return next((i for i in ids[ids.index(qid) + 1 :] if i not in targets), None)


@dataclass
class Reply:
    """What to say now, and whether to ask a question (`ask`) or end (`ended`)."""

    say: list[str] = field(default_factory=list)
    ask: dict[str, Any] | None = None
    ended: bool = False


def options_of(question: dict[str, Any]) -> list[str]:
    return [str(o) for o in (question.get("options") or question.get("choices") or [])]


def agent_start(spec: AgentSpec, state: dict[str, Any]) -> Reply:
    first = spec.questions[0]["id"]
    state.update(question=first, retries=0, answers={}, heard={}, ended=False, end_reason="")
    return Reply(say=[spec.greeting] if spec.greeting else [], ask=spec.question(first))


def agent_turn(
    spec: AgentSpec,
    state: dict[str, Any],
    *,
    speech: str = "",
    digits: str = "",
    confidence: float | None = None,
) -> Reply:
    """The caller answered (or not) the current question: record it, then what next."""
    question = spec.question(state["question"])
    digits = (digits or "").strip()
    if "*" in digits:  # keypad: hear the question again (not a failed attempt)
        return Reply(ask=question)
    if digits == "#" and question.get("optional"):
        return _go_on(spec, state, question, matched=None)
    low = bool(speech) and not digits and confidence is not None and confidence < spec.min_confidence
    parsed = parse_answer(
        question.get("expectedAnswerType", "text"),
        speech=speech,
        digits=digits.rstrip("#"),
        options=options_of(question),
        language=spec.language,
    )
    if low or not parsed.ok:
        state["retries"] = state.get("retries", 0) + 1
        if state["retries"] <= int(question.get("maxRetries", DEFAULT_RETRIES)):
            return Reply(say=[SORRY], ask=question)
        fallback = next(
            (
                a
                for a in question.get("conditionalActions", [])
                if a["condition"].get("operator") == "any_other"
            ),
            None,
        )
        if fallback is None:
            return _end(state, GIVE_UP, "no_answer")
        return _follow(spec, state, question, fallback)
    state["answers"][question["id"]] = parsed.value
    state["heard"][question["id"]] = parsed.text
    return _go_on(spec, state, question, matched=_matching_action(question, state))


def _matching_action(question: dict[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
    actions = question.get("conditionalActions", [])
    for action in actions:
        condition = action["condition"]
        if condition.get("operator") != "any_other" and condition_holds(condition, state):
            return action
    return next((a for a in actions if a["condition"].get("operator") == "any_other"), None)


def condition_holds(condition: dict[str, Any], state: dict[str, Any]) -> bool:
    """Case-insensitive; a value "1,2,3" means any of them. A number answer is compared as a
    number (so "contains 1" does not hold for 10); the words heard count too ("equals none")."""
    fieldname = condition.get("field")
    if fieldname not in state["answers"]:
        return False
    answer, heard = state["answers"][fieldname], default_process(str(state["heard"].get(fieldname, "")))
    wanted = [default_process(w) for w in str(condition.get("value", "")).split(",") if default_process(w)]
    forms = {heard}
    if isinstance(answer, bool):
        forms |= {"yes", "true", "1"} if answer else {"no", "false", "2"}
    else:
        forms.add(default_process(str(answer)))
    operator = condition.get("operator")
    if operator == "contains" and not isinstance(answer, int | float):
        hit = any(w in form for w in wanted for form in forms)
    else:
        hit = any(w in forms or _same_number(w, answer) for w in wanted)
    return not hit if operator == "not_equals" else hit


def _same_number(text: str, answer: Any) -> bool:
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        return False
    try:
        return float(text) == float(answer)
    except ValueError:
        return False


def _go_on(
    spec: AgentSpec, state: dict[str, Any], question: dict[str, Any], matched: dict[str, Any] | None
) -> Reply:
    if matched is not None:
        return _follow(spec, state, question, matched)
    following = spec.after(question["id"])
    if following is None:
        return _end(state, spec.goodbye, "completed")
    return _ask(spec, state, following)


def _follow(
    spec: AgentSpec, state: dict[str, Any], question: dict[str, Any], action: dict[str, Any]
) -> Reply:
    if action.get("action") == "end_call":
        return _end(state, action.get("customMessage") or spec.goodbye, "end_call")
    return _ask(spec, state, action["nextQuestionId"])


def _ask(spec: AgentSpec, state: dict[str, Any], qid: str) -> Reply:
    state.update(question=qid, retries=0)
    return Reply(ask=spec.question(qid))


def _end(state: dict[str, Any], message: str, reason: str) -> Reply:
    state.update(ended=True, end_reason=reason)
    return Reply(say=[message] if message else [], ended=True)


def gather_verb(spec: AgentSpec, question: dict[str, Any], *, voice: str = "") -> dict[str, Any]:
    """The <Gather> that asks `question`: speech and keypad, the options as hints."""
    kind = question.get("expectedAnswerType", "text")
    options = options_of(question)
    hints = question.get("hints") or (
        ", ".join(options) if options else ("yes, no" if kind == YES_NO else "")
    )
    say = {
        "verb": "say",
        "text": question["question"],
        "language": spec.language,
        **({"voice": voice} if voice else {}),
    }
    verb: dict[str, Any] = {
        "verb": "gather",
        "input": "dtmf speech",
        "timeout": int(question.get("timeout", DEFAULT_TIMEOUT)),
        "speech_timeout": "auto",
        "language": spec.language,
        # "#" and "*" are navigation keys here, so no key ends the input early.
        "finish_on_key": "",
        "prompt": [say],
    }
    if hints:
        verb["hints"] = hints
    if kind == YES_NO or (kind == MULTIPLE_CHOICE and len(options) <= 9):
        verb["num_digits"] = 1
    if kind == NUMBER:
        verb["speech_model"] = "numbers_and_commands"
    return verb
