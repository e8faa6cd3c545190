"""`twilio/make-call`, extended (`workflows.engine.action_extensions`):

- `workflow`: before the request, a child run of that workflow and its `CallSession` are
  created, and the call's Url is the session's live URL: when the callee answers, Twilio
  asks it for turn 0 and the child run's voice steps drive the call (`voice.live`).
- `wait_until_ended`: after the call is created the attempt stays `waiting` and the run
  parks (no worker held) until the final status callback wakes it
  (`workflows.inbound.step_run_track_delivery`); then `steps.<name>` is the final status,
  duration, answered_by, price, recording and the workflow's outputs. No final status by
  Timeout + TimeLimit + a margin: the call is fetched from Twilio and decided from its record.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from actions.services import action_call
from connections.webhook_urls import public_base_url
from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError
from voice.live import live_url
from voice.models import CallSession
from workflows.engine.action_extensions import ActionExtension, action_extension_register
from workflows.engine.attempts import close, on_failure
from workflows.engine.context import record_output
from workflows.engine.outcomes import Advance, Outcome, Park
from workflows.inbound import FINAL_CALL_STATUSES
from workflows.models import Run, RunStatus, StepRun, StepStatus, WaitingFor, Workflow
from workflows.runs import run_create

# Beyond ring time + max duration, how long to wait for the final callback before asking.
END_MARGIN_SECONDS = 120
DEFAULT_TIME_LIMIT = 4 * 3600
CALL_NOT_ENDED = "CALL_NOT_ENDED"


def _deadline(inputs: dict[str, Any]) -> Any:
    seconds = int(inputs.get("Timeout") or 60) + int(inputs.get("TimeLimit") or DEFAULT_TIME_LIMIT)
    return clock.now() + timedelta(seconds=seconds + END_MARGIN_SECONDS)


def make_call_before(*, run: Run, step, step_run: StepRun, inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs.get("wait_until_ended"):
        # From now: ring time + TimeLimit + a margin; saved before the request, so a pass
        # that reconciles after a crash still waits.
        step_run.retry_at = _deadline(inputs)
        step_run.save(update_fields=["retry_at"])
    name = inputs.get("workflow")
    if not name:
        return inputs
    workflow = Workflow.objects.filter(workspace_id=run.workspace_id, name=name).first()
    if workflow is None:
        raise TwilioFlowError(
            errors.VALIDATION_ERROR,
            f"workflow: no workflow {name!r} in this workspace; nothing was sent.",
            fields={"workflow": ["Name a workflow of this workspace."]},
        )
    base = public_base_url()  # Twilio must reach the live URL: refuse before sending
    payload = {**(inputs.get("workflow_inputs") or {}), "To": inputs["To"], "From": inputs["From"]}
    child = run_create(
        workflow=workflow,
        payload=payload,
        source="run_workflow",
        parent=run,
        parent_sequence=run.sequence + 1,
        # Until the callee answers (turn 0 wakes it); a call never answered ends it.
        waiting_for=WaitingFor.CALL,
        wake_at=_deadline(inputs),
    )
    session = CallSession.objects.create(
        workspace_id=run.workspace_id,
        connection=step.connection,
        run=child,
        direction="outbound-api",
        caller=inputs["From"],
        called=inputs["To"],
        base_url=base,
    )
    step_run.inputs = {**step_run.inputs, "workflow_run": child.pk}
    step_run.save(update_fields=["inputs"])
    return {**inputs, "Url": live_url(session, 0)}


def make_call_after(*, run: Run, step, step_run: StepRun, output: dict[str, Any]) -> Park | None:
    child_id = step_run.inputs.get("workflow_run")
    if child_id and output.get("sid"):
        CallSession.objects.filter(run_id=child_id, call_sid="").update(call_sid=output["sid"])
    if step_run.retry_at is None:  # no wait_until_ended (make_call_before sets the deadline)
        return None
    return Park(WaitingFor.CALL, step_run.retry_at)


def make_call_resume(*, run: Run, step, step_run: StepRun) -> Outcome:
    final = _final_callback(step_run)
    if final is None:
        if step_run.retry_at and step_run.retry_at > clock.now():
            return Park(WaitingFor.CALL, step_run.retry_at)
        try:
            final = _fetch_final(run, step, step_run)
        except TwilioFlowError as error:
            return on_failure(run, step, step_run, error, render_problem=True)
        if final is None:
            return Park(WaitingFor.CALL, clock.now() + timedelta(seconds=END_MARGIN_SECONDS))
    output = {**(step_run.output or {}), **final, **_workflow_outputs(step_run)}
    output = record_output(run, step, output)
    close(step_run, StepStatus.SUCCEEDED, output=output)
    return Advance()


def _final_callback(step_run: StepRun) -> dict[str, Any] | None:
    fresh = StepRun.objects.only("delivery_history").get(pk=step_run.pk)
    step_run.delivery_history = fresh.delivery_history
    finals = [e for e in step_run.delivery_history if e.get("status") in FINAL_CALL_STATUSES]
    if not finals:
        return None
    last = finals[-1]
    return {
        "status": last["status"],
        "duration": _int(last.get("CallDuration")),
        "answered_by": last.get("AnsweredBy"),
        "price": None,
        "recording_sid": last.get("RecordingSid"),
        "recording_url": last.get("RecordingUrl"),
        "ended_by": "status_callback",
    }


def _fetch_final(run: Run, step, step_run: StepRun) -> dict[str, Any] | None:
    """No final callback in time: ask Twilio. Still live past the margin: fail the step."""
    sid = step_run.twilio_sid or (step_run.output or {}).get("sid")
    call = action_call(slug="twilio/get-call", connection=step.connection)
    try:
        record = call.run(call.validate({"callSid": sid}))
    except TwilioFlowError as error:
        if error.retryable:
            return None  # Twilio cannot be asked right now: look again a little later
        raise
    finally:
        StepRun.objects.filter(pk=step_run.pk).update(
            exchanges=step_run.exchanges + [e.as_dict() for e in call.exchanges]
        )
    if record.get("status") not in FINAL_CALL_STATUSES:
        raise TwilioFlowError(
            CALL_NOT_ENDED,
            f"The call {sid} is still {record.get('status')!r} past its maximum duration.",
        )
    return {
        "status": record["status"],
        "duration": _int(record.get("duration")),
        "answered_by": None,
        "price": record.get("price"),
        "recording_sid": None,
        "recording_url": None,
        "ended_by": "fetched",
    }


def _workflow_outputs(step_run: StepRun) -> dict[str, Any]:
    child_id = step_run.inputs.get("workflow_run")
    if not child_id:
        return {}
    child = Run.objects.filter(pk=child_id).only("status", "context", "result").first()
    if child is None:
        return {}
    return {
        "workflow_run": child_id,
        "workflow_status": child.status,
        "workflow_steps": (child.context or {}).get("steps", {}),
        "workflow_result": child.result if child.status == RunStatus.SUCCEEDED else None,
    }


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def make_call_extend() -> None:
    action_extension_register(
        "twilio/make-call",
        ActionExtension(before=make_call_before, after=make_call_after, resume=make_call_resume),
    )
