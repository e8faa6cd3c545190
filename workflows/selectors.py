from django.db.models import Q

from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from workflows.models import Workflow


def workflow_get(*, ref: str, workspace_slug: str | None = None) -> Workflow:
    """A workflow by id or name (with the workspace slug when names collide)."""
    queryset = Workflow.objects.select_related("workspace")
    if workspace_slug:
        queryset = queryset.filter(workspace__slug=workspace_slug)
    matches = list(queryset.filter(pk=int(ref)) if ref.isdigit() else queryset.filter(name=ref))
    if not matches:
        where = f" in workspace {workspace_slug!r}" if workspace_slug else ""
        raise TwilioFlowError(errors.NOT_FOUND, f"No workflow {ref!r}{where}.")
    if len(matches) > 1:
        raise TwilioFlowError(
            errors.VALIDATION_ERROR,
            f"Several workflows are called {ref!r}; pass --workspace or use the id.",
            fields={"workflow": ["Ambiguous."]},
        )
    return matches[0]


# --- which connection a record belongs to (webhook lookups are scoped to it) ---------------
def step_run_connection_id(step_run) -> int | None:
    """The connection whose credentials made the step run's request.

    Recorded on the row since it exists; for older rows (and rows written outside the
    engine) it is found from the workflow's step of that name, else the workspace's only
    connection. None when it cannot be told: such a row is never matched by a webhook."""
    if step_run.connection_id:
        return step_run.connection_id
    from connections.models import Connection
    from workflows.models import Step

    run = step_run.run
    step_connection = (
        Step.objects.filter(workflow_id=run.workflow_id, name=step_run.step_name, connection__isnull=False)
        .values_list("connection_id", flat=True)
        .first()
    )
    if step_connection:
        return step_connection
    only = list(Connection.objects.filter(workspace_id=run.workspace_id).values_list("id", flat=True)[:2])
    return only[0] if len(only) == 1 else None


def step_run_for_delivery(*, connection, sid: str):
    """The newest step run that created message/call `sid` through `connection`, or None.

    A status callback is signed by one connection's Auth Token; a SID alone would let a
    callback to workspace A (or to account X of one workspace) rewrite B's tracking."""
    from workflows.models import StepRun

    candidates = (
        StepRun.objects.filter(twilio_sid=sid, run__workspace_id=connection.workspace_id)
        .select_related("run")
        .order_by("-id")[:20]
    )
    for step_run in candidates:
        if step_run_connection_id(step_run) == connection.pk:
            return step_run
    return None


def reply_connection_for(run, number: str):
    """The connection on which a reply to `number` for this run will arrive, or None.

    In order: the trigger that started the run (or its ancestors), the synced phone number
    `number` in the run's workspace, the connection of the run's latest Twilio request, the
    workspace's only connection."""
    # Triggers and synced numbers are reached through their relations (Run.trigger,
    # Connection.phone_numbers), never by importing the triggers app: it sits above us.
    from connections.models import Connection
    from workflows.models import Run, StepRun

    workspace_id = run.workspace_id
    node, seen = run, set()
    while node is not None and node.pk not in seen:
        seen.add(node.pk)
        if node.trigger_id:
            connection_id = (
                Run.objects.filter(pk=node.pk, trigger__connection__workspace_id=workspace_id)
                .values_list("trigger__connection_id", flat=True)
                .first()
            )
            if connection_id:
                return Connection.objects.get(pk=connection_id)
        node = Run.objects.filter(pk=node.parent_id).first() if node.parent_id else None
    owner = Connection.objects.filter(workspace_id=workspace_id, phone_numbers__phone_number=number).first()
    if owner is not None:
        return owner
    sent = (
        StepRun.objects.filter(run=run, connection__isnull=False, connection__workspace_id=workspace_id)
        .select_related("connection")
        .order_by("-id")
        .first()
    )
    if sent is not None:
        return sent.connection
    only = list(Connection.objects.filter(workspace_id=workspace_id)[:2])
    return only[0] if len(only) == 1 else None


def gather_run_for(*, connection, run_id):
    """The run `run_id` if a trigger of this very connection started it, else None.

    The run id is in the URL, i.e. chosen by whoever signs the request: only runs started by
    a trigger of the connection whose Auth Token signed it may be continued (or have their
    trigger's voice answer read)."""
    from workflows.models import Run

    try:
        run_id = int(run_id)
    except (TypeError, ValueError):
        return None
    return (
        Run.objects.select_related("trigger")
        .filter(pk=run_id, trigger__connection=connection, workspace_id=connection.workspace_id)
        .first()
    )


# --- the admin's reads ------------------------------------------------------------------------
def workflows_with_last_run(queryset):
    """Workflows annotated with their step count and their latest run (id, status, time)."""
    from django.db.models import Count, OuterRef, Subquery

    from workflows.models import Run

    last = Run.objects.filter(workflow=OuterRef("pk")).order_by("-created_at", "-id")
    return queryset.annotate(
        _step_count=Count("steps", distinct=True),
        _last_run_id=Subquery(last.values("id")[:1]),
        _last_run_status=Subquery(last.values("status")[:1]),
        _last_run_at=Subquery(last.values("created_at")[:1]),
    )


def runs_for_trigger_event(*, event_id: int) -> list:
    """The runs a trigger event started, oldest first."""
    from workflows.models import Run

    return list(Run.objects.filter(trigger_event_id=event_id).select_related("workflow").order_by("id"))


