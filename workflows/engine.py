"""Executing a run, step by step, so that no crash, retry or redelivery sends twice.

The shape of one pass (`run_execute`):
1. Claim the run with a lease (one UPDATE; a second worker holding the same task id finds
   nothing to claim and leaves).
2. Execute steps from the cursor. An action step that creates something (an SMS, a call)
   commits a `dispatching` StepRun *before* the request and its result *after*; a pass that
   finds a `dispatching` StepRun left by a dead worker reconciles with Twilio before
   anything is sent again.
3. Anything that waits (a delay, a retry backoff, child runs, a reply) parks the run in the
   database with `wake_at` and releases the worker; the sweeper or an event wakes it.
4. A pass yields after `SLICE_SECONDS` and re-enqueues itself, so a long workflow never
   reaches django-q2's task timeout.
"""

from __future__ import annotations

import contextvars
import logging
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from time import monotonic
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from actions.base import ActionContext
from actions.registry import action_get
from connections.services import client_for_connection
from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_data, redact_error, redact_text
from workflows.models import (
    LIVE_RUN_STATUSES,
    OnError,
    Run,
    RunStatus,
    Step,
    StepKind,
    StepRun,
    StepStatus,
    WaitingFor,
)
from workflows.privileges import step_authorize
from workflows.templating import build_context, render_value

logger = logging.getLogger(__name__)

OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
INTERNAL_ERROR = "INTERNAL_ERROR"
STEP_NOT_FOUND = "STEP_NOT_FOUND"
CHILD_FAILED = "CHILD_FAILED"

# A pass yields after this; with one more request (5 s connect + 30 s read) in flight and
# an inline wait, it still ends well inside Q_CLUSTER["timeout"] (90 s), so django-q2 never
# kills a worker mid-request because a workflow was long.
SLICE_SECONDS = 30.0
INLINE_WAIT_MAX = 5.0  # shorter waits are slept in the worker; longer ones park the run
BACKOFF_BASE = 2.0
BACKOFF_MAX = 15 * 60.0
# Errors a RETRY policy may repeat even though they are not transient.
RETRY_POLICY_EXTRA = frozenset({errors.UPSTREAM_REQUEST_FAILED, errors.PROVIDER_ERROR, errors.TIMEOUT})
SID_RE = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def lease_seconds() -> float:
    return float(getattr(settings, "TWILIOFLOW_RUN_LEASE_SECONDS", 120))


# --- outcomes of one step ----------------------------------------------------------------
@dataclass
class Advance:
    """Go on: to `goto` (a step name), to the next step (None), or to the end ("end")."""

    goto: str | None = None


@dataclass
class Park:
    waiting_for: str
    wake_at: datetime | None


@dataclass
class Finish:
    status: str
    error: TwilioFlowError | None = None
    result: Any = None


@dataclass
class Slice:
    owner: str
    deadline: float
    steps: list[Step] = field(default_factory=list)


# --- entry point -------------------------------------------------------------------------
_pass_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("pass_deadline", default=0.0)


def run_execute(run_id: int) -> str:
    """One pass over a run. Safe to call any number of times, concurrently or not."""
    owner = uuid.uuid4().hex[:12]
    if not _claim(run_id, owner):
        return "not claimed"
    run = Run.objects.select_related("workflow", "workspace").get(pk=run_id)
    _pass_deadline.set(monotonic() + SLICE_SECONDS)
    work = Slice(
        owner=owner,
        deadline=_pass_deadline.get(),
        steps=list(
            run.workflow.steps.select_related("connection", "connection__workspace", "updated_by", "workflow")
        ),
    )
    try:
        return _execute(run, work)
    except Exception as exc:  # a bug of ours: fail visibly, never leave the run hanging
        logger.exception("Run %s crashed in the engine", run_id)
        _finish(
            run,
            Finish(
                RunStatus.FAILED, TwilioFlowError(INTERNAL_ERROR, redact_text(f"{type(exc).__name__}: {exc}"))
            ),
        )
        return "crashed"


