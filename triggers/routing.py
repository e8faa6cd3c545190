"""What a webhook needs to know about its connection, read once per change, not per request.

Every signed request needs the connection (with its decrypted Auth Token and workspace) and,
for its kind, the triggers that listen (with their workflow and its first step). Loading and
decrypting those through the ORM on every request cost about a third of a webhook's time
(issue 10's profile), so each process keeps them and checks, with ONE small raw query, that
nothing they were built from has changed since: the connection's and workspace's
`updated_at`, the workspace's send policy's `updated_at` (the inbound path reads its consent
keywords and help text), and the latest `updated_at` and the count of the connection's
triggers, of their workflows and of those workflows' steps. Any save in the admin, the API or a command
moves one of these, so every process sees a change on its next request, without a shared
cache to invalidate. The same query says whether any reply wait is open on the connection,
so an inbound message skips the reply lookup when nothing waits (the common case).

Reads only, outside the event's write transaction: on SQLite that transaction holds the
database's one write lock, and nothing here should be done while holding it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django.db import connection as db

from compliance.models import SendPolicy
from connections.models import Connection
from triggers.models import Trigger

# One row per connection; each part is cheap on the FK indexes. Table names come from the
# models so a rename cannot silently break the check.
_VERSION_SQL = """
SELECT c.id, c.updated_at, w.updated_at,
  (SELECT COUNT(*) FROM {trigger} t WHERE t.connection_id = c.id),
  (SELECT MAX(t.updated_at) FROM {trigger} t WHERE t.connection_id = c.id),
  (SELECT COUNT(*) FROM {workflow} f WHERE f.id IN ({workflows})),
  (SELECT MAX(f.updated_at) FROM {workflow} f WHERE f.id IN ({workflows})),
  (SELECT SUM(CASE WHEN f.enabled THEN 1 ELSE 0 END) FROM {workflow} f WHERE f.id IN ({workflows})),
  (SELECT COUNT(*) FROM {step} s WHERE s.workflow_id IN ({workflows})),
  (SELECT MAX(s.updated_at) FROM {step} s WHERE s.workflow_id IN ({workflows})),
  (SELECT p.updated_at FROM {policy} p WHERE p.workspace_id = w.id),
  EXISTS(SELECT 1 FROM {wait} r WHERE r.connection_id = c.id AND r.status = %s)
FROM {connection} c JOIN {workspace} w ON w.id = c.workspace_id
WHERE c.public_id = %s
"""
_WORKFLOWS = "SELECT t.workflow_id FROM {trigger} t WHERE t.connection_id = c.id"


@dataclass
class Routing:
    """A connection and its listening triggers, as of `version`."""

    version: tuple[Any, ...]
    connection: Connection
    triggers: list[Trigger]
    first_steps: dict[int, str]  # workflow id → its first step's name
    by_kind: dict[str, list[Trigger]] = field(default_factory=dict)
    open_waits: bool = False

    def candidates(self, kind: str) -> list[Trigger]:
        if kind not in self.by_kind:
            self.by_kind[kind] = [t for t in self.triggers if t.kind == kind]
        return self.by_kind[kind]


_cache: dict[str, Routing] = {}
_lock = threading.Lock()


def _sql() -> str:
    from workflows.models import ReplyWait, Step, Workflow
    from workspaces.models import Workspace

    return _VERSION_SQL.format(
        policy=SendPolicy._meta.db_table,
        workflows=_WORKFLOWS.format(trigger=Trigger._meta.db_table),
        trigger=Trigger._meta.db_table,
        workflow=Workflow._meta.db_table,
        step=Step._meta.db_table,
        wait=ReplyWait._meta.db_table,
        connection=Connection._meta.db_table,
        workspace=Workspace._meta.db_table,
    )


def routing_for(public_id: Any) -> Routing | None:
    """The connection with this public id and its triggers, or None when there is none."""
    from workflows.models import ReplyWaitStatus

    key = str(public_id)
    prepared = Connection._meta.get_field("public_id").get_db_prep_value(public_id, db)
    with db.cursor() as cursor:
        cursor.execute(_sql(), [ReplyWaitStatus.OPEN, prepared])
        row = cursor.fetchone()
    if row is None:
        return None
    version, open_waits = tuple(str(part) for part in row[:-1]), bool(row[-1])
    cached = _cache.get(key)
    if cached is None or cached.version != version:
        cached = _load(version, public_id)
        if cached is None:
            return None
        with _lock:
            _cache[key] = cached
    # A copy per request: `open_waits` is this request's, the rest is shared and read-only.
    return Routing(
        version=cached.version,
        connection=cached.connection,
        triggers=cached.triggers,
        first_steps=cached.first_steps,
        by_kind=cached.by_kind,
        open_waits=open_waits,
    )


def _load(version: tuple[Any, ...], public_id: Any) -> Routing | None:
    from workflows.models import Step

    connection = Connection.objects.select_related("workspace").filter(public_id=public_id).first()
    if connection is None:
        return None
    triggers = list(
        Trigger.objects.filter(connection=connection)
        .select_related("workflow", "workspace", "connection", "connection__workspace")
        .order_by("id")
    )
    first_steps: dict[int, str] = {}
    for workflow_id, name in (
        Step.objects.filter(workflow_id__in={t.workflow_id for t in triggers})
        .order_by("workflow_id", "position", "id")
        .values_list("workflow_id", "name")
    ):
        first_steps.setdefault(workflow_id, name)
    for trigger in triggers:
        trigger.connection = connection  # one object: its decrypted token is read once
    # The workspace's send policy (consent keywords, help text) comes with it, checked by the
    # same query; a workspace without one yet gets the defaults, unsaved (no write here).
    workspace = connection.workspace
    workspace.send_policy = SendPolicy.objects.filter(workspace=workspace).first() or SendPolicy(
        workspace=workspace
    )
    return Routing(version=version, connection=connection, triggers=triggers, first_steps=first_steps)


def routing_forget() -> None:
    """Drop every cached connection (tests that rewrite rows without moving `updated_at`)."""
    with _lock:
        _cache.clear()
