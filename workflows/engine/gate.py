"""The send gate (compliance/gate.py) seen from the engine: what a decision does to a step.

`steps/action.py::execute_action` calls `gate_step` once, after validating and authorising
the inputs and before committing `dispatching`, and `gate_send_failed` when Twilio refused
a send. Nothing sends around it: ad-hoc runs (`run_action`) take the same path.

- refused (OPTED_OUT, QUIET_HOURS with `quiet_hours: fail`, WHATSAPP_WINDOW_CLOSED,
  SENDER_INVALID, SEND_CAP_REACHED): the attempt is closed failed with that code, never
  retried, and the step's `on_error` decides (fail the run, or continue);
- wait (quiet hours): the attempt is closed `skipped` with `retry_at`, and the run parks
  like a `delay` until the window opens; the next pass asks the gate again;
- send: the request goes out with the gate's inputs (a default StatusCallback,
  ShortenUrls), or, in sandbox mode, to `SandboxClient`, which records it and answers with
  an `SB…` SID; the status callbacks (queued → sent → delivered) are simulated on the step.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import Any

from actions.services import ActionCall
from compliance.gate import REFUSE, WAIT, send_channel, send_gate
from compliance.policy_cache import GateVersions
from compliance.sandbox import SandboxClient, simulated_history
from compliance.services import consent_from_send_error
from twilioflow.core import clock
from twilioflow.core.errors import TwilioFlowError
from workflows.engine.attempts import close, error_fields, on_failure
from workflows.engine.outcomes import Outcome, Park
from workflows.models import Run, Step, StepRun, StepStatus, WaitingFor


def gate_step(
    run: Run, step: Step, attempt_row: Callable[[], StepRun], call: ActionCall, cleaned: dict[str, Any]
) -> Outcome | None:
    """None: go on and send `cleaned` (updated in place with the gate's inputs) through
    `call` (its client swapped for the sandbox when sandboxed). Else the step's outcome.
    `attempt_row()` gives this attempt's StepRun (created on first call), so a refusal is
    recorded without ever having been `dispatching`."""
    decision = send_gate(
        workspace=run.workspace,
        connection=step.connection,
        action=call.action,
        inputs=cleaned,
        run=run,
        # A campaign's ad-hoc step names its own key ("campaign:<id>:<recipient>").
        ledger_key=getattr(step, "ledger_key", "") or f"run:{run.pk}:{run.sequence + 1}",
        versions=_fresh_versions(run),
    )
    if decision.channel is None:
        return None
    if decision.verdict == REFUSE and decision.error is not None:
        return on_failure(run, step, attempt_row(), decision.error, render_problem=True)
    if decision.verdict == WAIT and decision.wait_until is not None and decision.error is not None:
        close(attempt_row(), StepStatus.SKIPPED, retry_at=decision.wait_until, **error_fields(decision.error))
        return Park(WaitingFor.DELAY, decision.wait_until)
    cleaned.clear()
    cleaned.update(decision.inputs)
    if decision.sandbox:

        def simulate(sid: str, kind: str) -> None:
            # What the status callbacks would write, on the attempt's row (created, as
            # `dispatching`, before the request); closing the step does not touch these.
            step_run = attempt_row()
            step_run.delivery_history = simulated_history(kind)
            step_run.delivery_status = step_run.delivery_history[-1]["status"]
            step_run.delivery_updated_at = clock.now()
            step_run.save(update_fields=["delivery_history", "delivery_status", "delivery_updated_at"])

        call.ctx.client = SandboxClient.wrapping(
            call.client, workspace=run.workspace, connection=step.connection, on_create=simulate
        )
    return None


def _fresh_versions(run: Run) -> GateVersions | None:
    """The versions the pass's claim read, while they are fresh (`loop.GATE_VERSIONS_FRESH`):
    a send late in a long pass reads them again, so it sees an opt-out that came meanwhile."""
    known = getattr(run, "gate_versions", None)
    if known is not None and monotonic() < known[1]:
        versions: GateVersions = known[0]
        return versions
    return None


def gate_send_failed(run: Run, call: ActionCall, cleaned: dict[str, Any], error: TwilioFlowError) -> None:
    """Twilio's 21610 (the recipient replied STOP to this sender): record the opt-out."""
    channel = send_channel(call.action, cleaned)
    if channel is not None:
        consent_from_send_error(
            workspace=run.workspace,
            channel=channel,
            to=str(cleaned.get("To") or ""),
            sender=str(cleaned.get("From") or ""),
            error=error,
        )
