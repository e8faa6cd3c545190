"""Verbs as data, TwiML as text. Voice steps store what they want said as small dicts
(`CallSession.pending`, `CallSession.awaiting`); the answer is built from them here with the
`twilio` library's builders, so no step writes XML and any worker can build any answer."""

from __future__ import annotations

from typing import Any

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

GOODBYE = "Sorry, this call has ended. Goodbye."
# Verbs that need the caller (or the far end): the run waits for their action callback.
AWAITING_VERBS = ("gather", "record", "dial")


def _options(verb: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {twiml_name: verb[key] for key, twiml_name in names.items() if verb.get(key) not in (None, "")}


def _say_to(parent: VoiceResponse | Gather, verb: dict[str, Any]) -> None:
    parent.say(
        verb.get("text", ""), **_options(verb, {"voice": "voice", "language": "language", "loop": "loop"})
    )


def _append(response: VoiceResponse, verb: dict[str, Any], action_url: str) -> None:
    kind = verb.get("verb")
    if kind == "say":
        _say_to(response, verb)
    elif kind == "play":
        response.play(verb.get("url", ""), **_options(verb, {"loop": "loop"}))
    elif kind == "pause":
        response.pause(length=int(verb.get("length") or 1))
    elif kind == "hangup":
        response.hangup()
    elif kind == "gather":
        gather = Gather(
            action=action_url,
            method="POST",
            input=verb.get("input") or "dtmf",
            **_options(
                verb,
                {
                    "timeout": "timeout",
                    "num_digits": "num_digits",
                    "hints": "hints",
                    "speech_timeout": "speech_timeout",
                    "language": "language",
                    "speech_model": "speech_model",
                },
            ),
            # "" is meaningful here: no key ends the input (the agents' * and # navigate).
            **({"finish_on_key": verb["finish_on_key"]} if "finish_on_key" in verb else {}),
        )
        for prompt in verb.get("prompt") or []:
            if prompt.get("verb") == "say":
                _say_to(gather, prompt)
            elif prompt.get("verb") == "play":
                gather.play(prompt.get("url", ""))
        response.append(gather)
        # No input: Twilio falls through to here and posts the same turn without Digits.
        response.redirect(action_url, method="POST")
    elif kind == "record":
        response.record(
            action=action_url,
            method="POST",
            **_options(
                verb,
                {
                    "max_length": "max_length",
                    "timeout": "timeout",
                    "finish_on_key": "finish_on_key",
                    "play_beep": "play_beep",
                    "transcribe": "transcribe",
                    "transcribe_callback": "transcribe_callback",
                    "recording_status_callback": "recording_status_callback",
                },
            ),
        )
    elif kind == "dial":
        dial = Dial(
            action=action_url,
            method="POST",
            **_options(
                verb,
                {
                    "caller_id": "caller_id",
                    "timeout": "timeout",
                    "time_limit": "time_limit",
                    "record": "record",
                },
            ),
        )
        dial.number(verb.get("number", ""))
        response.append(dial)


def build(verbs: list[dict[str, Any]], *, action_url: str, tail: str) -> str:
    """`verbs` in order; then `tail`: "hangup" (the run is over), "hold" (the run is busy
    elsewhere: pause and come back to `action_url`), "redirect" (go there now) or "" (the
    last verb waits itself)."""
    response = VoiceResponse()
    for verb in verbs:
        _append(response, verb, action_url)
    if tail == "hangup" and not any(v.get("verb") == "hangup" for v in verbs):
        response.hangup()
    elif tail == "hold":
        response.pause(length=1)
        response.redirect(action_url, method="POST")
    elif tail == "redirect":
        response.redirect(action_url, method="POST")
    return str(response)


def goodbye() -> str:
    """The polite answer for an unknown or finished call."""
    response = VoiceResponse()
    response.say(GOODBYE)
    response.hangup()
    return str(response)


def spoken(verbs: list[dict[str, Any]]) -> str:
    """What the caller hears, as text (for the transcript)."""
    parts = []
    for verb in verbs:
        if verb.get("verb") == "say":
            parts.append(str(verb.get("text", "")))
        for prompt in verb.get("prompt") or []:
            if prompt.get("verb") == "say":
                parts.append(str(prompt.get("text", "")))
    return " ".join(p for p in parts if p)