def run_timeline(run) -> list[dict]:
    """The run's step runs in sequence/attempt order, redacted (again: records older than the
    current rules stay safe), each with its exchanges and, for a for_each / run_workflow
    step, its children's count per status."""
    from collections import defaultdict

    from django.db.models import Count

    from twilioflow.core.redaction import redact_data, redact_text
    from workflows.models import Run, StepKind, StepRun

    children: dict[int, dict[str, int]] = defaultdict(dict)
    for row in Run.objects.filter(parent=run).values("parent_sequence", "status").annotate(n=Count("id")):
        children[row["parent_sequence"]][row["status"]] = row["n"]
    sending = set()
    if children:
        sending = set(
            StepRun.objects.filter(run__parent=run, kind=StepKind.ACTION, action__in=list(_sending_actions()))
            .values_list("run__parent_sequence", flat=True)
            .distinct()
        )
    entries = []
    for step_run in StepRun.objects.filter(run=run).order_by("sequence", "attempt", "id"):
        has_children = step_run.kind in (StepKind.FOR_EACH, StepKind.RUN_WORKFLOW)
        entries.append(
            {
                "step_run": step_run,
                "inputs": redact_data(step_run.inputs),
                "output": redact_data(step_run.output),
                "error_message": redact_text(step_run.error_message),
                "exchanges": [e for e in redact_data(step_run.exchanges or []) if isinstance(e, dict)],
                "children": children.get(step_run.sequence) if has_children else None,
                "children_send": step_run.sequence in sending,
            }
        )
    return entries


# --- what a replay would send ------------------------------------------------------------------
# How a send is named in a confirmation ("This will send 1 SMS to +1415…").
SEND_NOUNS = {
    "twilio/send-sms": "SMS",
    "twilio/send-mms": "MMS",
    "twilio/send-whatsapp": "WhatsApp message",
    "twilio/make-call": "call",
    "twilio/say-call": "call",
    "twilio/send-conversation-message": "Conversations message",
    "twilio/start-verification": "verification",
}


def _sending_actions() -> dict[str, str]:
    """Action slug → noun, for every action that creates something at Twilio (not idempotent)."""
    from actions.registry import action_list

    return {a.slug: SEND_NOUNS.get(a.slug, a.title) for a in action_list() if not a.idempotent}


def runs_sends(run_ids) -> dict[int, list[dict]]:
    """For each run, the sends it (and its direct children) made or may have made: one entry
    `{"noun", "to", "action", "run_id"}` per step that sent (succeeded, outcome unknown, or
    caught mid-request). Replaying the run would make these sends again."""
    from workflows.models import StepKind, StepRun, StepStatus

    ids = list(run_ids)
    nouns = _sending_actions()
    sends: dict[int, list[dict]] = {run_id: [] for run_id in ids}
    rows = (
        StepRun.objects.filter(
            kind=StepKind.ACTION,
            action__in=list(nouns),
            status__in=[StepStatus.SUCCEEDED, StepStatus.UNKNOWN, StepStatus.DISPATCHING],
        )
        .filter(Q(run_id__in=ids) | Q(run__parent_id__in=ids))
        .values_list("run_id", "run__parent_id", "sequence", "action", "inputs")
        .order_by("run_id", "sequence", "attempt")
    )
    seen = set()
    for run_id, parent_id, sequence, action, inputs in rows:
        if (run_id, sequence) in seen:
            continue
        seen.add((run_id, sequence))
        owner = run_id if run_id in sends else parent_id
        if owner is None:
            continue
        to = ""
        if isinstance(inputs, dict):
            to = str(inputs.get("To") or inputs.get("to") or "")
        sends[owner].append({"noun": nouns[action], "to": to, "action": action, "run_id": run_id})
    return sends


def sends_sentence(sends: list[dict], *, limit: int = 3) -> str:
    """ "1 SMS to +14155552671", "2 SMS (to +1415…, +1415…) and 1 call to +1212…"."""
    from collections import OrderedDict

    by_noun: OrderedDict[str, list[str]] = OrderedDict()
    for send in sends:
        by_noun.setdefault(send["noun"], []).append(send["to"])
    parts = []
    for noun, recipients in by_noun.items():
        count = len(recipients)
        plural = noun if count == 1 or noun in ("SMS", "MMS") else f"{noun}s"
        shown = [r for r in dict.fromkeys(recipients) if r][:limit]
        more = len({r for r in recipients if r}) - len(shown)
        where = f" to {', '.join(shown)}" + (f" and {more} more" if more > 0 else "") if shown else ""
        parts.append(f"{count} {plural}{where}")
    return " and ".join(parts)


def runs_with_recipient(queryset):
    """Runs annotated with `_recipient`: the `To` of their latest sending step (else the
    item's or the trigger's `To`), for the runs list."""
    from django.db.models import OuterRef, Subquery
    from django.db.models.fields.json import KT

    from workflows.models import StepKind, StepRun

    latest = StepRun.objects.filter(run=OuterRef("pk"), kind=StepKind.ACTION, inputs__has_key="To").order_by(
        "-sequence", "-attempt"
    )
    return queryset.annotate(_recipient=Subquery(latest.annotate(to=KT("inputs__To")).values("to")[:1]))


def children_retries(run) -> list:
    """Runs that retried this run's failed children, oldest first."""
    from workflows.models import Run

    return list(Run.objects.filter(replay_of__parent=run).order_by("id"))


# --- the workflow editor ----------------------------------------------------------------------
def workflow_names_in(workspace_id: int | None) -> list[str]:
    """The names of a workspace's workflows (the sub-workflow pickers)."""
    if not workspace_id:
        return []
    names = Workflow.objects.filter(workspace_id=workspace_id).order_by("name").values_list("name", flat=True)
    return list(names)
