"""Campaign services: create, fill the audience, start / pause / resume / cancel, and the
worker that sends (`campaign_advance`, called by django-q2 tasks or `campaign_send --inline`).

Never twice, nothing lost, per recipient:
- one transaction creates the recipient's run and moves it `pending` → `sending` (a
  conditional update, so two workers cannot both take it); a recipient never gets a second
  run;
- the run goes through the engine (the send gate, a `dispatching` record before the request,
  the result after), so a worker killed mid-request leaves a run that the next pass
  reconciles with Twilio instead of resending;
- a recipient found `sending` is settled from its run, or its run resumed, never re-sent.

Pacing: each send books a slot of the sender's shared schedule first (`campaigns.pacing`).
The gate is asked once per recipient before its run exists (`record=False`): a refusal
(opted out, sender unfit, window closed, cap) marks the recipient with the code and costs
no slot; quiet hours in the recipient's zone defer it (`not_before`) so that the window's
opening is paced like the rest. The engine asks the gate again at send time and records
the spend under `campaign:<id>:<recipient>`.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import Min, Q, QuerySet
from django.db.models.functions import Mod

from actions.registry import action_get
from campaigns.audience import Audience, RowProblem, audience_from_csv, audience_from_list
from campaigns.models import (
    Campaign,
    CampaignLane,
    CampaignRecipient,
    CampaignStatus,
    Channel,
    RecipientState,
)
from campaigns.pacing import bucket_key, sender_rate, slot_reserve
from compliance.gate import REFUSE, WAIT, send_gate
from compliance.policy_cache import GateVersions, versions_read
from compliance.selectors import consent_state
from compliance.senders import sender_problem
from connections.services import client_for_connection
from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.inserts import insert_prepare
from workflows.models import FINAL_RUN_STATUSES, Run, RunStatus, StepRun
from workflows.runs import run_build, task_broker
from workflows.services import adhoc_lent, run_execute, run_execute_inline
from workflows.templating import check_syntax, render_value

logger = logging.getLogger(__name__)

TASK = "campaigns.tasks.campaign_lane_task"
SLICE_SECONDS = 8.0  # one task's share of work before it hands over to the next
# A lane's lease outlives its slice by this much; a worker killed mid-slice is replaced by
# the minute tick once it lapses (CAMPAIGN_LANE_LEASE_SECONDS).
LEASE_MARGIN = float(getattr(settings, "TWILIOFLOW_CAMPAIGN_LANE_LEASE_SECONDS", 60))
STALE_ENQUEUE = dt.timedelta(minutes=3)
STATUS_CHECK_SECONDS = 0.5  # how often a worker looks for pause / cancel
CHUNK = 200
MAX_WORKERS = 8
SMS_ACTION = "twilio/send-sms"
WHATSAPP_ACTION = "twilio/send-whatsapp"
WHATSAPP = "whatsapp:"


def _lease_free(now: dt.datetime) -> Q:
    return Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)


def _due(now: dt.datetime) -> Q:
    return Q(not_before__isnull=True) | Q(not_before__lte=now)


def _invalid(fields: Mapping[str, str]) -> TwilioFlowError:
    return TwilioFlowError(
        errors.VALIDATION_ERROR,
        " ".join(fields.values()),
        fields={name: [message] for name, message in fields.items()},
    )


# --- create ---------------------------------------------------------------------------------
def campaign_problems(campaign: Campaign) -> dict[str, str]:
    """What is wrong with a campaign's definition, per field (empty: nothing)."""
    problems: dict[str, str] = {}
    workspace_id = campaign.workspace_id
    if campaign.connection_id and campaign.connection.workspace_id != workspace_id:
        problems["connection"] = "Pick a connection of this workspace."
    if campaign.workflow is not None:
        if campaign.workflow.workspace_id != workspace_id:
            problems["workflow"] = "Pick a workflow of this workspace."
        if campaign.body.strip() or campaign.content_sid:
            problems["body"] = "A campaign runs a workflow or sends a message, not both."
    elif not campaign.body.strip() and not campaign.content_sid:
        problems["body"] = "Write the message (or pick a workflow, or a WhatsApp template ContentSid)."
    if campaign.content_sid and campaign.channel != Channel.WHATSAPP:
        problems["content_sid"] = "Templates (ContentSid) are for WhatsApp campaigns."
    for name in ("body", "media_url"):
        for messages in check_syntax(getattr(campaign, name), field=name).values():
            problems.setdefault(name, "; ".join(messages))
    if not isinstance(campaign.content_variables, dict):
        problems["content_variables"] = 'Expected a JSON object, e.g. {"1": "{{ first_name }}"}.'
    sender = sender_for_channel(campaign.channel, campaign.sender)
    channel = "whatsapp" if campaign.channel == Channel.WHATSAPP else "sms"
    problem = sender_problem(channel, sender, "") if sender else "Give the sender (From)."
    if problem:
        problems["sender"] = problem
    if campaign.mps is not None and not (Decimal("0.01") <= campaign.mps <= Decimal(1000)):
        problems["mps"] = "Between 0.01 and 1,000 messages per second."
    if not 1 <= (campaign.workers or 0) <= MAX_WORKERS:
        problems["workers"] = f"Between 1 and {MAX_WORKERS}."
    return problems


