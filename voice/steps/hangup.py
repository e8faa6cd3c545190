"""`hangup`: end the call (the run goes on with its non-voice steps; later voice steps are
skipped)."""

from __future__ import annotations

from voice.live import session_end
from voice.stepping import VerbStep
from workflows.models import StepKind


class Hangup(VerbStep):
    kind = StepKind.HANGUP
    title = "Hang up"

    def verbs(self, run, step):
        return [{"verb": "hangup"}]

    def after(self, session):
        session_end(session, "hangup step")
