"""A follow-up request for a run a trigger started (a call's <Gather> input, posted to
`/voice/gather/<run id>`): not an event (nothing is stored, no run starts); the run's own
trigger kind continues it (`TriggerKind.continue_run`) and answers."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from triggers.kinds.base import Answer
from triggers.kinds.registry import answering_kind
from workflows.selectors import gather_run_for


def run_continue(*, connection, run_id, params: dict[str, list[str]]) -> Answer:
    """Continue run `run_id` with `params`, if a trigger of this very connection (the one
    whose Auth Token signed the request) started it. Any other run id, or a run another
    connection started, gets an empty <Response/> and nothing changes."""
    run = gather_run_for(connection=connection, run_id=run_id)
    if run is None or run.trigger is None:
        return Answer(str(VoiceResponse()))
    return answering_kind(run.trigger.kind).continue_run(run=run, params=params)
