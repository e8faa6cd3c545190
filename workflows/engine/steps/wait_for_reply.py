"""`wait_for_reply`: park until the contact writes to our number, or time runs out.

Inputs: channel (sms | whatsapp), contact (default {{ trigger.From }}), number (default
{{ trigger.To }}), timeout_seconds (default one day), on_reply and no_reply (step names,
"next" or "end"; both default to "next"). An inbound message resumes the run through
`workflows.inbound.run_resume_with_reply`, called by the message trigger kinds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from actions.validation import WHATSAPP_PREFIX, Invalid, e164
from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_data
from workflows.engine.attempts import attempts, close, control
from workflows.engine.context import record_output, render
from workflows.engine.outcomes import Advance, Outcome, Park
from workflows.engine.steps.base import StepKindSpec
from workflows.engine.steps.branch import number
from workflows.models import ReplyWait, ReplyWaitStatus, Run, Step, StepKind, StepStatus, WaitingFor
from workflows.selectors import reply_connection_for


class WaitForReply(StepKindSpec):
    kind = StepKind.WAIT_FOR_REPLY
    title = "Wait for reply"

    def goto_after(self, step: Step, output: Any) -> str | None:
        output = output if isinstance(output, dict) else {}
        key = "on_reply" if output.get("replied") else "no_reply"
        return step.inputs.get(key) or "next"

    def execute(self, run: Run, step: Step) -> Outcome:
        previous = attempts(run)
        waiting = previous[-1] if previous and previous[-1].status == StepStatus.PENDING else None
        if waiting is not None:
            return _resume(run, step, waiting)

        def body(step_run):
            channel = step.inputs.get("channel", "sms")
            contact = render(run, step, step.inputs.get("contact", "{{ trigger.From }}"), "contact")
            our_number = render(run, step, step.inputs.get("number", "{{ trigger.To }}"), "number")
            country = run.workspace.default_country
            try:
                contact, our_number = (
                    e164(str(value).removeprefix(WHATSAPP_PREFIX), country) for value in (contact, our_number)
                )
            except Invalid as exc:
                raise TwilioFlowError(
                    errors.VALIDATION_ERROR, f"contact/number: {exc}", fields={"contact": [str(exc)]}
                ) from None
            seconds = float(number(step.inputs.get("timeout_seconds", 86400)) or 86400)
            expires_at = clock.now() + timedelta(seconds=seconds)
            # Replies are only taken from the connection they will arrive on; when that cannot
            # be told, fail loudly rather than wait for a reply no connection may deliver.
            receiver = reply_connection_for(run, our_number)
            if receiver is None:
                raise TwilioFlowError(
                    errors.VALIDATION_ERROR,
                    f"number: cannot tell which connection receives messages to {our_number}: sync "
                    "the account's phone numbers (Phone numbers → Sync) or start the run from a trigger.",
                    fields={"number": ["No connection of this workspace is known to own this number."]},
                )
            ReplyWait.objects.create(
                run=run,
                sequence=run.sequence + 1,
                workspace=run.workspace,
                connection=receiver,
                channel=channel,
                contact=contact,
                number=our_number,
                expires_at=expires_at,
            )
            step_run.inputs = {
                "channel": channel,
                "contact": contact,
                "number": our_number,
                "timeout_seconds": seconds,
            }
            step_run.save(update_fields=["inputs"])
            return Park(WaitingFor.REPLY, expires_at), None

        return control(run, step, body)


def _resume(run: Run, step: Step, waiting) -> Outcome:
    wait = ReplyWait.objects.filter(run=run, sequence=run.sequence + 1).first()
    if wait is not None and wait.status == ReplyWaitStatus.REPLIED:
        output = record_output(run, step, {"replied": True, **(wait.reply or {})})
        close(waiting, StepStatus.SUCCEEDED, output=output)
        run.context["reply"] = redact_data(wait.reply)
        return Advance(step.inputs.get("on_reply") or "next")
    if wait is not None and wait.status == ReplyWaitStatus.OPEN and wait.expires_at > clock.now():
        return Park(WaitingFor.REPLY, wait.expires_at)
    if wait is not None:
        ReplyWait.objects.filter(pk=wait.pk, status=ReplyWaitStatus.OPEN).update(
            status=ReplyWaitStatus.TIMED_OUT
        )
    output = {"replied": False}
    close(waiting, StepStatus.SUCCEEDED, output=output)
    record_output(run, step, output)
    return Advance(step.inputs.get("no_reply") or "next")
