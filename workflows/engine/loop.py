"""The run loop: claim with a lease, execute steps from the cursor, park, yield or finish.

The shape of one pass (`run_execute`):
1. Claim the run with a lease (one UPDATE; a second worker holding the same task id finds
   nothing to claim and leaves).
2. Execute steps from the cursor, each through its step kind (`registry.step_kind_get`).
3. Anything that waits (a delay, a retry backoff, child runs, a reply) parks the run in the
   database with `wake_at` and releases the worker; the sweeper or an event wakes it.
4. A pass yields after `SLICE_SECONDS` and re-enqueues itself, so a long workflow never
   reaches django-q2's task timeout.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

from django.db import transaction

from connections.models import Connection
from twilioflow.core import clock
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_data, redact_error, redact_text
from twilioflow.core.rows import row_update
from workflows.engine.attempts import attempts, deferred_writes, flush_deferred, prefetch_attempts
from workflows.engine.context import default_result, record_output
from workflows.engine.outcomes import Advance, Finish, Outcome, Park, Repeat
from workflows.engine.plan import claim, plan_for
from workflows.engine.registry import step_kind_get
from workflows.engine.retry import SLICE_SECONDS, lease_seconds, pass_deadline
from workflows.models import LIVE_RUN_STATUSES, Run, RunStatus, Step, StepStatus, WaitingFor
from workflows.runs import run_enqueue, run_finished
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

INTERNAL_ERROR = "INTERNAL_ERROR"
# How long the send gate may trust the versions the claim read (policy, prices, whether any
# consent event exists); later sends in a long pass read them again (one small query).
GATE_VERSIONS_FRESH = 1.0
STEP_NOT_FOUND = "STEP_NOT_FOUND"


@dataclass
class Slice:
    owner: str
    deadline: float
    steps: list[Step] = field(default_factory=list)


# Secret inputs of ad-hoc steps that were not stored, keyed by (run id, step name); only the
# process that created the run has them (`withheld_inputs`).
_withheld: contextvars.ContextVar[dict[tuple[int, str], dict[str, Any]] | None] = contextvars.ContextVar(
    "withheld_inputs", default=None
)


@contextlib.contextmanager
def withheld_inputs(values: dict[tuple[int, str], dict[str, Any]]) -> Iterator[None]:
    token = _withheld.set({**(_withheld.get() or {}), **values})
    try:
        yield
    finally:
        _withheld.reset(token)


# What a caller already holds for its ad-hoc runs: (workspace, connections by id). A
# campaign's slice lends its own (re-read when their `updated_at` moves), so a pass of its
# one-step runs reads neither again; anything not lent is read as usual.
_lent: contextvars.ContextVar[tuple[Workspace, dict[int, Connection]] | None] = contextvars.ContextVar(
    "adhoc_lent", default=None
)


@contextlib.contextmanager
def adhoc_lent(workspace: Workspace, connections: list[Connection]) -> Iterator[None]:
    token = _lent.set((workspace, {c.pk: c for c in connections if c.workspace_id == workspace.pk}))
    try:
        yield
    finally:
        _lent.reset(token)


def _adhoc_workspace(run: Run) -> Workspace:
    lent = _lent.get()
    if lent is not None and lent[0].pk == run.workspace_id:
        return lent[0]
    return Workspace.objects.get(pk=run.workspace_id)


def _adhoc_connections(run: Run, ids: set[Any]) -> dict[int, Connection]:
    lent = _lent.get()
    if lent is not None and lent[0].pk == run.workspace_id and ids <= set(lent[1]):
        return lent[1]
    return Connection.objects.select_related("workspace").in_bulk(ids)


def run_steps(run: Run, plan_version: tuple[str, ...]) -> list[Step]:
    """The workflow's steps (its per-process `Plan` as of the claim's `plan_version`), or
    unsaved `Step`s built from an ad-hoc run's snapshot."""
    if run.workflow_id is not None:
        return plan_for(run, plan_version).steps
    ids = {s.get("connection_id") for s in run.adhoc_steps if s.get("connection_id")}
    connections = _adhoc_connections(run, ids)
    steps = []
    for data in run.adhoc_steps:
        inputs = {**data.get("inputs", {}), **(_withheld.get() or {}).get((run.pk, data["name"]), {})}
        step = Step(
            name=data["name"],
            kind=data["kind"],
            action=data.get("action", ""),
            connection=connections.get(data.get("connection_id")),
            inputs=inputs,
            on_error=data.get("on_error", Step._meta.get_field("on_error").default),
            max_retries=data.get("max_retries", Step._meta.get_field("max_retries").default),
        )
        step.literal_inputs = bool(data.get("literal"))  # type: ignore[attr-defined]  # unsaved, ad hoc
        # A higher layer's bookkeeping around the request (workflows.step_hooks).
        step.hook = data.get("hook", "")  # type: ignore[attr-defined]
        step.hook_args = data.get("hook_args") or {}  # type: ignore[attr-defined]
        step.ledger_key = data.get("ledger_key", "")  # type: ignore[attr-defined]
        steps.append(step)
    return steps


