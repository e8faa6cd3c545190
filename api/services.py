"""The API's writes: run starts with idempotency keys and waiting, connection edits and
workflow replacement. Everything else calls the owning app's services directly."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from api.models import IdempotencyRecord
from connections.models import Connection
from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError, validation_error
from workflows.models import Run, Workflow
from workflows.services import run_create
from workflows.transfer import workflow_import

IDEMPOTENCY_HOURS = 24
WAIT_POLL_SECONDS = 0.2


def max_wait_seconds() -> float:
    return float(getattr(settings, "API_MAX_WAIT_SECONDS", 60))


@dataclass
class Started:
    run: Run
    replayed: bool  # an earlier request with the same Idempotency-Key created it


def request_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def run_start(
    *,
    workflow: Workflow,
    payload: dict[str, Any],
    variables: dict[str, Any],
    idempotency_key: str = "",
) -> Started:
    """Start a run of `workflow` (source `api`), enqueued on commit.

    With an Idempotency-Key, the same key and the same body return the same run for
    IDEMPOTENCY_HOURS; the same key with another body is IDEMPOTENCY_KEY_REUSED. The key's
    row is inserted before the run, in the same transaction, under a unique index: of ten
    concurrent identical requests one inserts, the others wait on the index (PostgreSQL)
    or the write lock (SQLite) and then read its run."""
    if not workflow.enabled:
        raise TwilioFlowError(
            errors.CONFLICT, f"Workflow {workflow.name!r} is disabled; enable it to start runs."
        )

    def create() -> Run:
        return run_create(workflow=workflow, payload=payload, variables=variables, source="api")

    if not idempotency_key:
        return Started(create(), replayed=False)
    if len(idempotency_key) > 255:
        raise validation_error({"Idempotency-Key": "At most 255 characters."})
    digest = request_hash({"workflow": workflow.pk, "payload": payload, "variables": variables})
    now = clock.now()
    with transaction.atomic():
        IdempotencyRecord.objects.filter(
            workspace_id=workflow.workspace_id,
            key=idempotency_key,
            created_at__lt=now - timedelta(hours=IDEMPOTENCY_HOURS),
        ).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    workspace_id=workflow.workspace_id,
                    key=idempotency_key,
                    request_hash=digest,
                    created_at=now,
                )
        except IntegrityError:
            earlier = IdempotencyRecord.objects.select_related("run").get(
                workspace_id=workflow.workspace_id, key=idempotency_key
            )
            if earlier.request_hash != digest or earlier.run is None:
                raise TwilioFlowError(
                    errors.IDEMPOTENCY_KEY_REUSED,
                    "This Idempotency-Key was used with a different request in the last "
                    f"{IDEMPOTENCY_HOURS} hours; use a new key for a new run.",
                    fields={"Idempotency-Key": ["Used before with another request."]},
                ) from None
            return Started(earlier.run, replayed=True)
        run = create()
        record.run = run
        record.save(update_fields=["run"])
    return Started(run, replayed=False)


def run_wait(run: Run, seconds: float) -> Run:
    """Hold until the run is final or `seconds` (capped) have passed; the run as it is then."""
    deadline = time.monotonic() + min(max(seconds, 0), max_wait_seconds())
    while True:
        run.refresh_from_db()
        remaining = deadline - time.monotonic()
        if run.is_final or remaining <= 0:
            return run
        time.sleep(min(WAIT_POLL_SECONDS, remaining))


def connection_update(*, connection: Connection, data: dict[str, Any]) -> Connection:
    """Change a connection's name or credentials; a blank secret keeps the stored one."""
    for name in ("name", "kind", "account_sid", "api_key_sid"):
        if name in data:
            setattr(connection, name, str(data[name]).strip())
    for secret in ("auth_token", "api_key_secret"):
        if data.get(secret):
            setattr(connection, secret, data[secret].strip())
    connection.full_clean()
    connection.save()
    return connection


@transaction.atomic
def workflow_replace(
    *, workflow: Workflow, document: dict[str, Any], overwrite_shared: bool = False
) -> Workflow:
    """Overwrite a workflow (renaming it when the document names it differently) from a
    twilioflow/workflow@1 document; all or nothing, like the import."""
    name = str(document.get("name") or "").strip()
    if name and name != workflow.name:
        if Workflow.objects.filter(workspace_id=workflow.workspace_id, name=name).exists():
            raise validation_error({"name": "Another workflow of the workspace has this name."})
        Workflow.objects.filter(pk=workflow.pk).update(name=name)
    return workflow_import(
        workspace=workflow.workspace, document=document, replace=True, overwrite_shared=overwrite_shared
    )


def workflow_check(
    *, workspace: Any, document: Any, workflow: Workflow | None = None, overwrite_shared: bool = False
) -> dict[str, list[str]]:
    """Every problem of a document, by path, without saving anything."""
    try:
        with transaction.atomic():
            if workflow is not None:
                workflow_replace(workflow=workflow, document=document, overwrite_shared=overwrite_shared)
            else:
                workflow_import(workspace=workspace, document=document, overwrite_shared=overwrite_shared)
            transaction.set_rollback(True)
    except TwilioFlowError as error:
        return error.fields or {"__all__": [error.message]}
    return {}