def _claim(run_id: int, owner: str) -> bool:
    now = clock.now()
    claimable = Q(status__in=[RunStatus.PENDING, RunStatus.RUNNING]) & (
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    )
    # A run due within the inline window may be claimed and slept for (smooth rate limits).
    due = Q(wake_at__isnull=True) | Q(wake_at__lte=now + timedelta(seconds=INLINE_WAIT_MAX))
    claimed = Run.objects.filter(claimable & due, pk=run_id).update(
        status=RunStatus.RUNNING,
        lease_owner=owner,
        lease_expires_at=now + timedelta(seconds=lease_seconds()),
        enqueued_at=None,
    )
    if claimed:
        wake_at = Run.objects.filter(pk=run_id).values_list("wake_at", flat=True).first()
        if wake_at is not None:  # due within the inline window: keep the pace exactly
            clock.sleep((wake_at - clock.now()).total_seconds())
        Run.objects.filter(pk=run_id).update(
            started_at=Coalesce(F("started_at"), clock.now()),
            wake_at=None,
            waiting_for=WaitingFor.NOTHING,
        )
    return bool(claimed)


def _still_ours(run: Run, owner: str) -> bool:
    status, lease_owner = Run.objects.filter(pk=run.pk).values_list("status", "lease_owner").get()
    run.status = status
    return status == RunStatus.RUNNING and lease_owner == owner


def _execute(run: Run, work: Slice) -> str:
    by_name = {step.name: step for step in work.steps}
    order = [step.name for step in work.steps]
    while True:
        if not _still_ours(run, work.owner):
            return f"stopped ({run.status})"
        if not run.current_step:
            _finish(run, Finish(RunStatus.SUCCEEDED, result=_default_result(run)))
            return "succeeded"
        step = by_name.get(run.current_step)
        if step is None:
            _finish(
                run,
                Finish(
                    RunStatus.FAILED,
                    TwilioFlowError(
                        STEP_NOT_FOUND, f"The workflow has no step {run.current_step!r} any more."
                    ),
                ),
            )
            return "failed"
        outcome = execute_step(run, step)
        if isinstance(outcome, Finish):
            _finish(run, outcome)
            return outcome.status
        if isinstance(outcome, Park):
            _park(run, outcome)
            return f"waiting ({outcome.waiting_for})"
        _advance(run, step, outcome, order)
        if monotonic() > work.deadline:
            _release_and_requeue(run)
            return "yielded"


# --- cursor and lifecycle writes -----------------------------------------------------------
def _next_name(step_name: str, goto: str | None, order: list[str]) -> str:
    if goto == "end":
        return ""
    if goto and goto != "next":
        return goto
    index = order.index(step_name) + 1
    return order[index] if index < len(order) else ""


def _advance(run: Run, step: Step, outcome: Advance, order: list[str]) -> None:
    run.current_step = _next_name(step.name, outcome.goto, order)
    run.sequence += 1
    Run.objects.filter(pk=run.pk).update(
        current_step=run.current_step,
        sequence=run.sequence,
        context=run.context,
        lease_expires_at=clock.now() + timedelta(seconds=lease_seconds()),
    )


def _park(run: Run, park: Park) -> None:
    run.status, run.waiting_for, run.wake_at = RunStatus.WAITING, park.waiting_for, park.wake_at
    Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=RunStatus.WAITING,
        waiting_for=park.waiting_for,
        wake_at=park.wake_at,
        context=run.context,
        lease_expires_at=None,
        lease_owner="",
    )


def _release_and_requeue(run: Run) -> None:
    from workflows.services import run_enqueue

    Run.objects.filter(pk=run.pk).update(lease_expires_at=None, lease_owner="")
    run_enqueue(run.pk)


def _finish(run: Run, finish: Finish) -> None:
    from workflows.services import run_finished

    now = clock.now()
    error = redact_error(finish.error) if finish.error else None
    # Once per run, the whole context too: whatever a step put there, none of it stays secret.
    run.context = redact_data(run.context)
    updated = Run.objects.filter(pk=run.pk, status__in=LIVE_RUN_STATUSES).update(
        status=finish.status,
        finished_at=now,
        result=redact_data(finish.result),
        context=run.context,
        error_code=error.code if error else "",
        error_message=error.message if error else "",
        lease_expires_at=None,
        lease_owner="",
        wake_at=None,
        waiting_for=WaitingFor.NOTHING,
    )
    if updated:
        run.status = finish.status
        run_finished(run)