def sender_for_channel(channel: str, sender: str) -> str:
    """A WhatsApp campaign's number sender gets its whatsapp: prefix (a Messaging Service
    SID stays as it is)."""
    sender = sender.strip()
    if channel != Channel.WHATSAPP or not sender or sender.startswith("MG"):
        return sender
    return sender if sender.lower().startswith(WHATSAPP) else WHATSAPP + sender


def campaign_create(*, workspace, name: str, connection, sender: str, **fields: Any) -> Campaign:
    """A draft campaign; VALIDATION_ERROR (per field) when it could not send."""
    campaign = Campaign(
        workspace=workspace, name=name, connection=connection, sender=sender.strip(), **fields
    )
    campaign.sender = sender_for_channel(campaign.channel, campaign.sender)
    problems = campaign_problems(campaign)
    if not name.strip():
        problems["name"] = "Give the campaign a name."
    if problems:
        raise _invalid(problems)
    campaign.save()
    return campaign


# What a draft's update may change (the workspace and the progress fields never).
EDITABLE_FIELDS = (
    "name",
    "connection",
    "workflow",
    "channel",
    "body",
    "media_url",
    "content_sid",
    "content_variables",
    "sender",
    "mps",
    "workers",
    "start_at",
)


def _require_draft(campaign: Campaign, doing: str) -> None:
    if campaign.status != CampaignStatus.DRAFT:
        raise TwilioFlowError(
            errors.CONFLICT,
            f"Only a draft campaign can be {doing}; this one is {campaign.get_status_display().lower()}.",
        )


def campaign_update(*, campaign: Campaign, **fields: Any) -> Campaign:
    """Change a draft (what is sent and from where stays fixed once it started): CONFLICT
    when it is not a draft, VALIDATION_ERROR (per field) when it could not send."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise _invalid({name: "Cannot be changed." for name in sorted(unknown)})
    _require_draft(campaign, "changed")
    for name, value in fields.items():
        setattr(campaign, name, value)
    campaign.sender = sender_for_channel(campaign.channel, campaign.sender)
    problems = campaign_problems(campaign)
    if not campaign.name.strip():
        problems["name"] = "Give the campaign a name."
    if problems:
        campaign.refresh_from_db()
        raise _invalid(problems)
    campaign.save()
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    """Delete a draft and its audience (a campaign that sent anything stays as the record)."""
    _require_draft(campaign, "deleted")
    campaign.delete()


# --- audience -------------------------------------------------------------------------------
@dataclass
class AudienceAdded:
    added: int = 0
    opted_out: int = 0
    already: int = 0  # on the campaign from an earlier import
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.problems)

    def summary(self) -> str:
        parts = [f"{self.added:,} recipients added"]
        if self.opted_out:
            parts.append(f"{self.opted_out:,} of them opted out (kept, will be skipped)")
        if self.already:
            parts.append(f"{self.already:,} already on the campaign")
        if self.problems:
            parts.append(f"{len(self.problems):,} rows not taken (see the report)")
        return "; ".join(parts) + "."


def _require_editable(campaign: Campaign) -> None:
    if campaign.is_final:
        raise TwilioFlowError(
            errors.VALIDATION_ERROR,
            f"The campaign is {campaign.get_status_display().lower()}; nothing can change.",
        )


def campaign_recipients_add(*, campaign: Campaign, audience: Audience) -> AudienceAdded:
    """Add parsed recipients (deduplicated against the campaign too). Opted-out contacts are
    added as `opted_out` with the consent event's reason, so the report and the export show
    them; the gate checks every recipient again when it is sent."""
    _require_editable(campaign)
    result = AudienceAdded(problems=list(audience.problems))
    existing = dict(
        CampaignRecipient.objects.filter(
            campaign=campaign, phone__in=[r.phone for r in audience.rows]
        ).values_list("phone", "source_row")
    )
    channel = "whatsapp" if campaign.channel == Channel.WHATSAPP else "sms"
    sender = campaign.sender.removeprefix(WHATSAPP)
    new = []
    for row in audience.rows:
        if row.phone in existing:
            result.already += 1
            result.problems.append(
                RowProblem(row.row, row.phone, "DUPLICATE", f"{row.phone} is already on this campaign.")
            )
            continue
        state, code, reason = RecipientState.PENDING, "", ""
        event = consent_state(
            workspace_id=campaign.workspace_id, contact=row.phone, channel=channel, senders=(sender,)
        )
        if event is not None and event.kind == "opt_out":
            state, code = RecipientState.OPTED_OUT, errors.OPTED_OUT
            reason = f"Opted out ({event.keyword or event.get_source_display()}, {event.at:%Y-%m-%d})."
            result.opted_out += 1
        new.append(
            CampaignRecipient(
                campaign=campaign,
                phone=row.phone,
                variables=row.variables,
                source_row=row.row,
                state=state,
                reason_code=code,
                reason=reason,
            )
        )
    with transaction.atomic():
        CampaignRecipient.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
        report = [p.as_dict() for p in result.problems]
        Campaign.objects.filter(pk=campaign.pk).update(import_report=report[:10_000], updated_at=clock.now())
    campaign.import_report = report[:10_000]
    result.added = len(new)
    return result


def campaign_audience_import_csv(
    *,
    campaign: Campaign,
    data: bytes | str,
    phone_column: str,
    variables: Mapping[str, str] | Iterable[str] | str = (),
) -> AudienceAdded:
    """A CSV upload with its column mapping; VALIDATION_ERROR when the file cannot be read."""
    audience = audience_from_csv(
        data,
        phone_column=phone_column,
        variables=variables,
        default_country=campaign.workspace.default_country,
    )
    _check_variables(campaign, set(audience.rows[0].variables) if audience.rows else None)
    return campaign_recipients_add(campaign=campaign, audience=audience)


def campaign_recipients_add_list(*, campaign: Campaign, items: Iterable[Any]) -> AudienceAdded:
    """The API's form: numbers, or {"phone": …, "variables": {…}} objects."""
    audience = audience_from_list(items, default_country=campaign.workspace.default_country)
    return campaign_recipients_add(campaign=campaign, audience=audience)


