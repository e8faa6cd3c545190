from typing import Any

from twilio.twiml.voice_response import VoiceResponse

from actions.base import FieldErrors
from actions.fields import Field
from actions.support.calls import (
    CALL_FROM,
    CALL_OUTPUT,
    CALL_STATUS_CALLBACK,
    CALL_TIMEOUT,
    CALL_TO,
    TWIML_MAX_LENGTH,
    CreatesCall,
)
from actions.support.gate_fields import GATE_FIELDS
from actions.validation import Invalid, clean_twiml

# Amazon Polly voices speak one language each; Twilio's classic voices take `language`.
POLLY_VOICES = {
    "Polly.Joanna": "en-US",
    "Polly.Matthew": "en-US",
    "Polly.Amy": "en-GB",
    "Polly.Brian": "en-GB",
    "Polly.Lupe": "es-US",
    "Polly.Conchita": "es-ES",
    "Polly.Mia": "es-MX",
    "Polly.Celine": "fr-FR",
    "Polly.Hans": "de-DE",
    "Polly.Carla": "it-IT",
    "Polly.Camila": "pt-BR",
    "Polly.Mizuki": "ja-JP",
}
VOICES = ("alice", "man", "woman", *POLLY_VOICES)
LANGUAGES = (
    "en-US",
    "en-GB",
    "en-AU",
    "es-ES",
    "es-MX",
    "es-US",
    "fr-FR",
    "fr-CA",
    "de-DE",
    "it-IT",
    "pt-BR",
    "ja-JP",
)
_TWIML = Field("Twiml", "twiml", max_length=TWIML_MAX_LENGTH)


def say_twiml(message: str, voice: str | None = None, language: str | None = None) -> str:
    """`<Response><Say …>message</Say></Response>`, built (and escaped) by Twilio's library."""
    response = VoiceResponse()
    response.say(message, voice=voice, language=language)
    xml: str = response.to_xml(xml_declaration=False)
    return xml


class SayCall(CreatesCall):
    slug = "twilio/say-call"
    title = "Call and say a message"
    description = "Call a number and read a message aloud with text-to-speech, optionally recording the call."
    group = "Voice"
    fields = (
        CALL_FROM,
        CALL_TO,
        Field(
            "message",
            "text",
            label="Message",
            required=True,
            max_length=TWIML_MAX_LENGTH,
            help="What the call says. Sent as TwiML, which may be at most 4,000 characters "
            "after XML escaping.",
            example="Hello, this is a reminder about your appointment tomorrow at 10am.",
        ),
        Field(
            "voice",
            "choice",
            label="Voice",
            choices=VOICES,
            help="alice, man, woman, or an Amazon Polly voice (Polly.Joanna…). Twilio's "
            "default voice when empty.",
        ),
        Field(
            "language",
            "choice",
            label="Language",
            choices=LANGUAGES,
            help="Speech language. A Polly voice speaks only its own language.",
        ),
        Field(
            "Record",
            "boolean",
            label="Record the call",
            default=False,
            help="Record the whole call; the recording shows up in List recordings.",
        ),
        CALL_TIMEOUT,
        CALL_STATUS_CALLBACK,
        *GATE_FIELDS,
    )
    output = CALL_OUTPUT

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        voice, language = data["voice"], data["language"]
        if voice in POLLY_VOICES and language and language != POLLY_VOICES[voice]:
            raise FieldErrors(
                {
                    "language": f"{voice} speaks {POLLY_VOICES[voice]} only; leave the language "
                    "empty or pick a voice for " + language + ".",
                }
            )
        try:
            clean_twiml(say_twiml(data["message"], voice, language), _TWIML)
        except Invalid as exc:
            raise FieldErrors({"message": str(exc)}) from None
        return data

    def call_params(self, inputs: dict[str, Any]) -> dict[str, Any]:
        twiml = say_twiml(inputs["message"], inputs["voice"], inputs["language"])
        return {
            **inputs,
            "Twiml": twiml,
            "Record": True if inputs["Record"] else None,  # Twilio's default is not to record
        }