def _default_result(run: Run) -> dict[str, Any]:
    return {"vars": run.context.get("vars", {})}


# --- context -------------------------------------------------------------------------------
def template_context(run: Run) -> dict[str, Any]:
    workspace = run.workspace
    return build_context(
        trigger=run.trigger_payload,
        steps=run.context.get("steps", {}),
        vars=run.context.get("vars", {}),
        item=run.context.get("item"),
        run={
            "id": run.pk,
            "workflow": run.workflow.name,
            "source": run.source,
            "started_at": run.started_at,
            "parent_id": run.parent_id,
        },
        workspace={
            "name": workspace.name,
            "slug": workspace.slug,
            "time_zone": workspace.time_zone,
            "default_country": workspace.default_country,
        },
        reply=run.context.get("reply"),
    )


def _record_output(run: Run, step: Step, output: Any) -> Any:
    """Put a step's output into the context, redacted: later steps template from the
    context, so they never see a secret an earlier step was sent (an Account's Auth Token)."""
    output = redact_data(output)
    run.context.setdefault("steps", {})[step.name] = output
    return output


# --- steps ---------------------------------------------------------------------------------
def _attempts(run: Run) -> list[StepRun]:
    return list(StepRun.objects.filter(run=run, sequence=run.sequence + 1).order_by("attempt"))


def execute_step(run: Run, step: Step) -> Advance | Park | Finish:
    attempts = _attempts(run)
    last = attempts[-1] if attempts else None
    if last is not None and last.status == StepStatus.SUCCEEDED and step.kind != StepKind.END:
        # The step finished but the pass died before the cursor moved: never do it again
        # (a second for_each would start every child twice), just move on as it decided.
        _record_output(run, step, last.output)
        return Advance(_goto_after(step, last.output))
    return _HANDLERS[step.kind](run, step)


def _goto_after(step: Step, output: Any) -> str | None:
    output = output if isinstance(output, dict) else {}
    if step.kind == StepKind.BRANCH:
        return output.get("goto")
    if step.kind == StepKind.WAIT_FOR_REPLY:
        key = "on_reply" if output.get("replied") else "no_reply"
        return step.inputs.get(key) or "next"
    return None


def _new_step_run(run: Run, step: Step, attempt: int, **values) -> StepRun:
    return StepRun.objects.create(
        run=run,
        sequence=run.sequence + 1,
        attempt=attempt,
        step_name=step.name,
        kind=step.kind,
        action=step.action,
        **values,
    )


def _close(step_run: StepRun, status: str, **values) -> None:
    now = clock.now()
    step_run.status = status
    step_run.finished_at = now
    step_run.duration_ms = max(0, int((now - step_run.started_at).total_seconds() * 1000))
    for key, value in values.items():
        setattr(step_run, key, value)
    step_run.save()


def _error_fields(error: TwilioFlowError) -> dict[str, Any]:
    return {
        "error_code": error.code,
        "twilio_error_code": error.twilio_code,
        "error_message": redact_text(error.message),
    }


def _on_failure(
    run: Run, step: Step, step_run: StepRun, error: TwilioFlowError, *, render_problem: bool = False
) -> Advance | Park | Finish:
    """Retry (durably), continue, or fail the run, as the step's policy says."""
    retry_in = None if render_problem else _retry_delay(step, step_run.attempt, error)
    if retry_in is not None:
        retry_at = clock.now() + timedelta(seconds=retry_in)
        _close(step_run, StepStatus.FAILED, retry_at=retry_at, **_error_fields(error))
        if retry_in <= INLINE_WAIT_MAX and monotonic() + retry_in < _pass_deadline.get():
            clock.sleep(retry_in)
            return execute_step(run, step)
        return Park(WaitingFor.RETRY, retry_at)
    _close(step_run, StepStatus.FAILED, **_error_fields(error))
    if step.on_error == OnError.CONTINUE:
        _record_output(run, step, {"status": "failed", "error": error.as_dict()})
        return Advance()
    return Finish(RunStatus.FAILED, error)


