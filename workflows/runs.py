"""The run lifecycle the engine and the services share: create, enqueue, finish, children.

The one way to create a run is `run_create` (one INSERT with every field: trigger, event,
parent, source, waiting state, ad-hoc steps); `children_start` builds its child runs with
the same `run_build`. The engine imports this module; nothing here imports the engine.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q

from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.inserts import PreparedInsert, insert_prepare
from twilioflow.core.redaction import redact_data
from workflows.models import LIVE_RUN_STATUSES, Run, RunStatus, Step, StepKind, WaitingFor, Workflow

TASK = "workflows.tasks.run_execute_task"
DEFAULT_CONCURRENCY = 5
MAX_ITEMS = 100_000
# Waits shorter than this are slept in the worker rather than parking the run; a child due
# within it may be enqueued now (the engine's claim sleeps the remainder).
INLINE_WAIT_MAX = 5.0


# --- create and enqueue --------------------------------------------------------------------
def run_build(
    *,
    workflow: Workflow | None = None,
    adhoc_steps: list[dict[str, Any]] | None = None,
    workspace_id: int | None = None,
    payload: dict[str, Any] | None = None,
    source: str = "manual",
    trigger=None,
    event=None,
    variables: dict[str, Any] | None = None,
    item: Any = None,
    index: int | None = None,
    parent: Run | None = None,
    parent_sequence: int | None = None,
    group_concurrency: int | None = None,
    replay_of: Run | None = None,
    waiting_for: str = WaitingFor.NOTHING,
    wake_at: datetime | None = None,
    first_step: str | None = None,
    search_source: dict[str, Any] | None = None,
) -> Run:
    """An unsaved Run with every field set (`run_create` saves one, `children_start` many)."""
    if (workflow is None) == (not adhoc_steps):
        raise ValueError("A run has either a workflow or ad-hoc steps, not both or neither.")
    if workflow is not None:
        workspace_id = workflow.workspace_id
        defaults = workflow.default_variables or {}
        first = first_step if first_step is not None else first_step_name(workflow)
    else:
        if workspace_id is None or not adhoc_steps:
            raise ValueError("An ad-hoc run needs its workspace and its steps.")
        defaults, first = {}, adhoc_steps[0]["name"]
    context: dict[str, Any] = {"vars": {**defaults, **(variables or {})}, "steps": {}, "item": item}
    if index is not None:
        context["index"] = index
    payload = payload or {}
    return Run(
        workflow=workflow,
        adhoc_steps=adhoc_steps or [],
        workspace_id=workspace_id,
        source=source,
        trigger_payload=payload,
        # The context is shown and templated from: redacted like every output.
        context=redact_data(context),
        trigger=trigger,
        trigger_event=event,
        parent=parent,
        parent_sequence=parent_sequence,
        group_concurrency=group_concurrency,
        replay_of=replay_of,
        current_step=first,
        status=RunStatus.WAITING if waiting_for else RunStatus.PENDING,
        waiting_for=waiting_for,
        wake_at=wake_at,
        search_text=_searchable(payload if search_source is None else search_source),
    )


def run_create(*, enqueue: bool = True, **fields: Any) -> Run:
    """Create a run in one INSERT (see `run_build` for the fields) and, unless it waits or
    `enqueue` is False, hand it to a worker on commit."""
    return run_insert(run_build(**fields), enqueue=enqueue)


def run_insert(run: Run, *, enqueue: bool = True) -> Run:
    """Save a run built by `run_build` (one INSERT) and, unless it waits or `enqueue` is
    False, hand it to a worker on commit. Building first lets a caller that holds a write
    lock (the webhook path on SQLite) do the Python work before taking it."""
    enqueue = enqueue and not run.waiting_for
    if enqueue:
        run.enqueued_at = clock.now()  # in the INSERT, not an UPDATE after it
    run.save(force_insert=True)
    if enqueue:
        _send_on_commit(run.pk)
    return run


def run_insert_prepare(run: Run, *, enqueue: bool = True) -> PreparedInsert:
    """`run_insert` in two halves, for a caller about to take a write lock (the webhook
    path on SQLite): the INSERT is compiled now, `run_insert_prepared` executes it (with any
    value filled in meanwhile, e.g. the event's id) and enqueues. `Run` has no `save()`
    override and no signals, so nothing is skipped."""
    if enqueue and not run.waiting_for:
        run.enqueued_at = clock.now()
    return insert_prepare(run)


def run_insert_prepared(insert: PreparedInsert) -> Run:
    insert.execute()
    run = insert.obj
    assert isinstance(run, Run)
    if run.enqueued_at is not None:
        _send_on_commit(run.pk)
    return run


def first_step_name(workflow: Workflow) -> str:
    return workflow.steps.order_by("position", "id").values_list("name", flat=True).first() or ""


def _searchable(payload: dict[str, Any]) -> str:
    keys = ("From", "To", "MessageSid", "CallSid", "SmsSid", "from", "to")
    return " ".join(str(payload[k]) for k in keys if payload.get(k))


def run_index_for_search(run: Run, *terms: str | None, save: bool = True) -> None:
    """Add terms to the run's search text (`save=False`: the engine writes it with the cursor)."""
    words = set(run.search_text.split())
    new = [t for t in terms if t and t not in words]
    if new:
        run.search_text = " ".join([run.search_text, *new]).strip()
        if save:
            Run.objects.filter(pk=run.pk).update(search_text=run.search_text)


_broker: Any = None


def task_broker() -> Any:
    """One django-q2 broker per process: `async_task` without one builds a new broker (with
    Redis, a new TCP connection) on every call. Rebuilt after a fork (gunicorn, qcluster)."""
    global _broker
    pid = os.getpid()
    if _broker is None or _broker[0] != pid:
        from django_q.brokers import get_broker

        _broker = (pid, get_broker())
    return _broker[1]


def run_enqueue(run_id: int) -> None:
    """Hand the run to a worker once the surrounding transaction has committed."""
    Run.objects.filter(pk=run_id).update(enqueued_at=clock.now())
    _send_on_commit(run_id)


def _send_on_commit(run_id: int) -> None:
    """The task reaches a worker only once the run is committed. With the ORM broker on this
    database the task row is written in the run's own transaction (atomic with it, and on
    SQLite one write-lock hold and one commit instead of two); any other broker is sent to
    after commit."""

    def send() -> None:
        from django_q.tasks import async_task

        async_task(TASK, run_id, task_name=f"run-{run_id}", group="runs", broker=task_broker())

    if _queue_in_transaction():
        send()
    else:
        transaction.on_commit(send)


def _queue_in_transaction() -> bool:
    from django_q.brokers.orm import ORM
    from django_q.conf import Conf

    return (
        isinstance(task_broker(), ORM)
        and not Conf.SYNC
        and transaction.get_connection().alias == Conf.ORM
        and not transaction.get_autocommit()
    )


# --- finishing and children ----------------------------------------------------------------
def run_finished(run: Run) -> None:
    """After a run reaches a final status: let its siblings go and wake a waiting parent."""
    if run.parent_id is None:
        return
    group_dispatch(parent_id=run.parent_id, sequence=run.parent_sequence)
    still_live = Run.objects.filter(
        parent_id=run.parent_id, parent_sequence=run.parent_sequence, status__in=LIVE_RUN_STATUSES
    ).exists()
    if not still_live:
        woken = Run.objects.filter(
            pk=run.parent_id, status=RunStatus.WAITING, waiting_for=WaitingFor.CHILDREN
        ).update(status=RunStatus.PENDING, waiting_for=WaitingFor.NOTHING)
        if woken:
            run_enqueue(run.parent_id)


def children_start(*, run: Run, step: Step, sequence: int, render) -> dict[str, Any]:
    """Create the child runs of a for_each / run_workflow step, paced and throttled."""
    inputs = step.inputs
    workflow = _child_workflow(run, render(inputs["workflow"], "workflow"))
    child_inputs = inputs.get("inputs") or {}
    items: list[Any]
    if step.kind == StepKind.RUN_WORKFLOW:
        items, concurrency, rate = [None], 1, None
    else:
        items = render(inputs.get("items"), "items")
        if isinstance(items, str):
            items = [line.strip() for line in items.replace(",", "\n").splitlines() if line.strip()]
        if not isinstance(items, list):
            raise TwilioFlowError(
                errors.VALIDATION_ERROR,
                "items: expected a list.",
                fields={"items": ["Expected a list (or a template giving one)."]},
            )
        if len(items) > MAX_ITEMS:
            raise TwilioFlowError(
                errors.VALIDATION_ERROR,
                f"items: at most {MAX_ITEMS:,}.",
                fields={"items": [f"At most {MAX_ITEMS:,} items."]},
            )
        concurrency = int(inputs.get("concurrency") or DEFAULT_CONCURRENCY)
        rate = float(inputs["rate_per_second"]) if inputs.get("rate_per_second") else None
    start = clock.now()
    first_step = first_step_name(workflow)
    children = []
    for index, item in enumerate(items):
        variables = (
            {name: render(value, f"inputs.{name}") for name, value in child_inputs.items()}
            if step.kind == StepKind.RUN_WORKFLOW
            else {}
        )
        children.append(
            run_build(
                workflow=workflow,
                source=step.kind,
                payload=run.trigger_payload,
                variables=variables,
                item=item,
                index=index,
                parent=run,
                parent_sequence=sequence,
                group_concurrency=concurrency,
                first_step=first_step,
                # Pacing: child i may start no earlier than start + i / rate.
                wake_at=start + timedelta(seconds=index / rate) if rate else None,
                search_source=item if isinstance(item, dict) else {},
            )
        )
    Run.objects.bulk_create(children, batch_size=500)
    group_dispatch(parent_id=run.pk, sequence=sequence)
    return {
        "workflow": workflow.name,
        "total": len(children),
        "concurrency": concurrency,
        "rate_per_second": rate,
    }


def _child_workflow(run: Run, ref: Any) -> Workflow:
    try:
        return Workflow.objects.get(workspace_id=run.workspace_id, name=str(ref))
    except Workflow.DoesNotExist:
        raise TwilioFlowError(
            errors.NOT_FOUND,
            f"No workflow {ref!r} in this workspace.",
            fields={"workflow": [f"No workflow {ref!r}."]},
        ) from None


def group_dispatch(*, parent_id: int, sequence: int | None, now=None) -> int:
    """Enqueue due children of one for_each group, keeping at most `concurrency` in flight.

    In flight: running, waiting, or pending with a task already enqueued. Children due within
    the engine's inline window are enqueued too; the worker sleeps the remainder, so a rate
    limit is kept to the second without waking the sweeper."""
    now = now or clock.now()
    siblings = Run.objects.filter(parent_id=parent_id, parent_sequence=sequence)
    first = siblings.values_list("group_concurrency", flat=True).first()
    if first is None:
        return 0
    in_flight = siblings.filter(
        Q(status__in=[RunStatus.RUNNING, RunStatus.WAITING])
        | Q(status=RunStatus.PENDING, enqueued_at__isnull=False)
    ).count()
    slots = max(0, (first or DEFAULT_CONCURRENCY) - in_flight)
    if not slots:
        return 0
    horizon = now + timedelta(seconds=INLINE_WAIT_MAX)
    due = list(
        siblings.filter(status=RunStatus.PENDING, enqueued_at__isnull=True)
        .filter(Q(wake_at__isnull=True) | Q(wake_at__lte=horizon))
        .order_by("wake_at", "id")
        .values_list("pk", flat=True)[:slots]
    )
    for child_id in due:
        run_enqueue(child_id)
    return len(due)


def children_summary(*, run: Run, sequence: int, kind: str) -> dict[str, Any]:
    counts = Counter(
        dict(
            Run.objects.filter(parent=run, parent_sequence=sequence)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
    )
    live = sum(counts[s] for s in LIVE_RUN_STATUSES)
    summary: dict[str, Any] = {
        "total": sum(counts.values()),
        "succeeded": counts[RunStatus.SUCCEEDED],
        "failed": counts[RunStatus.FAILED],
        "canceled": counts[RunStatus.CANCELED],
        "running": live,
    }
    if kind == StepKind.RUN_WORKFLOW and not live:
        child = Run.objects.filter(parent=run, parent_sequence=sequence).first()
        if child is not None:
            summary["run_id"] = child.pk
            summary["result"] = child.result
            summary["error"] = child.error_message
    return summary