# --- entry point -------------------------------------------------------------------------
def run_execute(run_id: int) -> str:
    """One pass over a run. Safe to call any number of times, concurrently or not."""
    owner = uuid.uuid4().hex[:12]
    claimed_at = clock.now()
    claimed = claim(run_id, owner, claimed_at)  # one UPDATE … RETURNING: lease, run, versions
    if claimed is None:
        return "not claimed"
    run = claimed.run
    if not claimed.attempted:
        prefetch_attempts(run, [])  # the step at the cursor has no attempt: nothing to ask
    run.gate_versions = (claimed.gate_versions, monotonic() + GATE_VERSIONS_FRESH)  # type: ignore[attr-defined]
    _sleep_until_due(run, claimed_at)
    pass_deadline.set(monotonic() + SLICE_SECONDS)
    try:
        if run.workflow_id is None:
            run.workspace = _adhoc_workspace(run)  # ad hoc: no plan
        work = Slice(owner=owner, deadline=pass_deadline.get(), steps=run_steps(run, claimed.plan_version))
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


def _sleep_until_due(run: Run, claimed_at: datetime) -> None:
    """A run claimed within the inline window of its `wake_at`: keep the pace exactly (and
    a run that starts with this pass starts when the sleep ends)."""
    if run.wake_at is None:
        return
    clock.sleep((run.wake_at - clock.now()).total_seconds())
    values: dict[str, Any] = {"wake_at": None}
    if run.started_at == claimed_at:
        values["started_at"] = run.started_at = clock.now()
    run.wake_at = None
    Run.objects.filter(pk=run.pk).update(**values)


def _stopped(run: Run) -> str:
    """Our lease is gone (canceled, or another worker took over): say why and leave."""
    run.status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).get()
    return f"stopped ({run.status})"


def _execute(run: Run, work: Slice) -> str:
    """Steps from the cursor. The lease owner is in the filter of every cursor write, so a
    run canceled or taken over meanwhile is noticed by the write itself (no SELECT per step).
    After a step, its closing write (`attempts.close_deferred`) and the cursor move commit
    together, in one transaction (one WAL flush on PostgreSQL, not one per statement)."""
    by_name = {step.name: step for step in work.steps}
    order = [step.name for step in work.steps]
    while True:
        if not run.current_step:
            _finish(run, Finish(RunStatus.SUCCEEDED, result=default_result(run)), owner=work.owner)
            return "succeeded" if run.status == RunStatus.SUCCEEDED else f"stopped ({run.status})"
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
        with deferred_writes() as pending:
            try:
                outcome = execute_step(run, step)
            except BaseException:
                flush_deferred(pending)  # what happened is recorded, whatever broke after
                raise
        with transaction.atomic():
            flush_deferred(pending)
            if isinstance(outcome, Finish):
                _finish(run, outcome)
                return outcome.status
            if isinstance(outcome, Park):
                _park(run, outcome)
                return f"waiting ({outcome.waiting_for})"
            next_name = _next_name(step.name, outcome.goto, order)
            if not next_name:  # the last step: the cursor moves with the final write
                run.current_step, run.sequence = "", run.sequence + 1
                _finish(run, Finish(RunStatus.SUCCEEDED, result=default_result(run)), owner=work.owner)
                return "succeeded" if run.status == RunStatus.SUCCEEDED else _stopped(run)
            if not _advance(run, next_name, work.owner):
                return _stopped(run)
        if monotonic() > work.deadline:
            _release_and_requeue(run)
            return "yielded"


