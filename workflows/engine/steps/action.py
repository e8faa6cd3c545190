"""`action`: one Twilio action, sent at most once.

A create is committed `dispatching` before its request and its result after; a pass that
finds a `dispatching` attempt (the worker died mid-request) or gets an unknown outcome
(5xx, timeout) reconciles with Twilio (`ActionCall.reconcile`) instead of sending again."""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import transaction

from actions.services import ActionCall, action_call
from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_data, redact_text
from workflows.engine.action_extensions import action_extension_of
from workflows.engine.attempts import attempts, close, error_fields, new_step_run, on_failure
from workflows.engine.context import record_output, render
from workflows.engine.gate import gate_send_failed, gate_step
from workflows.engine.outcomes import Advance, Finish, Outcome, Park
from workflows.engine.steps.base import StepKindSpec
from workflows.models import Run, RunStatus, Step, StepKind, StepRun, StepStatus, WaitingFor
from workflows.privileges import step_authorize
from workflows.runs import run_index_for_search
from workflows.step_hooks import step_hook_of

OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
SID_RE = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


class ActionStep(StepKindSpec):
    kind = StepKind.ACTION
    title = "Twilio action"

    def execute(self, run: Run, step: Step) -> Outcome:
        return execute_action(run, step)


def _call(run: Run, step: Step) -> ActionCall:
    if step.connection is None:  # the model requires one; an ad-hoc snapshot may name a deleted one
        raise TwilioFlowError(errors.NOT_FOUND, f"Step {step.name!r} has no connection.")
    return action_call(
        slug=step.action, connection=step.connection, default_country=run.workspace.default_country
    )


def _authorize(run: Run, step: Step, call: ActionCall, cleaned: dict) -> None:
    """On the rendered inputs, at run time: a template or a step saved around the admin's
    forms cannot reach a credential endpoint its author may not use. An ad-hoc run from
    `run_action` is the machine's operator at a shell, who is trusted (SECURITY.md)."""
    if run.workflow_id is None and run.source == "command":
        return
    step_authorize(step=step, action=call.action, inputs=cleaned)


def execute_action(run: Run, step: Step) -> Outcome:
    previous = attempts(run)
    last = previous[-1] if previous else None
    extension = action_extension_of(step.action)
    if last is not None and last.status == StepStatus.WAITING and extension and extension.resume:
        # Sent, and waiting for what followed (a call's end): the extension decides.
        return extension.resume(run=run, step=step, step_run=last)
    if last is not None and last.status == StepStatus.DISPATCHING:
        # A previous pass died between "about to send" and "recorded the result".
        return reconcile(run, step, last)
    if last is not None and last.status == StepStatus.PENDING:
        # It died before sending anything (rendering, validating): simply start again.
        close(
            last,
            StepStatus.FAILED,
            error_code=errors.CONNECTION_FAILED,
            error_message="Interrupted before the request was sent.",
        )

    attempt = (last.attempt + 1) if last else 1
    call = _call(run, step)
    # The connection is recorded so that status callbacks are matched on it (see
    # workflows.selectors.step_run_for_delivery), not on the SID alone.
    recorded_inputs: dict = {}  # what the attempt records: the inputs once they validated
    try:
        rendered = render(run, step, step.inputs)
        cleaned = call.validate(rendered)
        recorded_inputs = redact_data(rendered, call.action.secret_fields())
        _authorize(run, step, call, cleaned)
    except TwilioFlowError as error:
        step_run = new_step_run(
            run,
            step,
            attempt,
            status=StepStatus.PENDING,
            connection_id=step.connection_id,
            inputs=recorded_inputs,
            redacted=("inputs",),
        )
        return on_failure(run, step, step_run, error, render_problem=True)
    rows: list[StepRun] = []

    def attempt_row(status: str = StepStatus.PENDING) -> StepRun:
        """This attempt's StepRun, created once: by the gate when it refuses or waits (never
        sent), else just below, in one INSERT."""
        if not rows:
            rows.append(
                new_step_run(
                    run,
                    step,
                    attempt,
                    status=status,
                    connection_id=step.connection_id,
                    inputs=recorded_inputs,
                    redacted=("inputs",),
                )
            )
        return rows[0]

    # The send gate (compliance; its ledger row) and this attempt's one INSERT commit together,
    # before the request: a create is recorded `dispatching`, so if we die during the
    # request, the next pass reconciles. (The gate sleeps for nothing: no lock is held long.)
    with transaction.atomic():
        gated = gate_step(run, step, attempt_row, call, cleaned)
        if gated is None:
            attempt_row(StepStatus.PENDING if call.action.idempotent else StepStatus.DISPATCHING)
    if gated is not None:
        return gated
    step_run = rows[0]
    try:
        hook = step_hook_of(step)
        if hook is not None and hook[0].before is not None:
            # E.g. record a number's current webhooks before changing them; with this
            # client, so what it read is on the step run. Raising fails the step unsent.
            hook[0].before(args=hook[1], client=call.client, inputs=cleaned)
        if extension is not None and extension.before is not None:
            cleaned = extension.before(run=run, step=step, step_run=step_run, inputs=cleaned)
        output = call.run(cleaned)
    except TwilioFlowError as error:
        step_run.exchanges = [e.as_dict() for e in call.exchanges]
        if error.outcome_unknown:
            return reconcile(run, step, step_run, first_error=error, call=call)
        gate_send_failed(run, call, cleaned, error)  # 21610 → opt-out
        return on_failure(run, step, step_run, error)
    return _succeed(run, step, step_run, output, call.exchanges)


