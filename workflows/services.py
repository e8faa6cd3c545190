"""Runs: creating, enqueueing, finishing, children, cancel, replay, recovery and retention."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_data
from workflows.models import (
    FINAL_RUN_STATUSES,
    LIVE_RUN_STATUSES,
    Run,
    RunStatus,
    Step,
    StepKind,
    StepRun,
    WaitingFor,
    Workflow,
)

logger = logging.getLogger(__name__)

TASK = "workflows.tasks.run_execute_task"
DEFAULT_CONCURRENCY = 5
MAX_ITEMS = 100_000
# A pending run whose task has not started after this long was lost (Redis broker crash,
# a dropped on_commit): the sweeper enqueues it again. The lease keeps that harmless.
STALE_ENQUEUE = timedelta(minutes=3)


# --- create and enqueue --------------------------------------------------------------------
def run_create(
    *,
    workflow: Workflow,
    payload: dict[str, Any] | None = None,
    source: str = "manual",
    variables: dict[str, Any] | None = None,
    item: Any = None,
    parent: Run | None = None,
    parent_sequence: int | None = None,
    group_concurrency: int | None = None,
    replay_of: Run | None = None,
    wake_at=None,
    enqueue: bool = True,
) -> Run:
    run = Run.objects.create(
        workflow=workflow,
        workspace_id=workflow.workspace_id,
        source=source,
        trigger_payload=payload or {},
        # The context is shown and templated from: redacted like every output.
        context=redact_data(
            {
                "vars": {**(workflow.default_variables or {}), **(variables or {})},
                "steps": {},
                "item": item,
            }
        ),
        parent=parent,
        parent_sequence=parent_sequence,
        group_concurrency=group_concurrency,
        replay_of=replay_of,
        current_step=first_step_name(workflow),
        wake_at=wake_at,
        search_text=_searchable(payload or {}),
    )
    if enqueue:
        run_enqueue(run.pk)
    return run


def first_step_name(workflow: Workflow) -> str:
    return workflow.steps.order_by("position", "id").values_list("name", flat=True).first() or ""


def _searchable(payload: dict[str, Any]) -> str:
    keys = ("From", "To", "MessageSid", "CallSid", "SmsSid", "from", "to")
    return " ".join(str(payload[k]) for k in keys if payload.get(k))


def run_index_for_search(run: Run, *terms: str | None) -> None:
    words = set(run.search_text.split())
    new = [t for t in terms if t and t not in words]
    if new:
        run.search_text = " ".join([run.search_text, *new]).strip()
        Run.objects.filter(pk=run.pk).update(search_text=run.search_text)


def run_enqueue(run_id: int) -> None:
    """Hand the run to a worker once the surrounding transaction has committed."""
    Run.objects.filter(pk=run_id).update(enqueued_at=clock.now())

    def send() -> None:
        from django_q.tasks import async_task

        async_task(TASK, run_id, task_name=f"run-{run_id}", group="runs")

    transaction.on_commit(send)


def run_execute_inline(run_id: int, *, max_passes: int = 10_000) -> Run:
    """Execute in this process until the run is final or parked (commands, tests)."""
    from workflows.engine import run_execute

    for _ in range(max_passes):
        outcome = run_execute(run_id)
        run = Run.objects.get(pk=run_id)
        if run.is_final or run.status == RunStatus.WAITING or outcome == "not claimed":
            return run
    return Run.objects.get(pk=run_id)


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
    items: Any
    rate: float | None
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
    payload = run.trigger_payload
    first_step = first_step_name(workflow)
    children = []
    for index, item in enumerate(items):
        variables = (
            {name: render(value, f"inputs.{name}") for name, value in child_inputs.items()}
            if step.kind == StepKind.RUN_WORKFLOW
            else {}
        )
        children.append(
            Run(
                workflow=workflow,
                workspace_id=workflow.workspace_id,
                source=step.kind,
                trigger_payload=payload,
                context=redact_data(
                    {
                        "vars": {**(workflow.default_variables or {}), **variables},
                        "steps": {},
                        "item": item,
                        "index": index,
                    }
                ),
                parent=run,
                parent_sequence=sequence,
                group_concurrency=concurrency,
                current_step=first_step,
                # Pacing: child i may start no earlier than start + i / rate.
                wake_at=start + timedelta(seconds=index / rate) if rate else None,
                search_text=_searchable(item if isinstance(item, dict) else {}),
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
    from workflows.engine import INLINE_WAIT_MAX

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


# --- cancel, replay ------------------------------------------------------------------------
def run_cancel(*, run: Run, reason: str = "Canceled by a user.") -> bool:
    """Cancel a live run and its live children. A step in flight finishes; nothing new starts."""
    now = clock.now()
    updated = Run.objects.filter(pk=run.pk, status__in=LIVE_RUN_STATUSES).update(
        status=RunStatus.CANCELED,
        finished_at=now,
        error_code="CANCELED",
        error_message=reason,
        wake_at=None,
        waiting_for=WaitingFor.NOTHING,
    )
    for child in Run.objects.filter(parent=run, status__in=LIVE_RUN_STATUSES):
        run_cancel(run=child, reason="The parent run was canceled.")
    if updated:
        run.refresh_from_db()
        run_finished(run)
    return bool(updated)


def run_replay(*, run: Run, source: str = "replay") -> Run:
    """A new run of the same workflow with the same trigger payload, linked to the original."""
    return run_create(
        workflow=run.workflow,
        payload=run.trigger_payload,
        source=source,
        replay_of=run,
        item=run.context.get("item"),
    )


# --- recovery (the sweeper) ----------------------------------------------------------------
def runs_recover(*, now=None) -> dict[str, int]:
    """Resume what a crash or a lost task left behind, and wake what is due. Idempotent."""
    now = now or clock.now()
    counts: Counter[str] = Counter()
    # 1. Running, but the worker's lease lapsed: the worker died. The engine reconciles.
    lapsed = Run.objects.filter(status=RunStatus.RUNNING, lease_expires_at__lt=now)
    for run_id in lapsed.values_list("pk", flat=True):
        Run.objects.filter(pk=run_id).update(lease_owner="")
        run_enqueue(run_id)
        counts["resumed"] += 1
    # Running without a lease at all (released, then the re-enqueue was lost).
    for run_id in (
        Run.objects.filter(status=RunStatus.RUNNING, lease_expires_at__isnull=True)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - STALE_ENQUEUE))
        .values_list("pk", flat=True)
    ):
        run_enqueue(run_id)
        counts["resumed"] += 1
    # 2. Waiting for a time that has come: delays, retry backoffs, reply timeouts.
    due = Run.objects.filter(
        status=RunStatus.WAITING,
        waiting_for__in=[WaitingFor.DELAY, WaitingFor.RETRY, WaitingFor.REPLY],
        wake_at__lte=now,
    )
    for run_id in due.values_list("pk", flat=True):
        if Run.objects.filter(pk=run_id, status=RunStatus.WAITING).update(
            status=RunStatus.PENDING, waiting_for=WaitingFor.NOTHING, wake_at=None
        ):
            run_enqueue(run_id)
            counts["woken"] += 1
    # 3. Waiting for children that are all done (a lost wake-up).
    for parent in Run.objects.filter(status=RunStatus.WAITING, waiting_for=WaitingFor.CHILDREN):
        children_live = parent.children.filter(
            parent_sequence=parent.sequence + 1, status__in=LIVE_RUN_STATUSES
        ).exists()
        if not children_live and Run.objects.filter(pk=parent.pk, status=RunStatus.WAITING).update(
            status=RunStatus.PENDING, waiting_for=WaitingFor.NOTHING
        ):
            run_enqueue(parent.pk)
            counts["woken"] += 1
    # 4. Pending top-level runs whose task never started.
    lost = (
        Run.objects.filter(status=RunStatus.PENDING, parent__isnull=True)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - STALE_ENQUEUE))
        .filter(Q(wake_at__isnull=True) | Q(wake_at__lte=now))
    )
    for run_id in lost.values_list("pk", flat=True):
        run_enqueue(run_id)
        counts["requeued"] += 1
    # 5. Children: stale enqueues are forgotten, then each group is dispatched.
    Run.objects.filter(
        status=RunStatus.PENDING, parent__isnull=False, enqueued_at__lt=now - STALE_ENQUEUE
    ).update(enqueued_at=None)
    groups = set(
        Run.objects.filter(status=RunStatus.PENDING, parent__isnull=False)
        .values_list("parent_id", "parent_sequence")
        .distinct()
    )
    for parent_id, sequence in groups:
        counts["dispatched"] += group_dispatch(parent_id=parent_id, sequence=sequence, now=now)
    return {key: counts[key] for key in ("resumed", "woken", "requeued", "dispatched")}


# --- retention -----------------------------------------------------------------------------
def runs_prune(*, older_than_days: int, now=None) -> dict[str, int]:
    """Delete finished runs (and their steps) older than the cutoff. Live runs are kept,
    and so is any run whose parent or child is still within the retention window."""
    if older_than_days < 1:
        raise TwilioFlowError(
            errors.VALIDATION_ERROR,
            "older_than_days must be at least 1.",
            fields={"older_than_days": ["At least 1."]},
        )
    cutoff = (now or clock.now()) - timedelta(days=older_than_days)
    old = Run.objects.filter(status__in=FINAL_RUN_STATUSES, finished_at__lt=cutoff)
    # Children first (the parent link protects them), then their parents.
    removed_runs = removed_steps = 0
    with transaction.atomic():
        # A child goes only with its parent, so a kept run never loses part of its story.
        parent_goes = Q(parent__status__in=FINAL_RUN_STATUSES, parent__finished_at__lt=cutoff)
        for depth_filter in (Q(parent__isnull=False) & parent_goes, Q(parent__isnull=True)):
            batch = (
                old.filter(depth_filter)
                .exclude(children__status__in=LIVE_RUN_STATUSES)
                .exclude(children__finished_at__gte=cutoff)
            )
            ids = list(batch.values_list("pk", flat=True))
            Run.objects.filter(replay_of_id__in=ids).update(replay_of=None)
            removed_steps += StepRun.objects.filter(run_id__in=ids).delete()[0]
            removed_runs += Run.objects.filter(pk__in=ids).delete()[0]
    return {"runs": removed_runs, "step_runs": removed_steps}


def sweeper_schedule_ensure() -> None:
    """The django-q2 schedule that runs `runs_recover` every minute (created on migrate)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="twilioflow: recover runs",
        defaults={
            "func": "workflows.tasks.runs_recover_task",
            "schedule_type": Schedule.MINUTES,
            "minutes": getattr(settings, "TWILIOFLOW_SWEEP_MINUTES", 1),
            "repeats": -1,
        },
    )