def execute_step(run: Run, step: Step) -> Advance | Park | Finish:
    """The step at the cursor, through its kind; a short retry is repeated here."""
    kind = step_kind_get(step.kind)
    while True:
        previous = attempts(run)
        last = previous[-1] if previous else None
        prefetch_attempts(run, previous)  # the kind asks again first thing: one query, not two
        if last is not None and last.status == StepStatus.SUCCEEDED and kind.skip_when_succeeded:
            # The step finished but the pass died before the cursor moved: never do it again
            # (a second for_each would start every child twice), just move on as it decided.
            record_output(run, step, last.output)
            return Advance(kind.goto_after(step, last.output))
        outcome: Outcome = kind.execute(run, step)
        if not isinstance(outcome, Repeat):
            return outcome


# --- cursor and lifecycle writes -----------------------------------------------------------
def _next_name(step_name: str, goto: str | None, order: list[str]) -> str:
    if goto == "end":
        return ""
    if goto and goto != "next":
        return goto
    index = order.index(step_name) + 1
    return order[index] if index < len(order) else ""


def _advance(run: Run, next_name: str, owner: str) -> bool:
    """Move the cursor, while the run is still ours; False when it is not any more."""
    run.current_step = next_name
    run.sequence += 1
    return bool(
        row_update(
            Run,
            {"pk": run.pk, "status": RunStatus.RUNNING, "lease_owner": owner},
            {
                "current_step": run.current_step,
                "sequence": run.sequence,
                "context": run.context,
                "search_text": run.search_text,
                "lease_expires_at": clock.now() + timedelta(seconds=lease_seconds()),
            },
        )
    )


def _park(run: Run, park: Park) -> None:
    run.status, run.waiting_for, run.wake_at = RunStatus.WAITING, park.waiting_for, park.wake_at
    row_update(
        Run,
        {"pk": run.pk, "status": RunStatus.RUNNING},
        {
            "status": RunStatus.WAITING,
            "waiting_for": park.waiting_for,
            "wake_at": park.wake_at,
            "context": run.context,
            "lease_expires_at": None,
            "lease_owner": "",
        },
    )


def _release_and_requeue(run: Run) -> None:
    Run.objects.filter(pk=run.pk).update(lease_expires_at=None, lease_owner="")
    run_enqueue(run.pk)


def _finish(run: Run, finish: Finish, owner: str | None = None) -> None:
    """The final write (with the cursor, the search text and the redacted context). With
    `owner`, only while the lease is still ours."""
    now = clock.now()
    error = redact_error(finish.error) if finish.error else None
    # Once per run, the whole context too: whatever a step put there, none of it stays secret.
    # Step outputs enter it only through `record_output`, which redacted them already.
    steps = run.context.get("steps")
    run.context = redact_data({key: value for key, value in run.context.items() if key != "steps"})
    if steps is not None:
        run.context["steps"] = steps
    live: dict[str, Any] = {"pk": run.pk, "status": sorted(LIVE_RUN_STATUSES)}
    if owner is not None:
        live = {"pk": run.pk, "status": RunStatus.RUNNING, "lease_owner": owner}
    updated = row_update(
        Run,
        live,
        {
            "current_step": run.current_step,
            "sequence": run.sequence,
            "search_text": run.search_text,
            "status": finish.status,
            "finished_at": now,
            "result": redact_data(finish.result),
            "context": run.context,
            "error_code": error.code if error else "",
            "error_message": error.message if error else "",
            "lease_expires_at": None,
            "lease_owner": "",
            "wake_at": None,
            "waiting_for": WaitingFor.NOTHING,
        },
    )
    if updated:
        run.status = finish.status
        run_finished(run)
    elif owner is not None:
        run.status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).get()