def _retry_delay(step: Step, attempt: int, error: TwilioFlowError) -> float | None:
    if error.outcome_unknown or attempt > step.max_retries:
        return None
    safe = error.retryable or (step.on_error == OnError.RETRY and error.code in RETRY_POLICY_EXTRA)
    if not safe:
        return None
    if error.retry_after is not None:
        return min(error.retry_after, BACKOFF_MAX)
    backoff = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** (attempt - 1)))
    return random.uniform(backoff / 2, backoff)  # noqa: S311 - jitter spreads retry storms


def _render(run: Run, step: Step, value: Any, field_name: str = "") -> Any:
    return render_value(value, template_context(run), field=field_name, step=step.name)


def _execute_action(run: Run, step: Step) -> Advance | Park | Finish:
    attempts = _attempts(run)
    last = attempts[-1] if attempts else None
    if last is not None and last.status == StepStatus.DISPATCHING:
        # A previous pass died between "about to send" and "recorded the result".
        return _reconcile(run, step, last)
    if last is not None and last.status == StepStatus.PENDING:
        # It died before sending anything (rendering, validating): simply start again.
        _close(
            last,
            StepStatus.FAILED,
            error_code=errors.CONNECTION_FAILED,
            error_message="Interrupted before the request was sent.",
        )

    attempt = (last.attempt + 1) if last else 1
    action = action_get(step.action)
    # The connection is recorded so that status callbacks are matched on it (see
    # triggers.services.delivery_track), not on the SID alone.
    step_run = _new_step_run(run, step, attempt, status=StepStatus.PENDING,
                             connection_id=step.connection_id)
    try:
        rendered = _render(run, step, step.inputs)
        cleaned = action.validate(rendered, default_country=run.workspace.default_country)
    except TwilioFlowError as error:
        return _on_failure(run, step, step_run, error, render_problem=True)
    step_run.inputs = redact_data(rendered, action.secret_fields())
    try:
        # On the rendered inputs, at run time: a template or a step saved around the admin's
        # forms cannot reach a credential endpoint its author may not use.
        step_authorize(step=step, action=action, inputs=cleaned)
    except TwilioFlowError as error:
        return _on_failure(run, step, step_run, error, render_problem=True)
    if not action.idempotent:
        # Committed before the request: if we die during it, the next pass reconciles.
        step_run.status = StepStatus.DISPATCHING
    step_run.save(update_fields=["inputs", "status"])
    client = client_for_connection(step.connection)
    ctx = ActionContext(
        client=client, connection=step.connection, default_country=run.workspace.default_country
    )
    try:
        output = action.run(ctx, cleaned)
    except TwilioFlowError as error:
        step_run.exchanges = [e.as_dict() for e in client.exchanges]
        if error.outcome_unknown:
            return _reconcile(run, step, step_run, first_error=error)
        return _on_failure(run, step, step_run, error)
    return _succeed(run, step, step_run, output, client.exchanges)


def _succeed(run, step, step_run, output, exchanges, *, reconciled=False) -> Advance:
    sid = output.get("sid") if isinstance(output, dict) else None
    output = _record_output(run, step, output)
    _close(
        step_run,
        StepStatus.SUCCEEDED,
        output=output,
        twilio_sid=sid if isinstance(sid, str) and SID_RE.match(sid) else "",
        exchanges=step_run.exchanges + [e.as_dict() for e in exchanges],
        reconciled=reconciled,
        error_code="",
        error_message="",
        twilio_error_code=None,
    )
    if sid:
        from workflows.services import run_index_for_search

        run_index_for_search(run, sid, step_run.inputs.get("To"))
    return Advance()