def _check_variables(campaign: Campaign, names: set[str] | None) -> None:
    """Every {{ variable }} the message uses must come from a mapped column (or be built in)."""
    if names is None or campaign.workflow_id:
        return
    sample = {name: "x" for name in names}
    try:
        _message_inputs(campaign, "+15005550006", sample)
    except TwilioFlowError as error:
        if error.code == "TEMPLATE_ERROR":
            raise TwilioFlowError(
                errors.VALIDATION_ERROR,
                f"{error.message} Map a column to it.",
                fields={"variable_columns": [error.message]},
            ) from None


# --- what one recipient is sent ---------------------------------------------------------------
def _template_context(campaign: Campaign, phone: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **variables,
        "vars": dict(variables),
        "phone": phone,
        "campaign": {"id": campaign.pk, "name": campaign.name},
        "workspace": {
            "time_zone": campaign.workspace.time_zone,
            "default_country": campaign.workspace.default_country,
        },
    }


def _message_inputs(campaign: Campaign, phone: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    context = _template_context(campaign, phone, variables)

    def render(value: Any, name: str) -> Any:
        return render_value(value, context, field=name, step="campaign")

    inputs: dict[str, Any] = {"From": campaign.sender, "To": phone}
    if campaign.body.strip():
        inputs["Body"] = render(campaign.body, "body")
    media = [line.strip() for line in campaign.media_url.splitlines() if line.strip()]
    if media:
        inputs["MediaUrl"] = [render(url, "media_url") for url in media]
    if campaign.channel == Channel.WHATSAPP:
        inputs["To"] = WHATSAPP + phone
        if campaign.content_sid:
            inputs["ContentSid"] = campaign.content_sid
            if campaign.content_variables:
                inputs["ContentVariables"] = render(campaign.content_variables, "content_variables")
    return inputs


def _action_slug(campaign: Campaign) -> str:
    return WHATSAPP_ACTION if campaign.channel == Channel.WHATSAPP else SMS_ACTION


@dataclass
class Prepared:
    run: Run | None = None
    state: str = ""
    code: str = ""
    reason: str = ""
    not_before: dt.datetime | None = None


def _prepare(
    campaign: Campaign, recipient: CampaignRecipient, now: dt.datetime, versions: GateVersions | None = None
) -> Prepared:
    """The recipient's unsaved run, or why it is not sent (now or yet). `versions`: the gate's
    versions the slice read at its last status check (the engine reads its own at send time)."""
    slug = _action_slug(campaign)
    action = action_get(slug)
    try:
        if campaign.workflow_id:
            to = WHATSAPP + recipient.phone if campaign.channel == Channel.WHATSAPP else recipient.phone
            check = {"From": campaign.sender, "To": to, "Body": "."}
            cleaned = action.validate(check, default_country=campaign.workspace.default_country)
        else:
            inputs = _message_inputs(campaign, recipient.phone, recipient.variables or {})
            cleaned = action.validate(inputs, default_country=campaign.workspace.default_country)
    except TwilioFlowError as error:
        return Prepared(state=RecipientState.SKIPPED, code=error.code, reason=error.message)
    decision = send_gate(
        workspace=campaign.workspace,
        connection=campaign.connection,
        action=action,
        inputs=cleaned,
        workflow_id=campaign.workflow_id,
        now=now,
        record=False,
        versions=versions,
    )
    if decision.verdict == REFUSE and decision.error is not None:
        opted = decision.error.code == errors.OPTED_OUT
        state = RecipientState.OPTED_OUT if opted else RecipientState.SKIPPED
        return Prepared(state=state, code=decision.error.code, reason=decision.error.message)
    if decision.verdict == WAIT:
        return Prepared(
            code=errors.QUIET_HOURS,
            reason=decision.error.message if decision.error else "Quiet hours.",
            not_before=decision.wait_until,
        )
    ledger_key = f"campaign:{campaign.pk}:{recipient.pk}"
    if campaign.workflow_id:
        run = run_build(
            workflow=campaign.workflow,
            source="campaign",
            payload={"To": cleaned["To"], "From": campaign.sender, "Campaign": str(campaign.pk)},
            variables=recipient.variables or {},
        )
    else:
        # The rendered request (gate defaults are added by the engine at send time).
        step = {
            "name": "send",
            "kind": "action",
            "action": slug,
            "connection_id": campaign.connection_id,
            "inputs": {k: v for k, v in inputs.items()},
            "literal": True,
            "withheld": [],
            "on_error": "fail",
            "max_retries": 3,
            "ledger_key": ledger_key,
        }
        run = run_build(
            adhoc_steps=[step],
            workspace_id=campaign.workspace_id,
            source="campaign",
            payload={"To": cleaned["To"], "From": campaign.sender, "Campaign": str(campaign.pk)},
        )
    # The executor holds it: the sweeper leaves a run enqueued this recently alone.
    run.enqueued_at = now
    return Prepared(run=run)


def _claim(recipient: CampaignRecipient, run: Run, now: dt.datetime) -> bool:
    """Create the run and take the recipient in one transaction (False: someone else took it)."""
    with transaction.atomic():
        insert_prepare(run).execute()  # Run: no save() override, no signals (as run_insert_prepare)
        taken = CampaignRecipient.objects.filter(pk=recipient.pk, state=RecipientState.PENDING).update(
            state=RecipientState.SENDING, run=run, claimed_at=now, reason_code="", reason="", updated_at=now
        )
        if not taken:
            transaction.set_rollback(True)
    return bool(taken)


def _mark(recipient_id: int, prepared: Prepared, now: dt.datetime) -> None:
    values: dict[str, Any] = {
        "reason_code": prepared.code,
        "reason": prepared.reason[:2000],
        "updated_at": now,
    }
    if prepared.state:
        values["state"] = prepared.state
    else:
        values["not_before"] = prepared.not_before
    CampaignRecipient.objects.filter(pk=recipient_id, state=RecipientState.PENDING).update(**values)


# --- settling a recipient from its run ------------------------------------------------------
FINAL_DELIVERY = {"delivered": RecipientState.DELIVERED, "read": RecipientState.DELIVERED}
FAILED_DELIVERY = {"undelivered", "failed"}


def recipient_settle(recipient_id: int, run: Run) -> str:
    """The recipient's state from its run, once the run is final; else it stays `sending`."""
    if run.status not in FINAL_RUN_STATUSES:
        return RecipientState.SENDING
    sent = (
        StepRun.objects.filter(run_id=run.pk)
        .exclude(twilio_sid="")
        .order_by("sequence", "attempt")
        .values_list("twilio_sid", "delivery_status", "delivery_error_code")
        .first()
    )
    state, values = _settled(run.status, run.error_code, run.error_message, sent)
    CampaignRecipient.objects.filter(pk=recipient_id, state=RecipientState.SENDING).update(
        state=state, **values
    )
    return state


def _settled(
    status: str, error_code: str, error_message: str, sent: tuple[str, str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """(state, fields) of a recipient whose run ended with `status`; `sent`: its first
    attempt with a SID (sid, delivery status, delivery error code), if any."""
    values: dict[str, Any] = {"updated_at": clock.now()}
    if status == RunStatus.SUCCEEDED:
        state = RecipientState.SENT
        if sent is not None:
            values["message_sid"] = sent[0]
            if sent[1] in FINAL_DELIVERY:
                state = FINAL_DELIVERY[sent[1]]
            elif sent[1] in FAILED_DELIVERY:
                state = RecipientState.FAILED
                values.update(reason_code=_delivery_code(sent[2]), reason=f"Twilio: {sent[1]}.")
    elif status == RunStatus.FAILED:
        opted = error_code == errors.OPTED_OUT
        state = RecipientState.OPTED_OUT if opted else RecipientState.FAILED
        values.update(reason_code=error_code[:40], reason=error_message[:2000])
        if sent is not None:
            values["message_sid"] = sent[0]
    else:
        state = RecipientState.SKIPPED
        values.update(reason_code="CANCELED", reason=error_message[:2000] or "The run was canceled.")
    return state, values


_OUTCOME_SQL = (
    "SELECT r.status, r.error_code, r.error_message, s.twilio_sid, s.delivery_status, "
    "s.delivery_error_code FROM {run} r LEFT JOIN {steprun} s ON s.id = (SELECT a.id FROM "
    "{steprun} a WHERE a.run_id = r.id AND a.twilio_sid <> '' ORDER BY a.sequence, a.attempt "
    "LIMIT 1) WHERE r.id = %s"
)


def _sql(template: str) -> str:
    quote = db.ops.quote_name
    return template.format(
        run=quote(Run._meta.db_table),
        steprun=quote(StepRun._meta.db_table),
        recipient=quote(CampaignRecipient._meta.db_table),
    )


def _run_outcome(run_id: int) -> tuple[str, str, str, tuple[str, str, Any] | None]:
    """(status, error code, error message, first attempt with a SID) of a run, in one query
    (what `recipient_settle` reads in two)."""
    with db.cursor() as cursor:
        cursor.execute(_sql(_OUTCOME_SQL), [run_id])
        status, code, message, sid, delivery, error = cursor.fetchone()
    return status, code, message, (sid, delivery or "", error) if sid else None


class SettleBatch:
    """Recipients whose run ended, settled together in one UPDATE instead of one each. A
    worker killed before the flush leaves them `sending` with a final run: the next slice's
    `_settle_in_flight` settles them from it, so nothing is lost or sent again. The UPDATE
    keeps the `state = sending` condition, so a delivery callback that moved a recipient
    meanwhile is never moved back."""

    COLUMNS = ("state", "message_sid", "reason_code", "reason", "updated_at")

    def __init__(self, size: int = 25) -> None:
        self.size = size
        self.rows: dict[int, dict[str, Any]] = {}

    def add(self, recipient_id: int, state: str, values: dict[str, Any]) -> None:
        if state == RecipientState.SENDING:
            return  # its run parked or is another worker's: `_settle_in_flight` settles it
        self.rows[recipient_id] = {**values, "state": state}
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, {}
        quote = db.ops.quote_name
        sets, params = [], []
        for column in self.COLUMNS:
            given = [(pk, row[column]) for pk, row in rows.items() if column in row]
            if not given:
                continue
            cases = " ".join("WHEN %s THEN %s" for _ in given)
            sets.append(f"{quote(column)} = CASE {quote('id')} {cases} ELSE {quote(column)} END")
            for pk, value in given:
                if column == "updated_at":
                    value = db.ops.adapt_datetimefield_value(value)
                params += [pk, value]
        ids = ", ".join("%s" for _ in rows)
        table = quote(CampaignRecipient._meta.db_table)
        where = f"{quote('id')} IN ({ids}) AND {quote('state')} = %s"
        sql = f"UPDATE {table} SET {', '.join(sets)} WHERE {where}"  # noqa: S608 (quoted identifiers; values are parameters)
        with db.cursor() as cursor:
            cursor.execute(sql, [*params, *rows, RecipientState.SENDING])


def _delivery_code(code: Any) -> str:
    return f"TWILIO_{code}" if code else "UNDELIVERED"


# The order delivery states move in; a late callback never moves a recipient back.
_DELIVERY_TARGET = {
    "sent": RecipientState.SENT,
    "delivered": RecipientState.DELIVERED,
    "read": RecipientState.DELIVERED,
    "undelivered": RecipientState.FAILED,
    "failed": RecipientState.FAILED,
}


def recipient_track_delivery(*, run_id: int, sid: str, status: str, error_code: Any = None) -> None:
    """A status callback for a message a campaign run sent (workflows' delivery listener)."""
    target = _DELIVERY_TARGET.get(status)
    if target is None:
        return
    before = [RecipientState.SENDING]
    if target != RecipientState.SENT:
        before.append(RecipientState.SENT)
    values: dict[str, Any] = {"state": target, "updated_at": clock.now()}
    if target == RecipientState.FAILED:
        values.update(reason_code=_delivery_code(error_code), reason=f"Twilio: {status}.")
    rows = CampaignRecipient.objects.filter(run_id=run_id, state__in=before)
    rows.update(message_sid=sid[:34], **values)


# --- lifecycle ------------------------------------------------------------------------------
def _set_status(campaign: Campaign, allowed: Iterable[str], status: str, **values: Any) -> bool:
    now = clock.now()
    changed = Campaign.objects.filter(pk=campaign.pk, status__in=list(allowed)).update(
        status=status, updated_at=now, **values
    )
    campaign.refresh_from_db()
    return bool(changed)


def campaign_start(*, campaign: Campaign, now: dt.datetime | None = None) -> Campaign:
    """Draft → scheduled (a future `start_at`) or running: the pace is fixed, the lanes are
    enqueued. Starting a running campaign again only re-enqueues lanes that are idle."""
    now = now or clock.now()
    if campaign.status == CampaignStatus.PAUSED:
        campaign_resume(campaign=campaign)
        return campaign
    if campaign.status in (CampaignStatus.RUNNING,):
        lanes_enqueue(campaign, now=now)
        return campaign
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        _require_editable(campaign)
    problems = campaign_problems(campaign)
    if problems:
        raise _invalid(problems)
    if not CampaignRecipient.objects.filter(campaign=campaign).exists():
        raise _invalid({"audience": "The campaign has no recipients yet: upload a CSV or add a list."})
    rate, source = _rate_for(campaign)
    if campaign.start_at and campaign.start_at > now:
        _set_status(campaign, [CampaignStatus.DRAFT], CampaignStatus.SCHEDULED, rate=rate, rate_source=source)
        return campaign
    _set_status(
        campaign,
        [CampaignStatus.DRAFT, CampaignStatus.SCHEDULED],
        CampaignStatus.RUNNING,
        rate=rate,
        rate_source=source,
        started_at=now,
        note="",
    )
    lanes_enqueue(campaign, now=now)
    return campaign


def _rate_for(campaign: Campaign) -> tuple[float, str]:
    client = None
    if campaign.sender.startswith("MG") and not campaign.mps:
        try:
            client = client_for_connection(campaign.connection)
        except TwilioFlowError:
            client = None
    return sender_rate(
        sender=campaign.sender.removeprefix(WHATSAPP)
        if campaign.channel != Channel.WHATSAPP
        else campaign.sender,
        override=float(campaign.mps) if campaign.mps else None,
        client=client,
    )


def campaign_pause(*, campaign: Campaign, note: str = "Paused by a user.") -> bool:
    """Stop taking new recipients; a send in flight finishes. Resume continues from there."""
    return _set_status(
        campaign, [CampaignStatus.RUNNING, CampaignStatus.SCHEDULED], CampaignStatus.PAUSED, note=note
    )


def campaign_resume(*, campaign: Campaign) -> bool:
    """Paused → running (or back to scheduled when it was paused before its start time)."""
    now = clock.now()
    if campaign.started_at is None and campaign.start_at and campaign.start_at > now:
        return _set_status(campaign, [CampaignStatus.PAUSED], CampaignStatus.SCHEDULED, note="")
    changed = _set_status(
        campaign,
        [CampaignStatus.PAUSED],
        CampaignStatus.RUNNING,
        note="",
        started_at=campaign.started_at or now,
    )
    if changed:
        lanes_enqueue(campaign, now=now)
    return changed


def campaign_cancel(*, campaign: Campaign, note: str = "Cancelled by a user.") -> bool:
    """No further sends. Recipients not yet sent are `skipped` (CANCELLED); a send in
    flight finishes and is recorded."""
    now = clock.now()
    with transaction.atomic():
        changed = _set_status(
            campaign,
            [CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED],
            CampaignStatus.CANCELLED,
            note=note,
            finished_at=now,
        )
        if changed:
            CampaignRecipient.objects.filter(campaign=campaign, state=RecipientState.PENDING).update(
                state=RecipientState.SKIPPED,
                reason_code="CANCELLED",
                reason="The campaign was cancelled before this recipient was sent.",
                updated_at=now,
            )
    return changed


# --- lanes: the django-q2 task chains -------------------------------------------------------
def lanes_enqueue(campaign: Campaign, *, now: dt.datetime | None = None, only_idle: bool = True) -> int:
    """Hand each idle lane of a running campaign to a worker (on commit)."""
    now = now or clock.now()
    # Lanes are only ever added (more workers after a pause): every `id % lanes` partition
    # keeps a lane, whatever the count was when a slice began.
    for number in range(campaign.workers):
        CampaignLane.objects.get_or_create(campaign=campaign, number=number)
    idle = CampaignLane.objects.filter(campaign=campaign).filter(_lease_free(now))
    if only_idle:
        idle = idle.filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - STALE_ENQUEUE))
    numbers = list(idle.values_list("number", flat=True))
    for number in numbers:
        _lane_enqueue(campaign.pk, number, now)
    return len(numbers)


def _lane_enqueue(campaign_id: int, number: int, now: dt.datetime) -> None:
    CampaignLane.objects.filter(campaign_id=campaign_id, number=number).update(enqueued_at=now, wake_at=None)

    def send() -> None:
        from django_q.tasks import async_task

        async_task(
            TASK,
            campaign_id,
            number,
            task_name=f"campaign-{campaign_id}-{number}-{uuid.uuid4().hex[:8]}",
            group="campaigns",
            broker=task_broker(),
        )

    transaction.on_commit(send)


def campaign_lane_run(campaign_id: int, number: int, *, budget: float = SLICE_SECONDS) -> str:
    """One slice of one lane (the task's body): lease the lane, advance, then hand over to
    the next slice, or sleep until the earliest deferred recipient, or stop."""
    owner = uuid.uuid4().hex
    now = clock.now()
    lease_until = now + dt.timedelta(seconds=budget + LEASE_MARGIN)
    leased = (
        CampaignLane.objects.filter(campaign_id=campaign_id, number=number)
        .filter(_lease_free(now))
        .update(lease_owner=owner, lease_expires_at=lease_until, enqueued_at=None)
    )
    if not leased:
        return "lane busy"
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    lanes = CampaignLane.objects.filter(campaign_id=campaign_id).count()
    outcome = "stopped"
    try:
        if campaign is not None:
            outcome = campaign_advance(campaign, lane=(number, lanes), budget=budget)
    finally:
        released = CampaignLane.objects.filter(campaign_id=campaign_id, number=number, lease_owner=owner)
        if outcome == "more":
            released.update(lease_owner="", lease_expires_at=None)
            _lane_enqueue(campaign_id, number, clock.now())
        else:
            wake = _next_wake(campaign_id) if outcome == "later" else None
            released.update(lease_owner="", lease_expires_at=None, wake_at=wake)
    return outcome


def _next_wake(campaign_id: int) -> dt.datetime:
    now = clock.now()
    soonest = CampaignRecipient.objects.filter(
        campaign_id=campaign_id, state=RecipientState.PENDING, not_before__isnull=False
    ).aggregate(at=Min("not_before"))["at"]
    retry = now + dt.timedelta(seconds=30)
    return min(soonest, retry) if soonest else retry


class _Held:
    """What a slice holds between status checks (every STATUS_CHECK_SECONDS): the campaign
    with its workspace and connection, re-read when one of their `updated_at` moves, and the
    send gate's versions for the pre-check (the engine reads its own at send time). Lent to
    the engine, so a recipient's one-step run reads neither again."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.stamps: tuple[Any, ...] = ()
        self.versions: GateVersions | None = None
        self.checked = 0.0

    def check(self) -> bool:
        """False when the campaign stopped running (paused, cancelled, gone)."""
        self.checked = time.monotonic()
        row = (
            Campaign.objects.filter(pk=self.campaign.pk)
            .values_list("status", "updated_at", "workspace__updated_at", "connection__updated_at")
            .first()
        )
        if row is None or row[0] != CampaignStatus.RUNNING:
            return False
        if row[1:] != self.stamps:
            self.campaign = Campaign.objects.select_related("workspace", "connection").get(
                pk=self.campaign.pk
            )
            self.campaign.connection.workspace = self.campaign.workspace
            self.stamps = row[1:]
        self.versions = versions_read(self.campaign.workspace_id)
        return True

    def due(self) -> bool:
        return time.monotonic() - self.checked >= STATUS_CHECK_SECONDS


def campaign_advance(
    campaign: Campaign,
    *,
    lane: tuple[int, int] | None = None,
    budget: float = SLICE_SECONDS,
    limit: int | None = None,
) -> str:
    """Send to due recipients for up to `budget` seconds (or `limit` recipients).

    `lane` = (number, of): this lane takes recipients whose id % of == number, so parallel
    lanes never contend for the same rows; None takes any (the command's inline mode).
    Returns "more" (work remains now), "later" (only deferred or in-flight recipients
    remain), "done" (completed) or "stopped" (paused, cancelled, not running)."""
    started = time.monotonic()
    deadline = started + budget
    held = _Held(campaign)
    if not held.check():
        campaign.refresh_from_db()
        return "stopped"
    _settle_in_flight(held.campaign, lane)
    settle = SettleBatch()
    try:
        with adhoc_lent(held.campaign.workspace, [held.campaign.connection]):
            outcome = _advance(held, lane, deadline, limit, settle)
    finally:
        settle.flush()
    campaign.refresh_from_db()
    return outcome or _finish_if_done(campaign)


def _advance(
    held: _Held, lane: tuple[int, int] | None, deadline: float, limit: int | None, settle: SettleBatch
) -> str:
    """The slice's loop; "" when no due recipient is left."""
    campaign = held.campaign
    rate = campaign.rate or 1.0
    slots = SlotBook(bucket_key(connection_id=campaign.connection_id, sender=campaign.sender), rate)
    done = 0
    while True:
        due = CampaignRecipient.objects.filter(campaign=campaign, state=RecipientState.PENDING).filter(
            _due(clock.now())
        )
        chunk = list(_in_lane(due, lane).order_by("id")[:CHUNK])
        if not chunk:
            return ""
        for recipient in chunk:
            if time.monotonic() >= deadline or (limit is not None and done >= limit):
                return "more"
            if held.due():
                settle.flush()
                if not held.check():
                    return "stopped"
                campaign = held.campaign
            now = clock.now()
            prepared = _prepare(campaign, recipient, now, held.versions)
            if prepared.run is None:
                _mark(recipient.pk, prepared, now)
                continue
            if not slots.take(deadline):
                return "more"
            if not _claim(recipient, prepared.run, clock.now()):
                continue
            settle.add(recipient.pk, *_execute(prepared.run.pk))
            done += 1


def _execute(run_id: int) -> tuple[str, dict[str, Any]]:
    """Execute a recipient's run here (as `run_execute_inline`, reading the run's outcome in
    one query); (state, fields) for the recipient. A run that parked or was taken by another
    worker leaves it `sending`, for `_settle_in_flight`."""
    for _ in range(100):
        passed = run_execute(run_id)
        status, code, message, sent = _run_outcome(run_id)
        if status in FINAL_RUN_STATUSES:
            return _settled(status, code, message, sent)
        if status == RunStatus.WAITING or passed == "not claimed":
            break
    return RecipientState.SENDING, {}


def _in_lane(rows: QuerySet, lane: tuple[int, int] | None) -> QuerySet:
    if lane is None or lane[1] <= 1:
        return rows
    return rows.annotate(lane_of=Mod("id", lane[1])).filter(lane_of=lane[0])


class SlotBook:
    """This lane's booked send slots of the sender's shared schedule. At high rates it books
    a few at once (about 50 ms' worth, one statement instead of one per send); a slot it
    does not use is lost, never reused by anyone, so the pace can only fall short, not
    exceed the rate."""

    BATCH_SECONDS = 0.05
    MAX_BATCH = 10

    def __init__(self, key: str, rate: float) -> None:
        self.key, self.rate = key, rate
        self.batch = max(1, min(self.MAX_BATCH, int(rate * self.BATCH_SECONDS)))
        self.booked: list[float] = []  # monotonic times of the slots booked, soonest first

    def take(self, deadline: float) -> bool:
        """Sleep until this process holds one of the sender's slots; False if the slice ends first."""
        while not self.booked:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            slot = slot_reserve(self.key, self.rate, horizon=min(5.0, left), count=self.batch)
            if slot.granted:
                first = time.monotonic() + slot.wait
                self.booked = [first + i / self.rate for i in range(slot.count)]
                break
            clock.sleep(min(max(slot.wait, 0.01), left, 1.0))
        at = self.booked.pop(0)
        wait = at - time.monotonic()
        if wait > 0:
            clock.sleep(wait)
        return True


def _settle_in_flight(campaign: Campaign, lane: tuple[int, int] | None) -> None:
    """Recipients left `sending` (a worker died, a run parked): settle those whose run ended;
    resume those whose run is stranded (its worker's lease lapsed, or it was never picked
    up), which reconciles a request that was in flight instead of sending it again."""
    now = clock.now()
    sending = CampaignRecipient.objects.filter(campaign=campaign, state=RecipientState.SENDING)
    for recipient_id, run_id in _in_lane(sending, lane).values_list("pk", "run_id"):
        if run_id is None:  # cannot happen (one transaction); never leave it unexplained
            CampaignRecipient.objects.filter(pk=recipient_id, state=RecipientState.SENDING).update(
                state=RecipientState.PENDING, claimed_at=None
            )
            continue
        run = Run.objects.filter(pk=run_id).first()
        if run is None:
            continue
        stranded = (
            run.status == RunStatus.RUNNING and (run.lease_expires_at is None or run.lease_expires_at < now)
        ) or (
            run.status == RunStatus.PENDING
            and (run.enqueued_at is None or run.enqueued_at < now - dt.timedelta(seconds=LEASE_MARGIN))
        )
        if stranded:
            Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING, lease_expires_at__lt=now).update(
                lease_owner=""
            )
            run = run_execute_inline(run.pk)
        recipient_settle(recipient_id, run)


def _finish_if_done(campaign: Campaign) -> str:
    remaining = CampaignRecipient.objects.filter(
        campaign=campaign, state__in=[RecipientState.PENDING, RecipientState.SENDING]
    )
    if remaining.exists():
        now = clock.now()
        if remaining.filter(state=RecipientState.PENDING).filter(_due(now)).exists():
            return "more"
        return "later"
    if _set_status(campaign, [CampaignStatus.RUNNING], CampaignStatus.COMPLETED, finished_at=clock.now()):
        return "done"
    return "stopped"


# --- the minute tick -------------------------------------------------------------------------
def campaigns_tick(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Start scheduled campaigns that are due; hand lanes of running campaigns that lost
    their worker (a lapsed lease, a lost task) or whose deferred recipients are due back to
    a worker. Idempotent; django-q2 runs it every minute."""
    now = now or clock.now()
    started = 0
    for campaign in Campaign.objects.filter(status=CampaignStatus.SCHEDULED, start_at__lte=now):
        try:
            campaign_start(campaign=campaign, now=now)
        except TwilioFlowError as error:  # e.g. its audience was emptied: say so, and wait
            campaign_pause(campaign=campaign, note=f"Not started: {error.message}")
            continue
        started += 1
    revived = 0
    lanes = (
        CampaignLane.objects.filter(campaign__status=CampaignStatus.RUNNING)
        .filter(_lease_free(now))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - STALE_ENQUEUE))
        .filter(Q(wake_at__isnull=True) | Q(wake_at__lte=now))
    )
    for campaign_id, number in lanes.values_list("campaign_id", "number"):
        _lane_enqueue(campaign_id, number, now)
        revived += 1
    return {"started": started, "lanes": revived}


def tick_schedule_ensure() -> None:
    """The django-q2 schedule that runs `campaigns_tick` every minute (created on migrate)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="twilioflow: campaigns tick",
        defaults={
            "func": "campaigns.tasks.campaigns_tick_task",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )


# --- export ---------------------------------------------------------------------------------
# (export column, recipient field)
EXPORT_FIELDS = [
    ("row", "source_row"),
    ("phone", "phone"),
    ("state", "state"),
    ("reason_code", "reason_code"),
    ("reason", "reason"),
    ("message_sid", "message_sid"),
    ("run_id", "run_id"),
    ("updated_at", "updated_at"),
]
EXPORT_COLUMNS = [column for column, _ in EXPORT_FIELDS]


def campaign_results_write(campaign: Campaign, out: IO[str]) -> int:
    """Every recipient's result, then every row the import did not take, as CSV."""
    names = sorted(
        {
            key
            for variables in campaign.recipients.values_list("variables", flat=True)[:1000]
            for key in variables or {}
        }
    )
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS + names)
    count = 0
    rows = campaign.recipients.order_by("id").values_list(*[f for _, f in EXPORT_FIELDS], "variables")
    for row, phone, state, code, reason, sid, run_id, updated, variables in rows.iterator(chunk_size=2000):
        fields = [row, phone, state, code, reason, sid, run_id, updated.isoformat() if updated else ""]
        writer.writerow([_cell(v) for v in fields] + [_cell((variables or {}).get(n, "")) for n in names])
        count += 1
    for problem in campaign.import_report or []:
        writer.writerow(
            [
                problem.get("row"),
                problem.get("phone"),
                "not_imported",
                problem.get("code"),
                problem.get("message"),
                "",
                "",
                "",
            ]
            + [""] * len(names)
        )
        count += 1
    return count


def _cell(value: Any) -> Any:
    """Spreadsheet-safe: a value starting with = + - @ is not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not value[1:2].isdigit():
        return "'" + value
    return "" if value is None else value
