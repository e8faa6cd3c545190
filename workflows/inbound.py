"""What Twilio's inbound requests do to runs, as services the triggers call: a reply resumes
the run waiting for it, a call's gathered input resumes the run that asked for it, and a
status callback records delivery on the step that sent the message or call.

Each takes the connection whose Auth Token signed the request and touches only what that
connection did (see `workflows.selectors`). Every write is a conditional update, so two
deliveries racing cannot both take the same wait or wake the same run twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from twilioflow.core import clock
from workflows.models import ReplyWait, ReplyWaitStatus, Run, RunStatus, StepRun, StepStatus, WaitingFor
from workflows.runs import run_enqueue
from workflows.selectors import step_run_for_delivery

# Later statuses never give way to earlier ones arriving late (callbacks are unordered).
DELIVERY_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "initiated": 1,
    "sending": 2,
    "ringing": 2,
    "sent": 3,
    "in-progress": 3,
    "answered": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "canceled": 4,
    "read": 5,
}


# A higher layer's interest in delivery updates (campaigns: the recipient's state follows its
# message): listener(run_id=, sid=, status=, error_code=), registered in AppConfig.ready.
DeliveryListener = Callable[..., None]
_DELIVERY_LISTENERS: dict[str, DeliveryListener] = {}


def delivery_listener_register(name: str, listener: DeliveryListener) -> None:
    _DELIVERY_LISTENERS[name] = listener


def _wake(run_id: int, **values: Any) -> bool:
    """A run waiting for a reply becomes pending (with `values`) and is enqueued; False when
    it no longer waits (already woken, timed out, canceled)."""
    woken = Run.objects.filter(pk=run_id, status=RunStatus.WAITING, waiting_for=WaitingFor.REPLY).update(
        status=RunStatus.PENDING, waiting_for=WaitingFor.NOTHING, wake_at=None, **values
    )
    if woken:
        run_enqueue(run_id)
    return bool(woken)


def run_resume_with_reply(*, connection, contact: str, number: str, reply: dict[str, Any]) -> bool:
    """Give a message from `contact` to our `number` to the oldest run waiting for it on this
    connection; True when a wait took it (the run is woken if it still waits)."""
    if not contact or not number:
        return False
    now = clock.now()
    # Only waits tied to this connection: a message signed by another connection (even of
    # the same workspace) must not answer a run it was never sent to.
    waits = ReplyWait.objects.filter(
        connection=connection,
        workspace_id=connection.workspace_id,
        contact=contact,
        number=number,
        status=ReplyWaitStatus.OPEN,
        expires_at__gt=now,
    ).order_by("created_at", "id")
    for wait in waits[:5]:
        # Conditional update: two deliveries racing cannot both take the same wait.
        if ReplyWait.objects.filter(pk=wait.pk, status=ReplyWaitStatus.OPEN).update(
            status=ReplyWaitStatus.REPLIED, reply=reply, answered_at=now
        ):
            _wake(wait.run_id)
            return True
    return False


def run_resume_with_gather(*, run: Run, gather: dict[str, Any]) -> bool:
    """The caller's digits or speech for `run` (found with `selectors.gather_run_for`, i.e.
    within the signing connection): the run continues with them as `trigger.gather`. False
    when it no longer waits for them (a second POST, a timeout)."""
    with transaction.atomic():
        return _wake(run.pk, trigger_payload={**run.trigger_payload, "gather": gather})


FINAL_CALL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")


def step_run_track_delivery(
    *, connection, sid: str, status: str, error_code: Any = None, details: dict[str, Any] | None = None
) -> bool:
    """Record a message's or call's status on the step that created it through `connection`
    (the one whose Auth Token signed the callback). True when that step was found; a SID
    another connection sent is left alone. A later status is never replaced by an earlier
    one arriving late; every callback is kept in `delivery_history` (with `details`: a
    call's duration, AnsweredBy, recording). A call's final status wakes the run waiting
    for its end (make-call with wait_until_ended)."""
    if not sid or not status:
        return False
    step_run = step_run_for_delivery(connection=connection, sid=str(sid))
    if step_run is None:
        return False
    entry = {"status": status, "error_code": error_code, "at": clock.now().isoformat(), **(details or {})}
    values: dict[str, Any] = {"delivery_history": [*step_run.delivery_history, entry]}
    if DELIVERY_RANK.get(status, 0) >= DELIVERY_RANK.get(step_run.delivery_status, -1):
        values.update(delivery_status=status, delivery_error_code=error_code, delivery_updated_at=clock.now())
    StepRun.objects.filter(pk=step_run.pk).update(**values)
    if step_run.status == StepStatus.WAITING and status in FINAL_CALL_STATUSES:
        woken = Run.objects.filter(
            pk=step_run.run_id, status=RunStatus.WAITING, waiting_for=WaitingFor.CALL
        ).update(status=RunStatus.PENDING, waiting_for=WaitingFor.NOTHING, wake_at=None)
        if woken:
            run_enqueue(step_run.run_id)
    if "delivery_status" in values:
        for listener in _DELIVERY_LISTENERS.values():
            listener(run_id=step_run.run_id, sid=str(sid), status=status, error_code=error_code)
    return True