def _reconcile(
    run: Run, step: Step, step_run: StepRun, first_error: TwilioFlowError | None = None
) -> Advance | Park | Finish:
    """Did the interrupted attempt happen? Adopt it if Twilio has it; never guess."""
    action = action_get(step.action)
    if action.idempotent:
        # Repeating a read or a fixed update is harmless: just do it again.
        _close(
            step_run,
            StepStatus.FAILED,
            error_code=(first_error or _interrupted()).code,
            error_message="Interrupted; repeating (the request is idempotent).",
        )
        return _execute_action(run, step)
    client = client_for_connection(step.connection)
    ctx = ActionContext(
        client=client, connection=step.connection, default_country=run.workspace.default_country
    )
    try:
        cleaned = action.validate(
            _render(run, step, step.inputs), default_country=run.workspace.default_country
        )
        found = action.reconcile(ctx, cleaned, since=step_run.started_at) if action.reconcilable else None
    except TwilioFlowError as error:
        # Twilio cannot be asked right now: keep the attempt open and look again later.
        step_run.exchanges = step_run.exchanges + [e.as_dict() for e in client.exchanges]
        step_run.error_message = redact_text(f"Reconciling: {error.code}: {error.message}")
        step_run.save(update_fields=["exchanges", "error_message"])
        wait = error.retry_after or 30.0
        return Park(WaitingFor.RETRY, clock.now() + timedelta(seconds=wait))
    if found is not None:
        return _succeed(run, step, step_run, found, client.exchanges, reconciled=True)
    error = TwilioFlowError(
        OUTCOME_UNKNOWN,
        f"Step {step.name!r}: the request may or may not have reached Twilio "
        f"({(first_error or _interrupted()).message}) and reconciling found no trace of it. "
        "Not resent; check the recipient and the Twilio console, then replay if needed.",
        details={"first_error": (first_error or _interrupted()).as_dict()},
    )
    _close(
        step_run,
        StepStatus.UNKNOWN,
        reconciled=True,
        exchanges=step_run.exchanges + [e.as_dict() for e in client.exchanges],
        **_error_fields(error),
    )
    return Finish(RunStatus.FAILED, error)


def _interrupted() -> TwilioFlowError:
    return TwilioFlowError(
        errors.TIMEOUT, "The worker stopped while the request was in flight.", outcome_unknown=True
    )


# --- control steps -------------------------------------------------------------------------
def _control(run: Run, step: Step, body) -> Advance | Park | Finish:
    """Run a control step's `body(step_run)` with the same error handling as actions."""
    attempts = _attempts(run)
    attempt = attempts[-1].attempt + 1 if attempts else 1
    step_run = _new_step_run(run, step, attempt, status=StepStatus.PENDING)
    try:
        outcome, output = body(step_run)
    except TwilioFlowError as error:
        return _on_failure(run, step, step_run, error, render_problem=True)
    if isinstance(outcome, Advance):
        _close(step_run, StepStatus.SUCCEEDED, output=_record_output(run, step, output))
    return outcome


def _branch(run: Run, step: Step):
    def body(step_run):
        inputs = step.inputs
        for index, case in enumerate(inputs.get("cases") or []):
            left = _render(run, step, case.get("left"), f"cases.{index}.left")
            right = _render(run, step, case.get("right"), f"cases.{index}.right")
            if compare(left, case["operator"], right):
                target = case["goto"]
                return Advance(target), {"matched_case": index, "goto": target}
        target = inputs.get("default") or "next"
        return Advance(target), {"matched_case": None, "goto": target}

    return _control(run, step, body)


def compare(left: Any, operator: str, right: Any) -> bool:
    """The branch operators. Numbers compare as numbers when both sides are numeric."""
    if operator == "is_empty":
        return left in (None, "", [], {})
    if operator == "is_not_empty":
        return left not in (None, "", [], {})
    if operator in ("greater_than", "less_than"):
        a, b = _number(left), _number(right)
        if a is None or b is None:
            a, b = str(left), str(right)
        return a > b if operator == "greater_than" else a < b
    if operator in ("equals", "not_equals"):
        a, b = _number(left), _number(right)
        same = (a == b) if a is not None and b is not None else _text(left) == _text(right)
        return same if operator == "equals" else not same
    if operator in ("contains", "not_contains"):
        haystack = left if isinstance(left, list | dict) else _text(left)
        found = (right in haystack) if isinstance(haystack, list | dict) else _text(right) in haystack
        return found if operator == "contains" else not found
    if operator == "starts_with":
        return _text(left).startswith(_text(right))
    if operator == "matches":
        try:
            return re.search(_text(right), _text(left)) is not None
        except re.error as exc:
            raise TwilioFlowError(errors.VALIDATION_ERROR, f"Bad regular expression: {exc}") from None
    raise TwilioFlowError(errors.VALIDATION_ERROR, f"Unknown operator {operator!r}.")


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        return None
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _set_variables(run: Run, step: Step):
    def body(step_run):
        values = redact_data({
            name: _render(run, step, template, f"variables.{name}")
            for name, template in (step.inputs.get("variables") or {}).items()
        })
        run.context.setdefault("vars", {}).update(values)
        return Advance(), values

    return _control(run, step, body)


