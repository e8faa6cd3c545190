"""The claim, and what a pass needs of its workflow, read once per change and not per pass.

Issue 10's profile: reloading the run, then the workflow's steps with their connections
(decrypting the secrets) and workspace on every pass was a quarter of an engine step. Now:

- `claim(run_id, owner, now)` is ONE statement: the lease UPDATE, whose RETURNING gives the
  run's row and, as scalar subqueries, the versions of everything cached here (the workflow,
  its workspace, the count and latest `updated_at` of its steps and of their connections)
  and of what the send gate reads (`compliance.policy_cache.version_columns`).
- `Plan` (per workflow, per process): the workflow, workspace and steps with their
  connections (decrypted once), rebuilt when a version moves. Any save in the admin, the
  API or a command moves `updated_at`, so every worker sees a change on its next pass, with
  no shared cache to invalidate (as `triggers/routing.py` does for webhooks).

The cached objects are shared between passes: the engine reads them and never writes them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection as db

from compliance.policy_cache import GateVersions, version_columns, versions_from
from connections.models import Connection
from workflows.engine.retry import INLINE_WAIT_MAX, lease_seconds
from workflows.models import Run, RunStatus, Step, StepRun, WaitingFor, Workflow
from workspaces.models import Workspace

_PLAN_VERSION = """
(SELECT f.updated_at FROM {workflow} f WHERE f.id = {run}.workflow_id),
(SELECT w.updated_at FROM {workspace} w WHERE w.id = {run}.workspace_id),
(SELECT COUNT(*) FROM {step} s WHERE s.workflow_id = {run}.workflow_id),
(SELECT MAX(s.updated_at) FROM {step} s WHERE s.workflow_id = {run}.workflow_id),
(SELECT MAX(c.updated_at) FROM {connection} c
  WHERE c.id IN (SELECT s.connection_id FROM {step} s WHERE s.workflow_id = {run}.workflow_id))
"""
PLAN_PARTS = 5
GATE_PARTS = 4
# Whether the step at the cursor has any attempt yet (none: the pass need not ask).
_ATTEMPTED = (
    "(SELECT 1 FROM {steprun} a WHERE a.run_id = {run}.id AND a.sequence = {run}.sequence + 1 LIMIT 1)"
)


@dataclass
class Plan:
    version: tuple[str, ...]
    workflow: Workflow
    workspace: Workspace
    steps: list[Step]


@dataclass
class Claimed:
    run: Run
    plan_version: tuple[str, ...]
    gate_versions: GateVersions
    attempted: bool  # the step at the cursor has attempts (else there is nothing to read)


# Quoted identifiers from the models are formatted in; every value is a parameter. A run due
# within the inline window may be claimed and slept for (smooth rate limits).
_CLAIM = (
    "UPDATE {run} SET status = %s, lease_owner = %s, lease_expires_at = %s, enqueued_at = NULL, "
    "started_at = COALESCE(started_at, %s), waiting_for = %s "
    "WHERE id = %s AND status IN (%s, %s) AND (lease_expires_at IS NULL OR lease_expires_at < %s) "
    "AND (wake_at IS NULL OR wake_at <= %s) "
    "RETURNING {columns}, {named}"
)
_sql: str | None = None
_plans: dict[int, Plan] = {}
_lock = threading.Lock()


def _claim_sql() -> str:
    global _sql
    if _sql is None:
        quote = db.ops.quote_name
        run = quote(Run._meta.db_table)
        columns = ", ".join(quote(f.column) for f in Run._meta.concrete_fields)
        plan = _PLAN_VERSION.format(
            run=run,
            workflow=Workflow._meta.db_table,
            workspace=Workspace._meta.db_table,
            step=Step._meta.db_table,
            connection=Connection._meta.db_table,
        ).split(",\n")
        extras = [
            *plan,
            *version_columns(f"{run}.workspace_id"),
            _ATTEMPTED.format(steprun=StepRun._meta.db_table, run=run),
        ]
        # Named columns: RawQuerySet sets each on the instance by name.
        named = ", ".join(f"{expression.strip()} AS tf_v{i}" for i, expression in enumerate(extras))
        _sql = _CLAIM.format(run=run, columns=columns, named=named)
    return _sql


def claim(run_id: int, owner: str, now: datetime) -> Claimed | None:
    """The lease (owner, expiry, start time, a cleared wait) in one UPDATE; None when the run
    is not claimable (finished, leased by a live worker, not due)."""
    stamp = db.ops.adapt_datetimefield_value
    params: list[Any] = [
        RunStatus.RUNNING,
        owner,
        stamp(now + timedelta(seconds=lease_seconds())),
        stamp(now),
        WaitingFor.NOTHING,
        run_id,
        RunStatus.PENDING,
        RunStatus.RUNNING,
        stamp(now),
        stamp(now + timedelta(seconds=INLINE_WAIT_MAX)),
    ]
    with db.cursor() as cursor:
        cursor.execute(_claim_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    run = _run_from_row(row)
    parts = row[len(_RUN_FIELDS) :]
    return Claimed(
        run=run,
        plan_version=tuple(str(part) for part in parts[:PLAN_PARTS]),
        gate_versions=versions_from(parts[PLAN_PARTS:-1]),
        attempted=parts[-1] is not None,
    )


_RUN_FIELDS = Run._meta.concrete_fields
_converters: dict[str, dict[int, Any]] = {}


def _run_from_row(row: tuple[Any, ...]) -> Run:
    """A Run from the claim's columns, converted as the ORM would (JSON, datetimes…), with
    the converters worked out once per database instead of per row."""
    converters = _converters.get(db.alias)
    if converters is None:
        compiler = Run.objects.all().query.get_compiler(connection=db)
        columns = [f.get_col(Run._meta.db_table) for f in _RUN_FIELDS]
        converters = _converters[db.alias] = compiler.get_converters(columns)
    values = list(row[: len(_RUN_FIELDS)])
    for position, (functions, expression) in converters.items():
        value = values[position]
        for function in functions:
            value = function(value, expression, db)
        values[position] = value
    return Run.from_db(db.alias, [f.attname for f in _RUN_FIELDS], values)


def plan_for(run: Run, version: tuple[str, ...]) -> Plan:
    """The workflow's plan as of `version` (built when it moved), attached to `run`."""
    assert run.workflow_id is not None
    plan = _plans.get(run.workflow_id)
    if plan is None or plan.version != version:
        plan = _build(run.workflow_id, version)
        with _lock:
            _plans[run.workflow_id] = plan
    run.workflow = plan.workflow
    run.workspace = plan.workspace
    return plan


def _build(workflow_id: int, version: tuple[str, ...]) -> Plan:
    workflow = Workflow.objects.select_related("workspace").get(pk=workflow_id)
    steps = list(workflow.steps.select_related("connection", "connection__workspace"))
    for step in steps:
        step.workflow = workflow
    return Plan(version=version, workflow=workflow, workspace=workflow.workspace, steps=steps)


def plan_forget() -> None:
    """Drop every cached plan (tests that rewrite rows without moving `updated_at`)."""
    with _lock:
        _plans.clear()