def _succeed(run, step, step_run, output, exchanges, *, reconciled=False) -> Advance | Park:
    sid = output.get("sid") if isinstance(output, dict) else None
    raw = output  # as Twilio sent it, for the hook (what is stored is redacted)
    output = record_output(run, step, output)
    # Only what changed, and nothing redacted twice: the output comes from record_output and
    # an Exchange's `as_dict` is redacted (url, headers, bodies, error).
    close(
        step_run,
        StepStatus.SUCCEEDED,
        defer=True,
        only_given=True,
        redacted=("output", "exchanges", "error_message"),
        output=output,
        twilio_sid=sid if isinstance(sid, str) and SID_RE.match(sid) else "",
        exchanges=step_run.exchanges + [e.as_dict() for e in exchanges],
        reconciled=reconciled,
        error_code="",
        error_message="",
        twilio_error_code=None,
    )
    if sid:
        run_index_for_search(run, sid, step_run.inputs.get("To"), save=False)  # with the cursor
    hook = step_hook_of(step)
    if hook is not None and hook[0].after is not None:
        hook[0].after(args=hook[1], output=raw)
    extension = action_extension_of(step.action)
    if extension is not None and extension.after is not None:
        park = extension.after(run=run, step=step, step_run=step_run, output=raw)
        if park is not None:
            step_run.status = StepStatus.WAITING  # written by the deferred close, with the cursor
            return park
    return Advance()


def reconcile(
    run: Run,
    step: Step,
    step_run: StepRun,
    first_error: TwilioFlowError | None = None,
    call: ActionCall | None = None,
) -> Outcome:
    """Did the interrupted attempt happen? Adopt it if Twilio has it; never guess."""
    call = call or _call(run, step)
    if call.action.idempotent:
        # Repeating a read or a fixed update is harmless: just do it again.
        close(
            step_run,
            StepStatus.FAILED,
            error_code=(first_error or _interrupted()).code,
            error_message="Interrupted; repeating (the request is idempotent).",
        )
        return execute_action(run, step)
    seen = len(call.exchanges)  # the failed request's exchange is already on the step run
    try:
        cleaned = call.validate(render(run, step, step.inputs))
        found = call.reconcile(cleaned, since=step_run.started_at)
    except TwilioFlowError as error:
        # Twilio cannot be asked right now: keep the attempt open and look again later.
        step_run.exchanges = step_run.exchanges + [e.as_dict() for e in call.exchanges[seen:]]
        step_run.error_message = redact_text(f"Reconciling: {error.code}: {error.message}")
        step_run.save(update_fields=["exchanges", "error_message"])
        wait = error.retry_after or 30.0
        return Park(WaitingFor.RETRY, clock.now() + timedelta(seconds=wait))
    if found is not None:
        return _succeed(run, step, step_run, found, call.exchanges[seen:], reconciled=True)
    unknown = TwilioFlowError(
        OUTCOME_UNKNOWN,
        f"Step {step.name!r}: the request may or may not have reached Twilio "
        f"({(first_error or _interrupted()).message}) and reconciling found no trace of it. "
        "Not resent; check the recipient and the Twilio console, then replay if needed.",
        details={"first_error": (first_error or _interrupted()).as_dict()},
    )
    close(
        step_run,
        StepStatus.UNKNOWN,
        reconciled=True,
        exchanges=step_run.exchanges + [e.as_dict() for e in call.exchanges[seen:]],
        **error_fields(unknown),
    )
    return Finish(RunStatus.FAILED, unknown)


def _interrupted() -> TwilioFlowError:
    return TwilioFlowError(
        errors.TIMEOUT, "The worker stopped while the request was in flight.", outcome_unknown=True
    )