def _delay(run: Run, step: Step):
    attempts = _attempts(run)
    waiting = attempts[-1] if attempts and attempts[-1].status == StepStatus.PENDING else None
    if waiting is not None:
        if waiting.retry_at and waiting.retry_at > clock.now():
            return Park(WaitingFor.DELAY, waiting.retry_at)
        _close(waiting, StepStatus.SUCCEEDED, output={"waited_until": waiting.retry_at.isoformat()})
        _record_output(run, step, waiting.output)
        return Advance()

    def body(step_run):
        wake_at = _delay_until(run, step)
        step_run.retry_at = wake_at
        step_run.save(update_fields=["retry_at"])
        return Park(WaitingFor.DELAY, wake_at), None

    return _control(run, step, body)


def _delay_until(run: Run, step: Step) -> datetime:
    from django.utils.dateparse import parse_datetime

    if "until" in step.inputs:
        value = _render(run, step, step.inputs["until"], "until")
        moment = value if isinstance(value, datetime) else parse_datetime(str(value))
        if moment is None:
            raise TwilioFlowError(
                errors.VALIDATION_ERROR,
                f"until: {value!r} is not a date-time.",
                fields={"until": ["Expected an ISO 8601 date-time."]},
            )
        return moment
    seconds = _number(_render(run, step, step.inputs.get("seconds"), "seconds"))
    if seconds is None or seconds < 0:
        raise TwilioFlowError(
            errors.VALIDATION_ERROR,
            "seconds: expected a number ≥ 0.",
            fields={"seconds": ["Expected a number of seconds."]},
        )
    return clock.now() + timedelta(seconds=float(seconds))


def _end(run: Run, step: Step):
    status = step.inputs.get("status", "succeeded")
    attempts = _attempts(run)
    step_run = _new_step_run(run, step, attempts[-1].attempt + 1 if attempts else 1)
    try:
        message = _render(run, step, step.inputs.get("message", ""), "message")
        result = (
            _render(run, step, step.inputs["output"], "output")
            if "output" in step.inputs
            else _default_result(run)
        )
    except TwilioFlowError as error:
        return _on_failure(run, step, step_run, error, render_problem=True)
    _close(step_run, StepStatus.SUCCEEDED, output={"status": status, "message": message})
    error = None
    if status == RunStatus.FAILED:
        error = TwilioFlowError("ENDED", message or f"Ended by step {step.name!r}.")
    return Finish(status, error, result)


def _children(run: Run, step: Step):
    """for_each and run_workflow: start child runs, then wait for them (or not)."""
    from workflows.services import children_start, children_summary

    attempts = _attempts(run)
    started = attempts[-1] if attempts and attempts[-1].status == StepStatus.PENDING else None
    if started is not None and started.output is None:
        # Died before the children were committed: none exist, so start them now.
        _close(started, StepStatus.FAILED, error_code=errors.CONNECTION_FAILED,
               error_message="Interrupted before the child runs were created.")
        started = None
    wait = step.kind == StepKind.RUN_WORKFLOW or step.inputs.get("wait", True) not in (False, "false")
    if started is None:
        step_run = _new_step_run(run, step, attempts[-1].attempt + 1 if attempts else 1)
        try:
            # The children and the record that they exist commit together: a crash leaves
            # either both (the next pass waits for them) or neither (it starts them).
            with transaction.atomic():
                summary = children_start(
                    run=run, step=step, sequence=run.sequence + 1,
                    render=lambda v, f: _render(run, step, v, f),
                )
                step_run.output = summary
                step_run.save(update_fields=["output"])
        except TwilioFlowError as error:
            return _on_failure(run, step, step_run, error, render_problem=True)
        if not wait or summary["total"] == 0:
            _close(step_run, StepStatus.SUCCEEDED)
            _record_output(run, step, summary)
            return Advance()
        return Park(WaitingFor.CHILDREN, None)
    summary = children_summary(run=run, sequence=run.sequence + 1, kind=step.kind)
    if summary["running"]:
        started.output = summary
        started.save(update_fields=["output"])
        return Park(WaitingFor.CHILDREN, None)
    if step.kind == StepKind.RUN_WORKFLOW and summary["failed"]:
        error = TwilioFlowError(CHILD_FAILED, f"Sub-workflow failed: {summary.get('error') or ''}".strip())
        started.output = summary
        return _on_failure(run, step, started, error, render_problem=True)
    _close(started, StepStatus.SUCCEEDED, output=summary)
    _record_output(run, step, summary)
    return Advance()


