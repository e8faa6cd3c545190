"""Runs: executing inline, ad-hoc action runs, cancel, replay, recovery and retention.

Creating, enqueueing and finishing runs live in `workflows.runs` (the engine needs them);
they are re-exported here, the module callers use. Services import the engine, never the
reverse."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from actions.registry import action_get
from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError
from workflows.engine import adhoc_lent as adhoc_lent
from workflows.engine import run_execute, withheld_inputs
from workflows.models import (
    FINAL_RUN_STATUSES,
    LIVE_RUN_STATUSES,
    OnError,
    Run,
    RunStatus,
    StepKind,
    StepRun,
    StepStatus,
    WaitingFor,
    Workflow,
)

# Re-exported: callers create runs and read children through the services.
from workflows.runs import children_start as children_start
from workflows.runs import children_summary as children_summary
from workflows.runs import first_step_name as first_step_name
from workflows.runs import group_dispatch, run_create, run_enqueue, run_finished
from workflows.runs import run_build as run_build
from workflows.runs import run_index_for_search as run_index_for_search
from workflows.runs import run_insert as run_insert
from workflows.runs import run_insert_prepare as run_insert_prepare
from workflows.runs import run_insert_prepared as run_insert_prepared
from workflows.transfer import workflow_duplicate as workflow_duplicate

logger = logging.getLogger(__name__)

# A pending run whose task has not started after this long was lost (Redis broker crash,
# a dropped on_commit): the sweeper enqueues it again. The lease keeps that harmless.
STALE_ENQUEUE = timedelta(minutes=3)


# --- create and execute ---------------------------------------------------------------------
def run_execute_inline(run_id: int, *, max_passes: int = 10_000) -> Run:
    """Execute in this process until the run is final or parked (commands, tests)."""
    for _ in range(max_passes):
        outcome = run_execute(run_id)
        run = Run.objects.get(pk=run_id)
        if run.is_final or run.status == RunStatus.WAITING or outcome == "not claimed":
            return run
    return Run.objects.get(pk=run_id)


def action_run_adhoc(
    *,
    slug: str,
    connection,
    inputs: dict[str, Any],
    source: str = "command",
    payload: dict[str, Any] | None = None,
) -> Run:
    """One action as a one-step ad-hoc run, executed here through the engine.

    Invalid input raises VALIDATION_ERROR before any run exists (nothing is sent). The run
    is the audit record and keeps the never-twice guarantee: the step is `dispatching`
    before the request, and a crash is reconciled by `recover_runs`. Secret inputs (a Verify
    code) are not stored: they stay in this process, so a recovered run cannot repeat them.
    `payload` is the run's trigger payload: the inbox passes the message being answered, so
    the send gate treats the send as a reply to that contact."""
    action = action_get(slug)
    action.validate(inputs, default_country=connection.workspace.default_country)
    secret = action.secret_fields()
    name = slug.rsplit("/", 1)[-1].replace("-", "_")
    step = {
        "name": name,
        "kind": StepKind.ACTION,
        "action": slug,
        "connection_id": connection.pk,
        "inputs": {key: value for key, value in inputs.items() if key not in secret},
        "literal": True,
        "withheld": sorted(key for key in inputs if key in secret),
        "on_error": OnError.FAIL,
        "max_retries": 3,
    }
    run = run_create(
        adhoc_steps=[step],
        workspace_id=connection.workspace_id,
        source=source,
        payload=payload,
        search_source=inputs,
        enqueue=False,
    )
    with withheld_inputs({(run.pk, name): {k: v for k, v in inputs.items() if k in secret}}):
        return run_execute_inline(run.pk)


# --- workflows -----------------------------------------------------------------------------
def workflows_set_enabled(*, ids: list[int], enabled: bool) -> int:
    """Enable or disable these workflows; how many changed. `updated_at` moves too: webhook
    processes notice changes by it (`triggers.routing`)."""
    return (
        Workflow.objects.filter(pk__in=ids)
        .exclude(enabled=enabled)
        .update(enabled=enabled, updated_at=clock.now())
    )


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
    """A new run of the same workflow (or ad-hoc steps) with the same trigger payload,
    linked to the original. A child run keeps its own `item` (and index)."""
    context = run.context or {}
    return run_create(
        workflow=run.workflow,
        adhoc_steps=run.adhoc_steps or None,
        workspace_id=run.workspace_id,
        payload=run.trigger_payload,
        source=source,
        replay_of=run,
        item=context.get("item"),
        index=context.get("index"),
        # A sub-workflow's inputs are its vars: without them its retry could not work.
        variables=context.get("vars") if run.source == StepKind.RUN_WORKFLOW else None,
        search_source=_child_search(context.get("item")) if run.parent_id else None,
    )


def _child_search(item: Any) -> dict[str, Any]:
    return item if isinstance(item, dict) else {}


@dataclass
class ChildrenRetried:
    runs: list[Run] = field(default_factory=list)
    # Children not retried because a step's outcome is unknown: it may have sent already.
    unknown: list[Run] = field(default_factory=list)
    already: int = 0  # failed children that were retried before


def run_children_retry(*, run: Run) -> ChildrenRetried:
    """Replay the failed children of a run's for_each / run_workflow steps, each as a new run
    (source `retry`) linked to the child it retries.

    Never twice: a child with a step whose outcome is unknown (or still dispatching) is not
    retried; someone must check Twilio first and replay it by hand. A child retried before
    is not retried again (its retry has its own page, and its own Replay)."""
    done = ChildrenRetried()
    failed = list(
        Run.objects.filter(parent=run, status=RunStatus.FAILED)
        .select_related("workflow", "workspace")
        .order_by("id")
    )
    unsure = set(
        StepRun.objects.filter(
            run__in=failed, status__in=[StepStatus.UNKNOWN, StepStatus.DISPATCHING]
        ).values_list("run_id", flat=True)
    )
    retried = set(Run.objects.filter(replay_of__in=failed).values_list("replay_of_id", flat=True))
    for child in failed:
        if child.pk in retried:
            done.already += 1
        elif child.pk in unsure:
            done.unknown.append(child)
        else:
            done.runs.append(run_replay(run=child, source="retry"))
    return done


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
