"""The workflow page's forms for the voice step kinds, added to `workflows.step_editors`'
registry (one generic form: a text field per input, numbers as numbers; anything else stays
in the editor's JSON `extra`)."""

from __future__ import annotations

from typing import Any

from django import forms

from workflows import step_editors, variables
from workflows.step_editors import NotExpressible, StepEditor

TEXT = {"class": "vLargeTextField"}
NUMBERS = {"num_digits", "timeout", "seconds", "loop", "max_length", "time_limit"}

VOICE_EDITORS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "say": ("Say", "Speaks `message` on the live call.", ("message", "voice", "language")),
    "play": ("Play", "Plays the audio at `url` on the live call.", ("url", "loop")),
    "pause": ("Pause", "Silence for `seconds`.", ("seconds",)),
    "hangup": ("Hang up", "Ends the call; the run goes on with its non-voice steps.", ()),
    "gather": (
        "Gather",
        "Asks the caller (message) and waits for keys or speech: "
        "steps.<name>.Digits, SpeechResult, Confidence.",
        ("message", "input", "hints", "num_digits", "timeout", "speech_timeout", "language", "voice"),
    ),
    "dial": (
        "Dial",
        "Connects the caller to `number`; steps.<name>.DialCallStatus when it ends.",
        ("number", "caller_id", "timeout", "time_limit"),
    ),
    "record": (
        "Record",
        "Records a message: steps.<name>.RecordingUrl, RecordingSid, RecordingDuration.",
        ("max_length", "timeout", "transcribe"),
    ),
    "voice_agent": (
        "Voice agent",
        "A voice agent of this workspace talks with the caller: steps.<name>.answers by question id.",
        ("agent",),
    ),
}


class VoiceStepEditor(StepEditor):
    def add_fields(self) -> None:
        for key in self.keys:
            self.fields[key] = forms.CharField(required=False, widget=forms.TextInput(attrs=TEXT))

    def show(self, key: str, value: Any) -> Any:
        if isinstance(value, dict | list):
            raise NotExpressible
        return "" if value is None else str(value)

    def read(self, key: str, raw: Any) -> tuple[bool, Any]:
        if raw in (None, ""):
            return False, None
        if key in NUMBERS and str(raw).strip().isdigit():
            return True, int(raw)
        return True, raw


# What each voice step puts in `steps.<name>` (the editor's variable check reads these).
VOICE_OUTPUTS = {
    "say": ("verbs", "skipped"),
    "play": ("verbs", "skipped"),
    "pause": ("verbs", "skipped"),
    "hangup": ("verbs", "skipped"),
    "gather": ("Digits", "SpeechResult", "Confidence", "timed_out", "call_ended", "skipped"),
    "record": ("RecordingUrl", "RecordingSid", "RecordingDuration", "Digits", "timed_out", "call_ended"),
    "dial": ("DialCallStatus", "DialCallSid", "DialCallDuration", "timed_out", "call_ended"),
    "voice_agent": ("answers", "heard", "completed", "end_reason", "last_question", "skipped"),
}


def voice_editors_register() -> None:
    variables.CONTROL_OUTPUTS.update(VOICE_OUTPUTS)
    for kind, (title, description, keys) in VOICE_EDITORS.items():
        step_editors.EDITORS[kind] = type(
            f"{kind.title().replace('_', '')}Editor",
            (VoiceStepEditor,),
            {"kind": kind, "title": title, "description": description, "keys": keys},
        )