def _wait_for_reply(run: Run, step: Step):
    """Park until the contact writes to our number (the triggers resume us) or time runs out.

    Inputs: channel (sms | whatsapp), contact (default {{ trigger.From }}), number (default
    {{ trigger.To }}), timeout_seconds (default one day), on_reply and no_reply (step names,
    "next" or "end"; both default to "next")."""
    from workflows.models import ReplyWait, ReplyWaitStatus

    attempts = _attempts(run)
    waiting = attempts[-1] if attempts and attempts[-1].status == StepStatus.PENDING else None
    if waiting is not None:
        wait = ReplyWait.objects.filter(run=run, sequence=run.sequence + 1).first()
        if wait is not None and wait.status == ReplyWaitStatus.REPLIED:
            output = _record_output(run, step, {"replied": True, **(wait.reply or {})})
            _close(waiting, StepStatus.SUCCEEDED, output=output)
            run.context["reply"] = redact_data(wait.reply)
            return Advance(step.inputs.get("on_reply") or "next")
        if wait is not None and wait.status == ReplyWaitStatus.OPEN and wait.expires_at > clock.now():
            return Park(WaitingFor.REPLY, wait.expires_at)
        if wait is not None:
            ReplyWait.objects.filter(pk=wait.pk, status=ReplyWaitStatus.OPEN).update(
                status=ReplyWaitStatus.TIMED_OUT
            )
        output = {"replied": False}
        _close(waiting, StepStatus.SUCCEEDED, output=output)
        _record_output(run, step, output)
        return Advance(step.inputs.get("no_reply") or "next")

    def body(step_run):
        from actions.validation import WHATSAPP_PREFIX, Invalid, e164

        channel = step.inputs.get("channel", "sms")
        contact = _render(run, step, step.inputs.get("contact", "{{ trigger.From }}"), "contact")
        number = _render(run, step, step.inputs.get("number", "{{ trigger.To }}"), "number")
        country = run.workspace.default_country
        try:
            contact, number = (
                e164(str(value).removeprefix(WHATSAPP_PREFIX), country) for value in (contact, number)
            )
        except Invalid as exc:
            raise TwilioFlowError(errors.VALIDATION_ERROR, f"contact/number: {exc}",
                                  fields={"contact": [str(exc)]}) from None
        seconds = float(_number(step.inputs.get("timeout_seconds", 86400)) or 86400)
        expires_at = clock.now() + timedelta(seconds=seconds)
        # Replies are only taken from the connection they will arrive on; when that cannot
        # be told, fail loudly rather than wait for a reply no connection may deliver.
        from workflows.selectors import reply_connection_for

        receiver = reply_connection_for(run, number)
        if receiver is None:
            raise TwilioFlowError(
                errors.VALIDATION_ERROR,
                f"number: cannot tell which connection receives messages to {number}: sync the "
                "account's phone numbers (Phone numbers → Sync) or start the run from a trigger.",
                fields={"number": ["No connection of this workspace is known to own this number."]},
            )
        ReplyWait.objects.create(run=run, sequence=run.sequence + 1, workspace=run.workspace,
                                 connection=receiver, channel=channel, contact=contact,
                                 number=number, expires_at=expires_at)
        step_run.inputs = {"channel": channel, "contact": contact, "number": number,
                           "timeout_seconds": seconds}
        step_run.save(update_fields=["inputs"])
        return Park(WaitingFor.REPLY, expires_at), None

    return _control(run, step, body)


_HANDLERS = {
    StepKind.ACTION: _execute_action,
    StepKind.BRANCH: _branch,
    StepKind.SET_VARIABLES: _set_variables,
    StepKind.DELAY: _delay,
    StepKind.END: _end,
    StepKind.RUN_WORKFLOW: _children,
    StepKind.FOR_EACH: _children,
    StepKind.WAIT_FOR_REPLY: _wait_for_reply,
}
