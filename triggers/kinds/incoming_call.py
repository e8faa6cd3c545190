"""`twilio/incoming-call`: a call to one of the account's numbers. Besides parsing, the kind
answers the call with TwiML from the first matching trigger's `voice_answer` (say, play,
gather, dial, record, reject, hangup) and continues it when the caller's <Gather> input
arrives (`/voice/gather/<run id>`): the run that waited for it resumes with `trigger.gather`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from twilio.twiml.voice_response import Gather, VoiceResponse

from connections.webhook_urls import STATUS, VOICE, endpoint_url
from triggers.kinds.base import GEO_FIELDS, Answer, TriggerKind, first, join_key, present

if TYPE_CHECKING:
    from triggers.models import Trigger, TriggerEvent
    from workflows.models import Run

VOICE_ACTIONS = ("say", "play", "gather", "dial", "record", "reject", "hangup", "workflow")
# How long a gathering run waits beyond the <Gather> timeout before it resumes without input.
GATHER_GRACE_SECONDS = 120


# `workflow`: the run's own voice steps answer the call live. The app that runs live calls
# (voice) registers how, in its AppConfig.ready: (run, event, base_url) -> TwiML.
_live_answerer: list[Callable[..., str]] = []


def live_call_answerer_set(answerer: Callable[..., str]) -> None:
    _live_answerer[:] = [answerer]


def voice_answer_problems(answer: Any) -> dict[str, list[str]]:
    """What is wrong with a trigger's `voice_answer` ({} when nothing)."""
    if not isinstance(answer, dict):
        return {"voice_answer": ["Expected a JSON object."]}
    action = answer.get("action")
    if action not in VOICE_ACTIONS:
        return {"voice_answer": [f"action must be one of: {', '.join(VOICE_ACTIONS)}."]}
    needs = {"say": "message", "play": "url", "dial": "number"}.get(action)
    if needs and not answer.get(needs):
        return {"voice_answer": [f"{action} needs {needs!r}."]}
    return {}


def _say_options(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: answer[k] for k in ("voice", "language") if answer.get(k)}


class IncomingCall(TriggerKind):
    slug = "twilio/incoming-call"
    title = "Incoming call"
    description = (
        "A call to one of the account's numbers (its voice URL). The payload has CallSid, From, "
        "To, CallStatus, Direction, CallerName (with caller-name lookup on), ForwardedFrom "
        "(when the carrier passes it) and the geo fields Twilio could resolve."
    )
    purpose = VOICE
    required = ("CallSid", "From", "To")
    # `gather`: the caller's input, when the voice answer gathers it.
    optional_fields = ("ParentCallSid", "StirVerstat", "gather", *GEO_FIELDS)
    sample = {
        "Called": "+15017122661",
        "ToState": "AR",
        "CallerCountry": "US",
        "Direction": "inbound",
        "CallerState": "CA",
        "ToZip": "72201",
        "CallSid": "CA8f9edf6a4fa16fe3ddee9c7a109981b9",
        "To": "+15017122661",
        "CallerZip": "94105",
        "ToCountry": "US",
        "CalledZip": "72201",
        "ApiVersion": "2010-04-01",
        "CalledCity": "LITTLE ROCK",
        "CallStatus": "ringing",
        "From": "+14155550123",
        "AccountSid": "ACedc0c98e309617f60508111b164becbc",
        "CalledCountry": "US",
        "CallerCity": "SAN FRANCISCO",
        "ToCity": "LITTLE ROCK",
        "FromCountry": "US",
        "Caller": "+14155550123",
        "FromCity": "SAN FRANCISCO",
        "CalledState": "AR",
        "FromZip": "94105",
        "FromState": "CA",
    }

    @classmethod
    def parse(cls, params):
        return {
            "CallSid": first(params, "CallSid"),
            "AccountSid": first(params, "AccountSid"),
            "From": first(params, "From"),
            "To": first(params, "To"),
            "CallStatus": first(params, "CallStatus"),
            "Direction": first(params, "Direction"),
            "CallerName": first(params, "CallerName") or None,
            "ForwardedFrom": first(params, "ForwardedFrom") or None,
            **present(params, ("ParentCallSid", "StirVerstat")),
            **present(params, GEO_FIELDS),
        }

    @classmethod
    def dedupe_key(cls, params):
        # The voice URL is requested once per call; Gather/Dial actions go elsewhere.
        return join_key(first(params, "CallSid"))

    # --- receiving ------------------------------------------------------------------------
    @classmethod
    def input_wait(cls, trigger: Trigger) -> timedelta | None:
        """While the caller is still choosing, the run waits for their digits (or speech)."""
        if (trigger.voice_answer or {}).get("action") != "gather":
            return None
        return timedelta(seconds=int(trigger.voice_answer.get("timeout", 5)) + GATHER_GRACE_SECONDS)

    @classmethod
    def empty_answer(cls) -> Answer:
        return Answer(str(VoiceResponse()))

    @classmethod
    def answer(
        cls, *, event: TriggerEvent, matching: Sequence[Trigger], runs: Sequence[Run], base_url: str
    ) -> Answer:
        """The call's answer, from the first matching trigger's `voice_answer`."""
        response = VoiceResponse()
        answer = (matching[0].voice_answer if matching else None) or {}
        run = runs[0] if runs else None
        action = answer.get("action")
        say = _say_options(answer)
        if action == "workflow" and run is not None and _live_answerer:
            return Answer(_live_answerer[0](run=run, event=event, base_url=base_url))
        if action == "say":
            response.say(answer["message"], **say)
        elif action == "play":
            response.play(answer["url"], loop=int(answer.get("loop", 1)))
        elif action == "gather" and run is not None:
            url = f"{endpoint_url(base_url, event.connection, VOICE)}/gather/{run.pk}"
            gather = Gather(
                action=url,
                method="POST",
                input=answer.get("input", "dtmf"),
                timeout=int(answer.get("timeout", 5)),
                **({"num_digits": int(answer["num_digits"])} if answer.get("num_digits") else {}),
            )
            if answer.get("message"):
                gather.say(answer["message"], **say)
            response.append(gather)
            # No input: Twilio falls through to here, and the run resumes with empty digits.
            response.redirect(url, method="POST")
        elif action == "dial":
            response.dial(
                answer["number"],
                timeout=int(answer.get("timeout", 30)),
                **({"caller_id": answer["caller_id"]} if answer.get("caller_id") else {}),
            )
        elif action == "record":
            if answer.get("message"):
                response.say(answer["message"], **say)
            response.record(
                max_length=int(answer.get("max_length", 120)),
                play_beep=True,
                recording_status_callback=endpoint_url(base_url, event.connection, STATUS),
            )
        elif action == "reject":
            response.reject(reason=answer.get("reason", "rejected"))
        elif action == "hangup":
            response.hangup()
        return Answer(str(response))

    @classmethod
    def continue_run(cls, *, run: Run, params: dict[str, list[str]]) -> Answer:
        """The caller's digits or speech arrive: the same run continues with them as
        `trigger.gather`, and the call hears the trigger's `after_message`. The voice answer
        is always the run's own trigger's."""
        from workflows.inbound import run_resume_with_gather

        answer = (run.trigger.voice_answer if run.trigger else None) or {}
        gather = {
            name: (params.get(name) or [""])[0]
            for name in ("Digits", "SpeechResult", "Confidence")
            if name in params
        }
        gather.setdefault("Digits", "")
        run_resume_with_gather(run=run, gather=gather)
        response = VoiceResponse()
        if answer.get("after_message"):
            response.say(answer["after_message"], **_say_options(answer))
        return Answer(str(response))
